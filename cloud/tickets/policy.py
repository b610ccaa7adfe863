"""Priority and SLA rules: how urgent a ticket is and when it is due."""

from __future__ import annotations

from datetime import datetime, timedelta

from cloud.config import Settings
from cloud.tickets.models import Urgency

URGENCY_PRIORITY = {Urgency.critical: 1, Urgency.high: 2, Urgency.normal: 3, Urgency.low: 4}
# A stopped analyzer of these kinds halts a lab's main workload, so its tickets move up one level.
THROUGHPUT_CRITICAL = frozenset({"automation", "chemistry", "immunoassay", "hematology", "blood_gas"})


def priority_for(urgency: Urgency, category: str | None, *, whole_group: bool = False) -> int:
    """1 (most urgent) to 4, from the reporter's urgency and what kind of device is down."""
    priority = URGENCY_PRIORITY[urgency]
    if category in THROUGHPUT_CRITICAL or whole_group:
        priority -= 1
    return max(1, priority)


def due_times(priority: int, created_at: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """(first response due, resolution due) for a ticket created at created_at."""
    first = settings.sla_first_response_minutes.get(priority, 60)
    resolution = settings.sla_resolution_hours.get(priority, 24)
    return created_at + timedelta(minutes=first), created_at + timedelta(hours=resolution)
