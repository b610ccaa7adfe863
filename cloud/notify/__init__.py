"""Notifications: one Channel interface, message texts in one module, every delivery recorded."""
