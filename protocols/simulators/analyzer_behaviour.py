"""How a chemistry analyzer's run data behaves over weeks, one reading a minute, with labelled faults (pure, seeded).

`scenario()` draws a fleet's schedule: which fault hits which device when, and the benign changes around it (the
lab's daily rhythm, the morning calibration, reagent lot changes, planned maintenance). `device_series()` turns
one device of a scenario into its streams, one value per minute per metric. Both are pure functions of their
arguments: the same seed gives the same schedule and the same numbers on every machine (``random.Random``
seeded with a string hashes it with SHA-512, not with Python's salted ``hash``).

The metrics carry the names and units the edge simulators (edge/simulate/modbus.py) and the cloud already use;
a unit the cloud knows as a physical quantity makes its scorer rule out the "counter" stream kind
(cloud/alerts/streams.py, MEASURED_UNITS), which is what a real gateway's register map would say.

A demo (cloud/demo_history.py) places its faults itself instead: ``scenario(faults=[PlacedFault(...)],
routine=False)`` gives exactly those faults, and no planned maintenance or reagent lot change, only the daily rhythm
and calibration.

Times: the lab works in its local time (``utc_offset_h``, Asia/Shanghai by default, no daylight saving): day shift
08:00-17:00 on weekdays, a half day on Saturday, a trickle of emergency samples at night and on Sunday.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

METRIC_UNITS: Final[dict[str, str | None]] = {
    "reaction_disk_temp": "°C",  # reaction bath, regulated at 37.0
    "lamp_intensity": "%",  # photometer lamp output
    "sample_probe_pressure": "kPa",  # mean aspiration pressure of the sample probe over the minute
    "ise_na_mv": "mV",  # Na electrode potential on the internal standard
    "vacuum": "kPa",  # waste / wash vacuum pump
    "error_count": "count",  # error codes raised in the minute
    "test_count": None,  # tests run since installation (one-way counter, as the analyzer's register reports it)
}

FAULT_KINDS: Final = ("heater_drift", "lamp_decline", "lamp_drop", "probe_clog", "electrode_failure",
                      "error_burst", "pump_fault", "counter_stall")
FAULT_METRICS: Final[dict[str, tuple[str, ...]]] = {
    "heater_drift": ("reaction_disk_temp",),
    "lamp_decline": ("lamp_intensity",),
    "lamp_drop": ("lamp_intensity",),
    "probe_clog": ("sample_probe_pressure",),
    "electrode_failure": ("ise_na_mv",),
    "error_burst": ("error_count",),
    "pump_fault": ("vacuum",),
    # A jammed sample handler: no tests run, so the counter stops rising and the probe aspirates nothing.
    "counter_stall": ("test_count", "sample_probe_pressure"),
}
# Fault durations in minutes (low, high): a drift builds over hours, a burst lasts minutes, a clog a shift or two.
FAULT_MINUTES: Final[dict[str, tuple[int, int]]] = {
    "heater_drift": (240, 600), "lamp_decline": (360, 720), "lamp_drop": (240, 720),
    "probe_clog": (1440, 2160), "electrode_failure": (360, 1080), "error_burst": (15, 60), "pump_fault": (180, 480),
    "counter_stall": (60, 180),
}
# How bad each fault gets at its worst (low, high), in its metric's unit.
FAULT_SIZES: Final[dict[str, tuple[float, float]]] = {
    "heater_drift": (0.4, 1.0),  # °C above the setpoint at the end
    "lamp_decline": (3.0, 6.0),  # % of output lost over the window
    "lamp_drop": (5.0, 12.0),  # % lost at once
    "probe_clog": (8.0, 15.0),  # kPa extra at full aspiration duty
    "electrode_failure": (3.0, 6.0),  # mV the potential sinks
    "error_burst": (1.0, 3.0),  # errors per minute
    "pump_fault": (5.0, 12.0),  # kPa of vacuum lost
    "counter_stall": (0.9, 1.0),  # fraction of the tests that no longer run
}
BENIGN_KINDS: Final = ("daily_rhythm", "daily_calibration", "reagent_lot_change", "planned_maintenance")

CALIBRATION_HOUR: Final = 6  # local; the ISE reads its calibrant for CALIBRATION_MINUTES
CALIBRATION_MINUTES: Final = 15
SHIFT: Final = (8.0, 17.0)  # weekday day shift, local hours
SATURDAY_SHIFT: Final = (8.0, 12.0)
RECOVERY_GAP: Final = 720  # minutes kept free of other scheduled changes after a fault ends


@dataclass(frozen=True)
class FaultWindow:
    """An injected fault: from start (its first abnormal reading) until end (repaired, readings normal again)."""

    device_key: str
    kind: str
    metrics: tuple[str, ...]
    start: datetime
    end: datetime
    magnitude: float  # the fault's size in the metric's unit at its worst (drift, drop, rate ...)


@dataclass(frozen=True)
class PlacedFault:
    """A fault put where the caller wants it (instead of drawn): which device (index), what, when (UTC), how long."""

    device: int
    kind: str
    start: datetime
    minutes: int
    magnitude: float


@dataclass(frozen=True)
class BenignEvent:
    """A normal change: instantaneous (start == end) or a span; declared ones are planned with the cloud."""

    device_key: str
    kind: str
    start: datetime
    end: datetime
    declared: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Scenario:
    """A fleet's schedule: devices, minutes from start, and the labels."""

    seed: int
    start: datetime  # UTC, a local midnight
    minutes: int
    devices: tuple[str, ...]
    faults: tuple[FaultWindow, ...]
    benign: tuple[BenignEvent, ...]
    utc_offset_h: float = 8.0
    warm_minutes: int = 2 * 1440  # no scheduled change before this: the detectors learn first
    faults_per_device: int = 3
    placed: tuple[PlacedFault, ...] = ()  # faults the caller placed (none drawn then, unless asked for)
    routine: bool = True  # False: no planned maintenance and no reagent lot change

    def at(self, minute: int) -> datetime:
        """The UTC time of a minute index."""
        return self.start + timedelta(minutes=minute)

    def index(self, moment: datetime) -> int:
        """The minute index of a time."""
        return int((moment - self.start).total_seconds() // 60)


@dataclass
class _Plan:
    """One device's schedule as minute indices (what device_series needs)."""

    faults: list[tuple[str, int, int, float]] = field(default_factory=list)  # kind, start, end, magnitude
    maintenance: list[tuple[int, int, bool]] = field(default_factory=list)  # start, end, lamp replaced
    lot_changes: list[tuple[int, float]] = field(default_factory=list)  # minute, mV step


def local_midnight(moment: datetime, utc_offset_h: float = 8.0) -> datetime:
    """The lab's last local midnight at or before moment, as a UTC datetime."""
    tz = timezone(timedelta(hours=utc_offset_h))
    local = moment.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)


