"""Instrument context: what an analyzer reports about itself, read so its streams are judged right (issue #14
item 2).

Two sources, both stored by the ingest in the same transaction as the readings they explain, so the scorer (which
runs after that commit) always sees them:

- events (device_event, from ASTM/LIS messages and the edge drivers): `maintenance` with payload state start/end,
  `calibration` and `reagent` (a lot or pack change), `qc`, `error_code`;
- status points polled over Modbus or OPC UA, stored as readings: `maintenance_mode` and `calibrating` (on while
  the analyzer is not measuring samples), `reagent_lot` / `reagent_r1_lot` / `reagent_r2_lot` (text, a change of
  value is a lot change).

What the scorer does with them (cloud/alerts/scoring.py): readings inside a maintenance or calibration span are
neither alerted nor learnt; the first reading after a span, a passed calibration or a reagent change takes the
level it finds as the new normal (a zero-length span marks the instant). A failed QC or calibration and a burst
of error codes are signals of their own (cloud/alerts/signals.py). Status points are read from the SQL reading
table; where readings live in InfluxDB, analyzers' maintenance and calibration reach medfix as events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.telemetry.models import DeviceEvent, Reading
from protocols.telemetry import EventKind

Span = tuple[datetime, datetime]

# A maintenance start with no end yet silences this long (an analyzer left in maintenance mode overnight wakes up
# with its first sample run; a forgotten end must not silence it for ever). Also how far back starts are looked for.
OPEN_MAINTENANCE = timedelta(hours=12)
# A status point that was last seen on: the span runs this long past it (the next poll says whether it still is).
STATUS_GRACE = timedelta(minutes=15)
MODE_METRICS = ("maintenance_mode", "calibrating")
LOT_METRICS = ("reagent_lot", "reagent_r1_lot", "reagent_r2_lot")
CONTEXT_EVENTS = (EventKind.MAINTENANCE.value, EventKind.CALIBRATION.value, EventKind.REAGENT.value)


def _event_spans(session: Session, device_ids: set[int], start: datetime, end: datetime) -> dict[int, list[Span]]:
    found: dict[int, list[Span]] = {}
    opened: dict[int, datetime] = {}
    rows = session.execute(select(DeviceEvent.device_id, DeviceEvent.occurred_at, DeviceEvent.kind,
                                  DeviceEvent.payload).where(
        DeviceEvent.device_id.in_(device_ids), DeviceEvent.kind.in_(CONTEXT_EVENTS),
        DeviceEvent.occurred_at >= start - OPEN_MAINTENANCE, DeviceEvent.occurred_at <= end)
        .order_by(DeviceEvent.occurred_at, DeviceEvent.id))
    for device_id, at, kind, payload in rows:
        spans = found.setdefault(device_id, [])
        data = payload or {}
        if kind == EventKind.MAINTENANCE.value:
            if data.get("state") == "end":
                began = opened.pop(device_id, None)
                spans.append((began if began is not None else at, at))
            else:
                opened.setdefault(device_id, at)
        elif kind == EventKind.CALIBRATION.value:
            if data.get("passed", True):  # a failed calibration changed nothing: it is a signal instead
                spans.append((at, at))
        else:  # a reagent change
            spans.append((at, at))
    for device_id, began in opened.items():
        found[device_id].append((began, began + OPEN_MAINTENANCE))
    return found


def _status_spans(session: Session, device_ids: set[int], start: datetime, end: datetime,
                  found: dict[int, list[Span]]) -> None:
    rows = session.execute(select(Reading.device_id, Reading.metric, Reading.observed_at, Reading.value_num,
                                  Reading.value_text).where(
        Reading.device_id.in_(device_ids), Reading.metric.in_(MODE_METRICS + LOT_METRICS),
        Reading.observed_at >= start - OPEN_MAINTENANCE, Reading.observed_at <= end)
        .order_by(Reading.device_id, Reading.metric, Reading.observed_at))
    on: dict[tuple[int, str], tuple[datetime, datetime]] = {}  # (first, last) reading of a run of "on"
    lots: dict[tuple[int, str], str] = {}
    for device_id, metric, at, number, text in rows:
        key = (device_id, metric)
        if metric in LOT_METRICS:
            value = (text if text is not None else "" if number is None else f"{number:g}").strip()
            before = lots.get(key)
            if before is not None and value and value != before:
                found.setdefault(device_id, []).append((at, at))
            if value:
                lots[key] = value
            continue
        running = on.get(key)
        if number:  # on
            on[key] = (running[0] if running else at, at)
        elif running is not None:  # the first "off" ends the span
            found.setdefault(device_id, []).append((running[0], at))
            del on[key]
    for (device_id, _metric), (first, last) in on.items():
        found.setdefault(device_id, []).append((first, last + STATUS_GRACE))


def instrument_spans(session: Session, *, device_ids: Iterable[int], start: datetime, end: datetime,
                     ) -> dict[int, list[Span]]:
    """Per device, the spans [s, e) its analyzer was in maintenance or calibrating, and the instants (s == e) its
    level may step (a passed calibration, a reagent change), that touch [start, end]."""
    ids = set(device_ids)
    if not ids:
        return {}
    found = _event_spans(session, ids, start, end)
    _status_spans(session, ids, start, end, found)
    return {d: sorted(s for s in spans if s[1] >= start) for d, spans in found.items() if spans}
