"""Offline replay of the labelled analyzer benchmark straight through the detector and the alert rules; JSON.

The same streams, labels and scoring as bench/analyzer_faults.py (protocols/simulators/analyzer_behaviour.py,
bench/alert_scoring.py), without the cloud: each (device, metric) stream gets its own production detector
(``models.anomaly.make_detector``) and its own alert tracker, and every reading goes through
``score_learn_one(value, t)`` then the tracker, in time order, as cloud/alerts/scoring.py does. Seconds, not minutes,
so a change to the detector can be judged before the 11-minute end-to-end run.

The cloud's own rules, imported so the replay cannot drift from them:

* the alert rules of cloud/alerts/policy.py (``Tracker.step`` with the default ``Rules``, threshold = the cloud's
  settings ``alert_threshold`` unless ``--alert-threshold``, which the detector's rest after a hit follows too;
  an alert starts at its first hot score; a silenced stream opens nothing);
* the unit rule of cloud/alerts/streams.py (``apply_unit``: a physical quantity is never a counter);
* declared maintenance windows silence the device's streams;
* a new stream's learning period (settings ``alert_learning_hours``, its default unless ``--learning-hours``).

Instrument context (``--context``), what the analyzer itself reports and the generator labels:

* ``none``: the cloud before issue #14's context: the detector learns every reading, maintenance only silences;
* ``maintenance``: readings inside a declared maintenance window are passed with ``maintenance=True`` (scored
  0, not learnt) and silence the tracker (the cloud does this, and re-baselines at a window's end as ``all``);
* ``all`` (default): as ``maintenance``, and the ISE stream's readings during its daily calibration are passed the
  same way (the analyzer reports "calibrating"), and a reagent lot change calls ``rebaseline(t)`` on the ISE
  stream (the LIS reports the new lot), and the end of a maintenance window calls ``rebaseline(t)`` on every
  stream of the device (parts were changed: a new lamp reads higher);
* ``device``: what the cloud does with the same reports (cloud/alerts/instrument.py knows the device, not the
  module): every stream of the device is held back during the daily calibration and re-baselined after it and
  after a reagent lot change, as after maintenance. This replays bench/analyzer_faults.py's alerts exactly.

    .venv/bin/python bench/analyzer_replay.py                       # 6 devices x 14 days x seeds 1,2,3
    .venv/bin/python bench/analyzer_replay.py --context device      # as the cloud scores (= analyzer_faults.py)
    .venv/bin/python bench/analyzer_replay.py --context none        # as the cloud scored before instrument context
    .venv/bin/python bench/analyzer_replay.py --params '{"slots": 48}' --out alerts.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.alert_scoring import AlertSeen, add_arguments, finish_arguments, summarise, write_alerts  # noqa: E402
from cloud.alerts.policy import Rules, Tracker, Verdict  # noqa: E402
from cloud.alerts.streams import apply_unit  # noqa: E402
from cloud.config import Settings  # noqa: E402
from models.anomaly import make_detector  # noqa: E402
from protocols.simulators.analyzer_behaviour import (  # noqa: E402
    METRIC_UNITS,
    Scenario,
    device_series,
    scenario,
)

# The first day of every replay: a Monday's local midnight (Asia/Shanghai), as analyzer_faults.py chooses one.
FIRST_DAY = datetime(2026, 1, 5, tzinfo=UTC)
CALIBRATED_METRIC = "ise_na_mv"  # the metric the daily calibration and a reagent lot change move


def _mask(sc: Scenario, key: str, kind: str) -> list[bool]:
    """Per minute of the run: inside one of the device's benign events of this kind."""
    mask = [False] * sc.minutes
    for e in sc.benign:
        if e.device_key == key and e.kind == kind:
            for i in range(max(0, sc.index(e.start)), min(sc.minutes, sc.index(e.end))):
                mask[i] = True
    return mask


