"""Analyzer simulators used by tests, the demo and `medfix edge simulate`."""
