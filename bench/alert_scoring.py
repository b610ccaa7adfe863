"""Scoring of alerts against the analyzer benchmark's labels, and the arguments and output both benchmarks share
(bench/analyzer_faults.py, bench/analyzer_replay.py).

The rules are those of bench/analyzer_faults.py's docstring and docs/benchmarks-alerts.md: an alert is a true
detection when it starts inside a fault window of its device (until ``tolerance`` minutes after the repair) on
the metric the fault moves; every other alert is a false alarm, put down to the benign change that most plausibly
caused it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from protocols.simulators.analyzer_behaviour import FAULT_KINDS, FaultWindow, Scenario

__all__ = ["AIMS", "CAUSES", "LEARNING_MINUTES", "AlertSeen", "Tally", "add_arguments", "aims_met", "cause_of",
           "fault_of", "finish_arguments", "score", "summarise", "write_alerts"]

AIMS = {"precision": 0.9, "recall": 0.9, "false_alarms_per_device_week": 1.0}
ALL_METRICS = ("*",)
# Which metrics each benign change moves, and for how long after it a false alarm is put down to it (minutes).
CAUSES: dict[str, tuple[tuple[str, ...], int, int]] = {
    "planned_maintenance": (ALL_METRICS, 0, 24 * 60),  # (metrics, minutes before its start, minutes after its end)
    "reagent_lot_change": (("ise_na_mv",), 0, 24 * 60),
    # From the start of its half-hour: the detector's time-of-day profile (48 slots) smears the 15-minute step over
    # the slot, so a device can alarm at a normal reading a few minutes before its own calibration.
    "daily_calibration": (("ise_na_mv",), 30, 120),
    "daily_rhythm": (("sample_probe_pressure", "error_count", "vacuum", "reaction_disk_temp", "test_count"), 30, 120),
}
LEARNING_MINUTES = 24 * 60  # a false alarm this early is put down to the detector still learning the stream


@dataclass(frozen=True)
class AlertSeen:
    """An alert as the alerts API returned it, with the device's key on the gateway."""

    device_key: str
    metric: str
    started_at: datetime
    last_abnormal_at: datetime
    peak_score: float


