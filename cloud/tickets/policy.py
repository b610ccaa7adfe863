"""Priority, SLA and routing rules: how urgent a ticket is, when it is due, and where the desk sends it first."""

from __future__ import annotations

from datetime import datetime, timedelta

from cloud.config import Settings
from cloud.tickets.models import Urgency

URGENCY_PRIORITY = {Urgency.critical: 1, Urgency.high: 2, Urgency.normal: 3, Urgency.low: 4}
# A stopped analyzer of these kinds halts a lab's main workload, so its tickets move up one level.
THROUGHPUT_CRITICAL = frozenset({"automation", "chemistry", "immunoassay", "hematology", "blood_gas"})
# Routing by the basic/advanced predictor's estimate (cloud/profiles/predictor.py, docs/maintenance-score.md):
# at or above ONSITE_DISPATCH send an engineer first, below ONSITE_REMOTE answer remotely first.
ONSITE_DISPATCH = 0.7
ONSITE_REMOTE = 0.3
# A predictive ticket of a device this likely to fail within 30 days (device.risk_30d, kept by cloud/profiles) is
# one priority level more urgent.
PRIORITY_RISK = 0.6


def priority_for(urgency: Urgency, category: str | None, *, whole_group: bool = False) -> int:
    """1 (most urgent) to 4, from the reporter's urgency and what kind of device is down."""
    priority = URGENCY_PRIORITY[urgency]
    if category in THROUGHPUT_CRITICAL or whole_group:
        priority -= 1
    return max(1, priority)


def predictive_priority(priority: int, risk: float | None) -> int:
    """A predictive ticket's priority, one level more urgent when the device is likely to fail soon."""
    if risk is not None and risk >= PRIORITY_RISK:
        return max(1, priority - 1)
    return priority


def onsite_route(probability: float | None) -> str | None:
    """'dispatch' (send an engineer first), 'remote' (answer remotely first) or None (the desk decides)."""
    if probability is None:
        return None
    if probability >= ONSITE_DISPATCH:
        return "dispatch"
    if probability < ONSITE_REMOTE:
        return "remote"
    return None


def due_times(priority: int, created_at: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """(first response due, resolution due) for a ticket created at created_at."""
    first = settings.sla_first_response_minutes.get(priority, 60)
    resolution = settings.sla_resolution_hours.get(priority, 24)
    return created_at + timedelta(minutes=first), created_at + timedelta(hours=resolution)