def replay_device(sc: Scenario, key: str, *, detector: str, params: dict[str, Any], context: str,
                  rules: Rules) -> tuple[list[AlertSeen], int]:
    """Replay one device's streams; returns its alerts (peak_score = the opening score) and the readings."""
    series = device_series(sc, key)
    t0 = sc.start.timestamp()
    windows = _mask(sc, key, "planned_maintenance")
    calibrating = _mask(sc, key, "daily_calibration") if context in ("all", "device") else [False] * sc.minutes
    lots = {sc.index(e.start) for e in sc.benign if e.device_key == key and e.kind == "reagent_lot_change"}
    serviced = {sc.index(e.end) for e in sc.benign if e.device_key == key and e.kind == "planned_maintenance"}
    if context == "device":  # the cloud knows the device, not the module: every stream steps after either
        serviced |= lots | {sc.index(e.end) for e in sc.benign if e.device_key == key and e.kind == "daily_calibration"}
    alerts: list[AlertSeen] = []
    n = 0
    for metric, unit in METRIC_UNITS.items():
        det = make_detector(detector, **params)
        apply_unit(det, unit)  # as the Scorer does
        det.threshold = rules.threshold  # as the Scorer does: the detector rests after a hit at the policy's
        tracker = Tracker()
        values = series[metric]
        own = (metric == CALIBRATED_METRIC and context == "all") or context == "device"
        for i, value in enumerate(values):
            t = t0 + 60.0 * i
            silenced = windows[i]
            if (own and i in lots) or (context in ("all", "device") and i in serviced):
                det.rebaseline(t)
            if (silenced and context != "none") or (own and calibrating[i]):
                silenced = True
                s = det.score_learn_one(float(value), t, maintenance=True)
            else:
                s = det.score_learn_one(float(value), t)
            started = tracker.pending_since if tracker.pending_since is not None else t
            if tracker.step(s, t, rules, silenced=silenced) is Verdict.opened:
                at = datetime.fromtimestamp(started, UTC)
                alerts.append(AlertSeen(key, metric, at, at, s))
        n += len(values)
    return alerts, n


def replay_seed(seed: int, args: dict[str, Any]) -> tuple[int, list[AlertSeen], int, float]:
    """Replay every device of one seed; returns the seed, its alerts, readings and detector seconds."""
    sc = scenario(seed, devices=args["devices"], days=args["days"], start=FIRST_DAY)
    t_start = time.perf_counter()
    alerts: list[AlertSeen] = []
    n = 0
    for key in sc.devices:
        found, count = replay_device(sc, key, detector=args["detector"], params=args["params"],
                                     context=args["context"],
                                     rules=Rules(threshold=args["threshold"], learning_s=args["learning_s"]))
        alerts += found
        n += count
    return seed, alerts, n, time.perf_counter() - t_start


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Replay every seed (in parallel processes), score, summarise."""
    t0 = time.perf_counter()
    job = {"devices": args.devices, "days": args.days, "detector": args.detector, "params": args.params,
           "context": args.context, "learning_s": args.learning_hours * 3600.0, "threshold": args.alert_threshold}
    with ProcessPoolExecutor(max(1, min(args.jobs, len(args.seeds)))) as pool:
        results = list(pool.map(replay_seed, args.seeds, [job] * len(args.seeds)))
    scenarios = {seed: scenario(seed, devices=args.devices, days=args.days, start=FIRST_DAY) for seed in args.seeds}
    alerts = {seed: found for seed, found, _, _ in results}
    if args.out is not None:
        write_alerts(args.out, scenarios.values(), alerts, args.tolerance, score_field="score")
    scored_alerts = summarise(scenarios.values(), alerts, tolerance_min=args.tolerance)
    readings = sum(r[2] for r in results)
    return {
        "python": platform.python_version(), "detector": args.detector, "params": args.params,
        "context": args.context, "learning_hours": args.learning_hours, "alert_threshold": args.alert_threshold,
        "devices": args.devices, "days": args.days, "seeds": args.seeds,
        "tolerance_min": args.tolerance, "readings": readings, **scored_alerts,
        "runtime_s": {"total": round(time.perf_counter() - t0, 1),
                      "replay_per_seed": [round(r[3], 1) for r in results]},
    }


def main() -> None:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--context", choices=("none", "maintenance", "all", "device"), default="all",
                        help="instrument context passed to the detector (see the docstring)")
    parser.add_argument("--detector", default="production")
    parser.add_argument("--params", default="{}", help="JSON object of hyper-parameters (experiments)")
    parser.add_argument("--learning-hours", type=float,
                        default=Settings.model_fields["alert_learning_hours"].default,
                        help="a new stream opens no alert for this long (the cloud's setting; default its default)")
    parser.add_argument("--alert-threshold", type=float, default=Settings.model_fields["alert_threshold"].default,
                        help="the score a stream alerts at (the cloud's setting; default its default)")
    parser.add_argument("--jobs", type=int, default=min(3, os.cpu_count() or 1), help="processes (one per seed)")
    args = finish_arguments(parser.parse_args())
    args.params = json.loads(args.params)
    print(json.dumps(run(args), indent=2, default=str))


if __name__ == "__main__":
    main()