@dataclass
class Tally:
    """Counts of one seed (or all of them)."""

    devices: int = 0
    days: float = 0.0
    faults: int = 0
    detected: int = 0
    alerts: int = 0
    true_alerts: int = 0
    false_alarms: int = 0
    delays: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    faults_by_kind: Counter[str] = field(default_factory=Counter)
    detected_by_kind: Counter[str] = field(default_factory=Counter)
    on_fault_metric: int = 0  # true alerts on (one of) the fault's own metrics
    causes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, other: Tally) -> None:
        """Fold another seed's counts into these."""
        self.devices += other.devices
        self.days = other.days
        for name in ("faults", "detected", "alerts", "true_alerts", "false_alarms", "on_fault_metric"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for kind, values in other.delays.items():
            self.delays[kind] += values
        self.faults_by_kind.update(other.faults_by_kind)
        self.detected_by_kind.update(other.detected_by_kind)
        for cause, metrics in other.causes.items():
            self.causes[cause].update(metrics)

    def summary(self, *, details: bool) -> dict[str, Any]:
        """Precision, recall, false alarms per device-week (and, with details, per kind and per cause)."""
        weeks = self.devices * self.days / 7
        out: dict[str, Any] = {
            "precision": round(self.true_alerts / self.alerts, 3) if self.alerts else None,
            "recall": round(self.detected / self.faults, 3) if self.faults else None,
            "false_alarms_per_device_week": round(self.false_alarms / weeks, 2) if weeks else None,
            "faults": self.faults, "detected": self.detected, "alerts": self.alerts, "true_alerts": self.true_alerts,
            "true_alerts_on_fault_metric": self.on_fault_metric, "false_alarms": self.false_alarms,
            "device_weeks": round(weeks, 2),
        }
        if details:
            out["by_fault_kind"] = {kind: {
                "faults": self.faults_by_kind[kind], "detected": self.detected_by_kind[kind],
                "recall": round(self.detected_by_kind[kind] / self.faults_by_kind[kind], 3)
                if self.faults_by_kind[kind] else None,
                "median_delay_min": round(statistics.median(self.delays[kind]), 1) if self.delays[kind] else None,
            } for kind in FAULT_KINDS}
            out["false_alarms_by_cause"] = {cause: dict(sorted(metrics.items()))
                                            for cause, metrics in sorted(self.causes.items())}
        return out


def cause_of(alert: AlertSeen, sc: Scenario) -> str:
    """The benign change (or fault recovery) that most plausibly made a false alarm: the latest that fits."""
    t = alert.started_at
    if t < sc.start + timedelta(minutes=LEARNING_MINUTES):
        return "learning (first day)"
    best: tuple[datetime, str] | None = None

    def consider(start: datetime, name: str) -> None:
        nonlocal best
        if best is None or start > best[0]:
            best = (start, name)

    for event in sc.benign:
        if event.device_key != alert.device_key:
            continue
        metrics, before, after = CAUSES[event.kind]
        if metrics != ALL_METRICS and alert.metric not in metrics:
            continue
        if event.start - timedelta(minutes=before) <= t <= event.end + timedelta(minutes=after):
            consider(event.start, event.kind)
    for fault in sc.faults:
        if fault.device_key == alert.device_key and fault.end <= t <= fault.end + timedelta(hours=24):
            consider(fault.end, "after a fault (beyond the tolerance)")
    return best[1] if best is not None else "none found (noise)"


def fault_of(alert: AlertSeen, sc: Scenario, *, tolerance_min: float, same_metric: bool = True) -> FaultWindow | None:
    """The fault an alert detects (see the module's docstring), or None for a false alarm."""
    tolerance = timedelta(minutes=tolerance_min)
    return next((f for f in sc.faults if f.device_key == alert.device_key
                 and (alert.metric in f.metrics or not same_metric)
                 and f.start <= alert.started_at <= f.end + tolerance), None)


def score(sc: Scenario, alerts: Iterable[AlertSeen], *, tolerance_min: float, same_metric: bool = True) -> Tally:
    """Match one seed's alerts to its fault windows (see the module's docstring); same_metric: on the fault's own."""
    tally = Tally(devices=len(sc.devices), days=sc.minutes / 1440, faults=len(sc.faults))
    tally.faults_by_kind.update(f.kind for f in sc.faults)
    first: dict[FaultWindow, datetime] = {}
    for alert in sorted(alerts, key=lambda a: a.started_at):
        tally.alerts += 1
        fault = fault_of(alert, sc, tolerance_min=tolerance_min, same_metric=same_metric)
        if fault is None:
            tally.false_alarms += 1
            tally.causes[cause_of(alert, sc)][alert.metric] += 1
            continue
        tally.true_alerts += 1
        tally.on_fault_metric += alert.metric in fault.metrics
        first.setdefault(fault, alert.started_at)
    for fault, at in first.items():
        tally.detected += 1
        tally.detected_by_kind[fault.kind] += 1
        tally.delays[fault.kind].append((at - fault.start).total_seconds() / 60)
    return tally


def aims_met(overall: dict[str, Any]) -> dict[str, bool]:
    """Which of the issue's aims an overall summary meets."""
    fa = overall["false_alarms_per_device_week"]
    return {"precision": (overall["precision"] or 0) >= AIMS["precision"],
            "recall": (overall["recall"] or 0) >= AIMS["recall"],
            "false_alarms_per_device_week": fa is not None and fa <= AIMS["false_alarms_per_device_week"]}


def summarise(scenarios: Iterable[Scenario], alerts: Mapping[int, list[AlertSeen]], *, tolerance_min: float,
              ) -> dict[str, Any]:
    """Score every seed's alerts: overall (with details), the device-level count, per seed, the aims and which met."""
    total, loose = Tally(), Tally()
    per_seed = {}
    for sc in scenarios:
        tally = score(sc, alerts[sc.seed], tolerance_min=tolerance_min)
        per_seed[str(sc.seed)] = tally.summary(details=False)
        total.add(tally)
        loose.add(score(sc, alerts[sc.seed], tolerance_min=tolerance_min, same_metric=False))
    overall = total.summary(details=True)
    return {"overall": overall, "overall_device_level": loose.summary(details=False), "per_seed": per_seed,
            "aims": AIMS, "met": aims_met(overall)}


def write_alerts(path: Path, scenarios: Iterable[Scenario], alerts: Mapping[int, list[AlertSeen]],
                 tolerance_min: float, *, score_field: str = "peak_score") -> None:
    """One JSON line per alert: seed, device, metric, start, score, and the fault it matched or its cause."""
    with path.open("w") as fh:
        for sc in scenarios:
            for alert in sorted(alerts[sc.seed], key=lambda a: (a.started_at, a.device_key, a.metric)):
                fault = fault_of(alert, sc, tolerance_min=tolerance_min)
                local = alert.started_at.astimezone(timezone(timedelta(hours=sc.utc_offset_h)))
                fh.write(json.dumps({
                    "seed": sc.seed, "device": alert.device_key, "metric": alert.metric,
                    "started_at": alert.started_at.isoformat(), "local": local.strftime("%a %H:%M"),
                    "minute": sc.index(alert.started_at), score_field: round(alert.peak_score, 3),
                    "fault": fault.kind if fault else None,
                    "cause": None if fault else cause_of(alert, sc)}) + "\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments both analyzer benchmarks take: the fleet, the seeds, the tolerance, --quick, --out."""
    parser.add_argument("--devices", type=int, default=6)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--tolerance", type=float, default=60.0, help="minutes after a fault's end still counted")
    parser.add_argument("--quick", action="store_true", help="2 devices x 3 days x seed 1 (a smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="also write every alert with its verdict (JSON lines)")


def finish_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """Apply --quick and parse --seeds into a list of ints."""
    if args.quick:
        args.devices, args.days, args.seeds = 2, 3, "1"
    seeds: Sequence[str] = str(args.seeds).split(",")
    args.seeds = [int(s) for s in seeds]
    return args
