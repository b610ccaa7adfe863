"""Analyzer simulators served over real transports, for tests, the demo and `medfix edge simulate`."""
