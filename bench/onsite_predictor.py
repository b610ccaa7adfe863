"""The basic/advanced predictor on generated history: accuracy and AUC on a held-back part it never learned from.

The history comes from cloud/profiles/history.py, whose rules (a hidden effect per hospital, bad patches in which a
device degrades, an age x mechanism interaction, severity carried by wording, noise) the predictor never sees: it
gets what the service has at submission (models/maintenance/onsite.py Report: the text, the device, the source,
urgency, the alert's metric, the device's earlier solved cases and recent faults, computed exactly as
cloud/profiles/predictor.report_for does). Cases are ordered by time; the predictor learns the first 80 % one at a
time (online, as in production), then is scored on the last 20 %:

* held_back: the model frozen after training, every held-back case predicted once;
* online: the same cases, but the model keeps learning each after predicting it (what the service does);
* baselines: always answering the majority class, and the predictor without the report's words (device and
  history only), to show what the text adds.

It also scores the 30-day risk (models/maintenance/risk.py) on the same history: on the first day of each
held-back month, every device's risk from its past, against whether it had a fault in the next 30 days (AUC),
beside the plainest ranking, by the number of faults in the past year.

    .venv/bin/python bench/onsite_predictor.py                 # 400 devices, two years, seeds 1-3
    .venv/bin/python bench/onsite_predictor.py --devices 1000 --seeds 1
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud.profiles.history import FleetDevice, HistoryCase, generate  # noqa: E402
from models.maintenance.onsite import OnsitePredictor, Report  # noqa: E402
from models.maintenance.risk import RiskInputs, estimate_risk  # noqa: E402

CATEGORIES = ("chemistry", "immunoassay", "hematology", "coagulation", "blood_gas", "automation")
MODELS = {"chemistry": ("AU5800", "cobas c 702", "cobas c 111", "BS-2000M"),
          "immunoassay": ("cobas e 801", "ARCHITECT i2000SR"), "hematology": ("XN-1000", "XN-550", "Pentra XLR"),
          "coagulation": ("CS-5100",), "blood_gas": ("ABL90 FLEX PLUS",), "automation": ("cobas 8100",)}
END = datetime(2026, 12, 1, tzinfo=UTC)


def fleet(devices: int, seed: int) -> list[FleetDevice]:
    rng = random.Random(seed)
    out = []
    for i in range(devices):
        category = CATEGORIES[i % len(CATEGORIES)]
        out.append(FleetDevice(id=i + 1, hospital_id=1 + i % max(1, devices // 20), category=category,
                               model=rng.choice(MODELS[category]), manufacturer="",
                               install_date=date(2010 + rng.randint(0, 14), rng.randint(1, 12), 1),
                               condition=rng.randint(45, 98), connected=rng.random() < 0.4))
    return out


def age_years(device: FleetDevice, moment: datetime) -> float | None:
    if device.install_date is None:
        return None
    return max(0.0, (moment.date() - device.install_date).days / 365.25)


def reports(cases: list[HistoryCase], devices: dict[int, FleetDevice]) -> list[tuple[Report, bool]]:
    """Each case as the service saw it at submission (cloud/profiles/predictor.report_for's definitions)."""
    by_device: dict[int, list[HistoryCase]] = defaultdict(list)
    for case in cases:
        by_device[case.device_id].append(case)
    out = []
    for case in cases:
        device = devices[case.device_id]
        earlier = [c for c in by_device[case.device_id] if c is not case]
        known = [c for c in earlier if c.resolved_at < case.created_at]
        recent = [c for c in earlier if c.precheck_outcome != "false_alarm"
                  and case.created_at - timedelta(days=90) <= c.created_at < case.created_at]
        out.append((Report(text=case.description, device_category=device.category, model=device.model,
                           manufacturer=device.manufacturer, age_years=age_years(device, case.created_at),
                           source=case.source, alert_metric=case.alert_metric, urgency=case.urgency,
                           prior_solved=len(known), prior_onsite=sum(c.tier == "on_site" for c in known),
                           recent_faults=len(recent)), case.tier == "on_site"))
    return out


def auc(scores: list[float], labels: list[bool]) -> float:
    """Area under the ROC curve by ranks (ties count half)."""
    pairs = sorted(zip(scores, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        average_rank = (i + j + 1) / 2  # ranks i+1..j
        rank_sum += average_rank * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def scores_of(probabilities: list[float], labels: list[bool]) -> dict[str, float]:
    accuracy = sum((p >= 0.5) == y for p, y in zip(probabilities, labels, strict=True)) / len(labels)
    log_loss = -statistics.fmean(math.log(max(1e-9, p if y else 1 - p))
                                 for p, y in zip(probabilities, labels, strict=True))
    return {"accuracy": round(accuracy, 4), "auc": round(auc(probabilities, labels), 4),
            "log_loss": round(log_loss, 4)}


def evaluate_predictor(data: list[tuple[Report, bool]], split: int) -> dict[str, Any]:
    train, held = data[:split], data[split:]
    labels = [y for _, y in held]
    model = OnsitePredictor()
    for report, onsite in train:
        model.learn_one(report, onsite)
    frozen = scores_of([model.predict_one(r) for r, _ in held], labels)
    online_probabilities = []
    for report, onsite in held:
        online_probabilities.append(model.predict_one(report))
        model.learn_one(report, onsite)
    blind = OnsitePredictor()
    for report, onsite in train:
        blind.learn_one(replace(report, text=""), onsite)
    majority = sum(y for _, y in train) >= len(train) / 2
    return {"held_back": frozen, "online": scores_of(online_probabilities, labels),
            "baseline_majority_accuracy": round(sum(y == majority for y in labels) / len(labels), 4),
            "without_text": scores_of([blind.predict_one(replace(r, text="")) for r, _ in held], labels)}


def evaluate_risk(cases: list[HistoryCase], devices: dict[int, FleetDevice], start: datetime) -> dict[str, Any]:
    """The 30-day risk on the first day of each held-back month against faults in the following 30 days."""
    faults: dict[int, list[datetime]] = defaultdict(list)
    for case in cases:
        if case.precheck_outcome != "false_alarm":
            faults[case.device_id].append(case.created_at)
    scores: list[float] = []
    counts: list[float] = []
    labels: list[bool] = []
    moment = datetime(start.year, start.month, 1, tzinfo=UTC) + timedelta(days=32)
    moment = moment.replace(day=1)
    while moment + timedelta(days=30) <= END:
        past_year = moment - timedelta(days=365)
        fleet_faults = sum(1 for times in faults.values() for t in times if past_year <= t < moment)
        prior = fleet_faults / (365 * len(devices))
        for device_id, device in devices.items():
            times = faults[device_id]
            index = bisect.bisect_left(times, moment)
            ago = [(moment - t).total_seconds() / 86400 for t in times[:index] if t >= past_year]
            installed = (moment.date() - device.install_date).days if device.install_date else 365
            estimate = estimate_risk(RiskInputs(fault_days_ago=ago, exposure_days=max(30, min(365, installed)),
                                                age_years=age_years(device, moment), open_alerts=0,
                                                prior_daily_rate=prior, alert_precision=0.5))
            scores.append(estimate.probability)
            counts.append(len(ago))
            labels.append(any(moment <= t < moment + timedelta(days=30) for t in times[index:index + 50]))
        moment = (moment + timedelta(days=32)).replace(day=1)
    return {"snapshots": len(scores), "fault_rate_30d": round(sum(labels) / len(labels), 4),
            "auc": round(auc(scores, labels), 4), "baseline_faults_past_year_auc": round(auc(counts, labels), 4)}


def run(devices: int, days: int, seed: int, held_share: float) -> dict[str, Any]:
    started = time.perf_counter()
    fleet_devices = fleet(devices, seed)
    by_id = {d.id: d for d in fleet_devices}
    cases = generate(fleet_devices, start=END - timedelta(days=days), end=END, seed=seed)
    data = reports(cases, by_id)
    split = int(len(data) * (1 - held_share))
    learn_started = time.perf_counter()
    result = evaluate_predictor(data, split)
    learn_s = time.perf_counter() - learn_started
    return {"seed": seed, "cases": len(cases), "trained_on": split, "held_back_cases": len(data) - split,
            "onsite_share": round(sum(y for _, y in data) / len(data), 4), **result,
            "risk_30d": evaluate_risk(cases, by_id, cases[split].created_at),
            "seconds": {"total": round(time.perf_counter() - started, 1), "predictor": round(learn_s, 1)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=400)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seeds", type=int, default=3, help="runs with seeds 1..N")
    parser.add_argument("--held-back", type=float, default=0.2, help="the latest share of cases held back")
    args = parser.parse_args()
    runs = [run(args.devices, args.days, seed, args.held_back) for seed in range(1, args.seeds + 1)]

    def spread(path: tuple[str, ...]) -> dict[str, float]:
        values = []
        for r in runs:
            value: Any = r
            for key in path:
                value = value[key]
            values.append(float(value))
        return {"min": min(values), "mean": round(statistics.fmean(values), 4), "max": max(values)}

    summary = {"held_back_accuracy": spread(("held_back", "accuracy")), "held_back_auc": spread(("held_back", "auc")),
               "online_auc": spread(("online", "auc")), "without_text_auc": spread(("without_text", "auc")),
               "majority_accuracy": spread(("baseline_majority_accuracy",)),
               "risk_30d_auc": spread(("risk_30d", "auc")),
               "risk_baseline_faults_past_year_auc": spread(("risk_30d", "baseline_faults_past_year_auc"))}
    print(json.dumps({"devices": args.devices, "days": args.days, "summary": summary, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
