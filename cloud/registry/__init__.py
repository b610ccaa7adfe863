"""Hospitals, departments, devices and device groups."""
