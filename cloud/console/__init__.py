"""Live fan-out to browsers: the WebSocket hub behind the service desk console and ticket pages."""
