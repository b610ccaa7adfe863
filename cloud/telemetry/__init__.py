"""Telemetry: gateways, the ingest of edge batches (HTTP and MQTT), the time-series store and device events."""