def week_start(moment: datetime, utc_offset_h: float = 8.0) -> datetime:
    """The lab's local Monday midnight at or before moment, as a UTC datetime."""
    midnight = local_midnight(moment, utc_offset_h)
    return midnight - timedelta(days=midnight.astimezone(timezone(timedelta(hours=utc_offset_h))).weekday())


def workload(local: datetime) -> float:
    """How busy the lab is at a local time (1 = full day shift), ramping over half an hour at the shift's edges."""
    hour = local.hour + local.minute / 60
    day = local.weekday()
    if day < 5:
        start, end, peak = SHIFT[0], SHIFT[1], 1.0
    elif day == 5:
        start, end, peak = SATURDAY_SHIFT[0], SATURDAY_SHIFT[1], 0.5
    else:
        return 0.05
    ramp = min(1.0, max(0.0, (hour - start) / 0.5), max(0.0, (end - hour) / 0.5))
    return 0.05 + (peak - 0.05) * ramp


def poisson(rng: random.Random, rate: float) -> int:
    """A Poisson draw (Knuth's method: fine for the small rates of errors and tests per minute)."""
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def scenario(seed: int, *, devices: int = 6, days: int = 14, start: datetime | None = None,
             faults_per_device: int | None = None, utc_offset_h: float = 8.0, faults: Sequence[PlacedFault] = (),
             routine: bool = True) -> Scenario:
    """Draw the fleet's schedule: faults (kinds rotate over devices and seeds), maintenance, lot changes, rhythm.

    With `faults`, those are the faults (plus `faults_per_device` drawn ones per device, if given); with
    `routine=False`, no planned maintenance and no reagent lot change are drawn.
    """
    base = local_midnight(start or datetime(2026, 1, 5, tzinfo=UTC), utc_offset_h)
    minutes = days * 1440
    # The detectors learn first: no scheduled change in the first two days (a third of a short run).
    warm = min(2 * 1440, minutes // 3)
    drawn = max(1, round(days / 5)) if not faults else 0
    count = faults_per_device if faults_per_device is not None else drawn
    for f in faults:  # each inside the run, on one of its devices
        if (f.kind not in FAULT_KINDS or not 0 <= f.device < devices or f.minutes <= 0 or f.start < base
                or f.start + timedelta(minutes=f.minutes) > base + timedelta(minutes=minutes)):
            raise ValueError(f"cannot place {f}")
    placed = tuple(faults)
    keys = tuple(f"an{seed:02d}{d:02d}" for d in range(devices))
    plans = {key: _plan(seed, d, count, warm, minutes, base, utc_offset_h, _placed(placed, d, base), routine)
             for d, key in enumerate(keys)}
    windows: list[FaultWindow] = []
    benign: list[BenignEvent] = []

    def at(minute: int) -> datetime:
        return base + timedelta(minutes=minute)

    tz = timezone(timedelta(hours=utc_offset_h))
    for d, key in enumerate(keys):
        plan = plans[key]
        for kind, s, e, magnitude in plan.faults:
            windows.append(FaultWindow(key, kind, FAULT_METRICS[kind], at(s), at(e), round(magnitude, 3)))
        for s, e, lamp in plan.maintenance:
            benign.append(BenignEvent(key, "planned_maintenance", at(s), at(e), declared=True,
                                      detail="lamp replaced" if lamp else "service"))
        for m, step in plan.lot_changes:
            benign.append(BenignEvent(key, "reagent_lot_change", at(m), at(m), detail=f"ise_na_mv {step:+.2f} mV"))
        for day in range(days):
            cal = day * 1440 + CALIBRATION_HOUR * 60 + 5 * d
            benign.append(BenignEvent(key, "daily_calibration", at(cal), at(cal + CALIBRATION_MINUTES)))
            weekday = at(day * 1440).astimezone(tz).weekday()
            shift = SHIFT if weekday < 5 else SATURDAY_SHIFT if weekday == 5 else None
            if shift is not None:
                for hour, what in ((shift[0], "shift starts"), (shift[1], "shift ends")):
                    moment = at(day * 1440 + int(hour * 60))
                    benign.append(BenignEvent(key, "daily_rhythm", moment, moment, detail=what))
    windows.sort(key=lambda f: (f.start, f.device_key))
    benign.sort(key=lambda b: (b.start, b.device_key, b.kind))
    return Scenario(seed, base, minutes, keys, tuple(windows), tuple(benign), utc_offset_h, warm, count, placed,
                    routine)


def _placed(faults: Sequence[PlacedFault], device: int, base: datetime) -> list[tuple[str, int, int, float]]:
    """The placed faults of one device as (kind, start, end, magnitude) in minute indices."""
    out = []
    for f in faults:
        if f.device == device:
            s = int((f.start - base).total_seconds() // 60)
            out.append((f.kind, s, s + f.minutes, f.magnitude))
    return out


def _plan(seed: int, device: int, count: int, warm: int, minutes: int, base: datetime,
          utc_offset_h: float, placed: Sequence[tuple[str, int, int, float]] = (), routine: bool = True) -> _Plan:
    """One device's faults, maintenance and lot changes, each in its own part of the run, never overlapping."""
    rng = _rng(seed, "plan", device)
    plan = _Plan(faults=list(placed))
    tz = timezone(timedelta(hours=utc_offset_h))
    busy: list[tuple[int, int]] = [(s, e) for _kind, s, e, _size in placed]

    def free(s: int, e: int) -> bool:
        return all(e + RECOVERY_GAP <= bs or s >= be + RECOVERY_GAP for bs, be in busy)

    segment = (minutes - warm) // max(1, count)
    for k in range(count):
        kind = FAULT_KINDS[(seed * 3 + device * 2 + k) % len(FAULT_KINDS)]
        low, high = FAULT_MINUTES[kind]
        lo, hi = warm + k * segment, warm + (k + 1) * segment
        for _attempt in range(200):
            length = min(rng.randint(low, high), max(low, segment - 2 * RECOVERY_GAP))
            s = rng.randint(lo, max(lo, hi - length - RECOVERY_GAP))
            if kind in ("probe_clog", "counter_stall"):
                # A clog only shows while samples are aspirated, a jam while they are loaded: a weekday's shift.
                day_start = s - s % 1440
                local = (base + timedelta(minutes=day_start)).astimezone(tz)
                if local.weekday() >= 5:
                    continue
                s = day_start + (rng.randint(7 * 60, 11 * 60) if kind == "probe_clog" else
                                 rng.randint(9 * 60, 17 * 60 - length))
            if s + length <= minutes and free(s, s + length):
                plan.faults.append((kind, s, s + length, _magnitude(rng, kind)))
                busy.append((s, s + length))
                break
    if not routine:
        return plan
    # Planned maintenance: a few hours on one morning a week (not at calibration time), declared in advance.
    for week in range(max(1, math.ceil((minutes - warm) / (7 * 1440)))):
        for _attempt in range(200):
            day = rng.randint(warm // 1440 + week * 7, min(minutes // 1440 - 1, warm // 1440 + week * 7 + 6))
            s = day * 1440 + rng.randint(9 * 60, 14 * 60)
            e = s + rng.randint(120, 240)
            if e <= minutes and free(s, e):
                plan.maintenance.append((s, e, rng.random() < 0.5))
                busy.append((s, e))
                break
    # A new lot of ISE reagent: its internal standard reads a little differently, from then on.
    for _attempt in range(200):
        m = rng.randint(warm, minutes - 1)
        if free(m, m + 60):
            plan.lot_changes.append((m, rng.choice((-1.0, 1.0)) * rng.uniform(1.5, 3.0)))
            busy.append((m, m + 60))
            break
    return plan


def _magnitude(rng: random.Random, kind: str) -> float:
    """How bad a fault gets at its worst, in its metric's unit."""
    low, high = FAULT_SIZES[kind]
    return rng.uniform(low, high)


def device_series(sc: Scenario, device_key: str) -> dict[str, list[float | int]]:
    """Every metric of one device, one value per minute of the scenario (index i = sc.at(i))."""
    d = sc.devices.index(device_key)
    plan = _plan(sc.seed, d, sc.faults_per_device, sc.warm_minutes, sc.minutes, sc.start, sc.utc_offset_h,
                 _placed(sc.placed, d, sc.start), sc.routine)
    rng = _rng(sc.seed, "series", d)
    tz = timezone(timedelta(hours=sc.utc_offset_h))
    n = sc.minutes
    fault_at: list[tuple[str, int, int, float] | None] = [None] * n
    for f in plan.faults:
        for i in range(f[1], min(f[2], n)):
            fault_at[i] = f
    maint_at: list[tuple[int, int, bool] | None] = [None] * n
    for w in plan.maintenance:
        for i in range(w[0], min(w[1], n)):
            maint_at[i] = w
    calibration = CALIBRATION_HOUR * 60 + 5 * d
    phase = rng.uniform(0, 2 * math.pi)
    lamp_new, ageing = rng.uniform(95.0, 97.0), rng.uniform(0.10, 0.20) / 1440  # % per minute
    lamp_since, lamp_lost = 0, 0.0  # minute the lamp was fitted; % lost to a fault's decline so far
    ise_level, vac_level = rng.uniform(-22.0, -16.0), rng.uniform(-66.0, -64.0)
    lots = dict(plan.lot_changes)
    tests = rng.randint(100_000, 900_000)
    out: dict[str, list[float | int]] = {m: [] for m in METRIC_UNITS}
    temp, lamp, probe, ise, vac = (out["reaction_disk_temp"], out["lamp_intensity"],
                                   out["sample_probe_pressure"], out["ise_na_mv"], out["vacuum"])
    errors, counter = out["error_count"], out["test_count"]
    gauss = rng.gauss
    previous: tuple[str, int, int, float] | None = None
    for i in range(n):
        local = (sc.start + timedelta(minutes=i)).astimezone(tz)
        load = workload(local)
        fault = fault_at[i]
        kind, progress, size = "", 0.0, 0.0
        if fault is not None:
            kind, progress, size = fault[0], (i - fault[1]) / max(1, fault[2] - fault[1]), fault[3]
        elif previous is not None and previous[0].startswith("lamp"):
            lamp_since, lamp_lost, lamp_new = i, 0.0, rng.uniform(96.0, 98.0)  # the engineer fitted a new lamp
        previous = fault
        maint = maint_at[i]
        if i in lots:
            ise_level += lots[i]
        # Tests run this minute: the shift's load, a few emergency samples at night; none while serviced.
        run = 0 if maint else poisson(rng, 12.0 * load)
        if kind == "counter_stall":
            run = int(run * (1.0 - size))  # drawn all the same, so the random numbers after it do not move
        tests += run
        duty = min(1.0, run / 12.0)
        if maint is not None:
            # Service: heater and pump off for the first half, then warming up; odd readings are expected.
            s, e, lamp_replaced = maint
            half = (s + e) // 2
            if i < half:
                temp.append(round(37.0 - 12.0 * (1 - math.exp(-(i - s) / 30.0)) + gauss(0, 0.05), 2))
                lamp.append(round(max(0.0, gauss(0.2, 0.1)), 2))
                vac.append(round(gauss(-0.5, 0.3), 1))
            else:
                cooled = 12.0 * (1 - math.exp(-(half - s) / 30.0))
                temp.append(round(37.0 - cooled * math.exp(-(i - half) / 15.0) + gauss(0, 0.05), 2))
                if lamp_replaced and i == half:
                    lamp_since, lamp_lost, lamp_new = i, 0.0, rng.uniform(96.0, 98.0)
                lamp.append(round(lamp_new - ageing * (i - lamp_since) + gauss(0, 0.2), 2))
                vac.append(round(vac_level * (1 - math.exp(-(i - half) / 5.0)) + gauss(0, 0.5), 1))
            probe.append(round(2.0 + gauss(0, 0.3) + (30.0 if rng.random() < 0.05 else 0.0), 1))  # test aspirations
            ise.append(round(ise_level + gauss(0, 0.5), 2))
            errors.append(poisson(rng, 0.3))
            counter.append(tests)
            continue
        # Reaction bath: the heater's ten-minute cycle, more cuvettes in flight when busy; a drift ramps away.
        t = 37.0 + 0.03 * math.sin(2 * math.pi * i / 10 + phase) + 0.02 * load + gauss(0, 0.01)
        if kind == "heater_drift":
            t += size * progress
        temp.append(round(t, 2))
        # Lamp: slow ageing since it was fitted; a failing lamp declines fast or drops and flickers.
        if kind == "lamp_decline":
            lamp_lost = size * progress
        value = lamp_new - ageing * (i - lamp_since) - lamp_lost + gauss(0, 0.05)
        if kind == "lamp_drop":
            value -= size + abs(gauss(0, 0.3))
        lamp.append(round(value, 2))
        # Sample probe: pressure follows the aspiration duty; a clog raises it when (and as much as) it works.
        p = 2.0 + 26.0 * duty + gauss(0, 0.3 + 1.2 * duty)
        if kind == "probe_clog":
            p += size * min(1.0, 2 * progress) * duty
        probe.append(round(p, 1))
        # ISE: the morning calibration reads the calibrant (a step up, then back); a failing electrode sinks and
        # gets noisy.
        mv = ise_level + gauss(0, 0.15)
        if calibration <= i % 1440 < calibration + CALIBRATION_MINUTES:
            mv += 12.0
        if kind == "electrode_failure":
            mv += -size * progress + gauss(0, 0.15 + 1.5 * progress)
        ise.append(round(mv, 2))
        # Vacuum: wash cycles weaken it a little when busy; a failing pump loses vacuum and hunts.
        v = vac_level + 0.5 * load + gauss(0, 0.3)
        if kind == "pump_fault":
            v += size * min(1.0, 3 * progress) + gauss(0, 1.0)
        vac.append(round(v, 1))
        # Error codes: a few a day, more when busy; a burst when something is wrong.
        errors.append(poisson(rng, size if kind == "error_burst" else 0.004 + 0.02 * load))
        counter.append(tests)
    return out


# What an analyzer says about itself (instrument context, issue #14 item 2): (time, device key, what, value).
# "calibrating" is its status point (1 at a calibration's start, 0 at its end: polled over Modbus or OPC UA and
# sent on change); "calibration" (value: passed) and "reagent" (value: the new lot) are its ASTM messages.
SelfReport = tuple[datetime, str, str, int | bool | str]


def self_reports(sc: Scenario) -> list[SelfReport]:
    """What each analyzer reports about its daily calibrations and reagent lot changes, in time order (planned
    maintenance is declared with the cloud instead: Scenario.benign, declared)."""
    out: list[SelfReport] = []
    lots: dict[str, int] = {}
    for event in sc.benign:
        if event.kind == "daily_calibration":
            out += [(event.start, event.device_key, "calibrating", 1), (event.end, event.device_key, "calibrating", 0),
                    (event.end, event.device_key, "calibration", True)]
        elif event.kind == "reagent_lot_change":
            lots[event.device_key] = lots.get(event.device_key, 0) + 1
            out.append((event.start, event.device_key, "reagent", f"ISE-{lots[event.device_key]:03d}"))
    out.sort(key=lambda r: (r[0], r[1], r[2]))
    return out


def readings(sc: Scenario) -> Iterator[tuple[datetime, str, str, float | int, str | None]]:
    """Every reading of the fleet in time order: (observed_at, device_key, metric, value, unit)."""
    series = {key: device_series(sc, key) for key in sc.devices}
    metrics = list(METRIC_UNITS.items())
    for i in range(sc.minutes):
        at = sc.at(i)
        for key in sc.devices:
            values = series[key]
            for metric, unit in metrics:
                yield at, key, metric, values[metric][i], unit

