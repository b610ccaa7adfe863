"""The agent for Prometheus: its outbox, its uplink and each device's state, from the status snapshot.

The agent already builds a snapshot every `agent.status_interval_s` (edge/runtime.py) for `medfix edge status`;
a scrape reads the newest one, so it never touches the outbox's SQLite from the HTTP thread and costs nothing
between scrapes. Served on `agent.metrics_host:agent.metrics_port` (loopback by default) when a port is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# The states a device can be in (edge/devices.py, edge/runtime.py); each is a 0/1 series so a dashboard can count
# devices per state and an alert rule can ask for "unavailable for 10 minutes".
DEVICE_STATES = ("starting", "running", "online", "unavailable", "restarting", "disabled", "stopped")
UPLINK_STATES = ("starting", "idle", "sending", "backoff", "rejected", "stopped")


class SnapshotCollector(Collector):
    """Metric families from the agent's newest status snapshot (nothing until the first one exists)."""

    def __init__(self, snapshot: Callable[[], Mapping[str, Any] | None]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot()
        if not snap:
            return
        gateway = str(snap.get("gateway_id") or "")
        yield _gauge("medfix_edge_status_age_seconds", "Age of the status snapshot the numbers come from.",
                     gateway, max(0.0, time.time() - float(snap.get("written_at") or 0)))
        yield from _outbox(gateway, snap.get("outbox") or {})
        yield from _uplink(gateway, snap.get("uplink") or {})
        yield from _devices(gateway, snap.get("devices") or [])


def _gauge(name: str, help_text: str, gateway: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=["gateway"])
    family.add_metric([gateway], value)
    return family


def _counter(name: str, help_text: str, gateway: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_text, labels=["gateway"])
    family.add_metric([gateway], value)
    return family


def _outbox(gateway: str, stats: Mapping[str, Any]) -> Iterable[Metric]:
    if not stats:
        return
    rows = GaugeMetricFamily("medfix_edge_outbox_rows", "Items waiting in the outbox, by retention class.",
                             labels=["gateway", "class"])
    rows.add_metric([gateway, "clinical"], stats.get("clinical_rows", 0))
    rows.add_metric([gateway, "telemetry"], stats.get("telemetry_rows", 0))
    yield rows
    yield _gauge("medfix_edge_outbox_pending_batches", "Sealed batches waiting to be sent or acknowledged.",
                 gateway, stats.get("pending_batches", 0))
    oldest = stats.get("oldest_unsent_age_s")
    yield _gauge("medfix_edge_outbox_oldest_unsent_seconds", "Age of the oldest item not yet acknowledged by the "
                 "cloud (0 when everything is delivered).", gateway, float(oldest or 0.0))
    yield _gauge("medfix_edge_outbox_file_bytes", "Size of the outbox database on disk.", gateway,
                 stats.get("file_bytes", 0))
    yield _counter("medfix_edge_outbox_telemetry_dropped", "Telemetry readings dropped because the outbox was "
                   "full (clinical results are never dropped).", gateway, stats.get("telemetry_dropped_total", 0))
    yield _counter("medfix_edge_outbox_clinical_rejected", "Clinical results refused because the outbox was full.",
                   gateway, stats.get("clinical_rejected_total", 0))
    yield _counter("medfix_edge_outbox_acked_batches", "Batches the cloud acknowledged.", gateway,
                   stats.get("acked_batches_total", 0))


def _uplink(gateway: str, status: Mapping[str, Any]) -> Iterable[Metric]:
    if not status:
        return
    state = GaugeMetricFamily("medfix_edge_uplink_state", "The uplink's state (1 for the current one).",
                              labels=["gateway", "transport", "state"])
    current = str(status.get("state") or "")
    for name in sorted({*UPLINK_STATES, current} - {""}):
        state.add_metric([gateway, str(status.get("transport") or ""), name], 1.0 if name == current else 0.0)
    yield state
    yield _gauge("medfix_edge_uplink_consecutive_failures", "Sends that failed in a row (0 once one succeeds).",
                 gateway, status.get("consecutive_failures", 0))
    last_ack = status.get("last_ack_at")
    if last_ack:
        yield _gauge("medfix_edge_uplink_last_ack_timestamp_seconds", "When the cloud last acknowledged a batch.",
                     gateway, float(last_ack))


def _devices(gateway: str, devices: Iterable[Mapping[str, Any]]) -> Iterable[Metric]:
    state = GaugeMetricFamily("medfix_edge_device_state", "Each device's state (1 for the current one).",
                              labels=["gateway", "device", "kind", "state"])
    age = GaugeMetricFamily("medfix_edge_device_last_data_age_seconds", "Time since the device last gave data.",
                            labels=["gateway", "device"])
    restarts = CounterMetricFamily("medfix_edge_device_restarts", "Times the device's driver was restarted.",
                                   labels=["gateway", "device"])
    errors = CounterMetricFamily("medfix_edge_device_errors", "Errors the device's driver met.",
                                 labels=["gateway", "device"])
    for device in devices:
        key, current = str(device.get("key")), str(device.get("state") or "")
        for name in sorted({*DEVICE_STATES, current} - {""}):
            state.add_metric([gateway, key, str(device.get("kind") or ""), name], 1.0 if name == current else 0.0)
        if device.get("last_data_age_s") is not None:
            age.add_metric([gateway, key], float(device["last_data_age_s"]))
        restarts.add_metric([gateway, key], float(device.get("restarts") or 0))
        errors.add_metric([gateway, key], float(device.get("errors") or 0))
    yield from (state, age, restarts, errors)


def registry_for(snapshot: Callable[[], Mapping[str, Any] | None]) -> CollectorRegistry:
    """A registry holding only the agent's numbers (no process-wide defaults shared with other agents in tests)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    ProcessCollector(registry=registry)  # the agent's CPU, memory and open files
    return registry
