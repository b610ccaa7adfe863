"""bench/alert_scoring.py (the analyzer benchmarks' event scoring rules), and a quick run of bench/analyzer_faults.py
through the real cloud end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bench.alert_scoring import AlertSeen, cause_of, score
from protocols.simulators.analyzer_behaviour import FAULT_KINDS, Scenario, scenario
from tests.conftest import need, port_open

ROOT = Path(__file__).resolve().parents[2]
START = datetime.fromisoformat("2026-03-02T00:00:00+00:00")


@pytest.fixture(scope="module")
def fleet() -> Scenario:
    """Three analyzers for a week."""
    return scenario(3, devices=3, days=7, start=START)


def alert(key: str, metric: str, at: datetime) -> AlertSeen:
    """An alert as the API would return it."""
    return AlertSeen(key, metric, at, at + timedelta(minutes=5), 0.7)


def test_an_alert_in_a_fault_window_on_its_metric_detects_it_with_its_delay_and_others_are_false_alarms(
        fleet: Scenario) -> None:
    fault = fleet.faults[0]
    other = next(k for k in fleet.devices if k != fault.device_key)
    metric = fault.metrics[0]
    alerts = [
        alert(fault.device_key, metric, fault.start + timedelta(minutes=42)),  # detection, 42 min late
        alert(fault.device_key, metric, fault.start + timedelta(minutes=90)),  # a second alert: still true
        alert(fault.device_key, metric, fault.end + timedelta(minutes=30)),  # the repair, within the tolerance
        alert(fault.device_key, metric, fault.end + timedelta(minutes=90)),  # beyond it: a false alarm
        alert(other, metric, fault.start + timedelta(minutes=10)),  # the wrong device
        alert(fault.device_key, "test_count", fault.start + timedelta(minutes=10)),  # another metric
    ]
    tally = score(fleet, alerts, tolerance_min=60)
    out = tally.summary(details=True)
    assert (out["alerts"], out["true_alerts"], out["false_alarms"], out["detected"]) == (6, 3, 3, 1)
    assert out["faults"] == len(fleet.faults) and out["recall"] == round(1 / len(fleet.faults), 3)
    assert out["precision"] == 0.5
    assert out["false_alarms_per_device_week"] == 1.0  # 3 false alarms over 3 device-weeks
    assert out["by_fault_kind"][fault.kind]["median_delay_min"] == 42.0
    assert set(out["by_fault_kind"]) == set(FAULT_KINDS)
    loose = score(fleet, alerts, tolerance_min=60, same_metric=False).summary(details=False)
    assert (loose["true_alerts"], loose["false_alarms"]) == (4, 2)  # the other metric counts when loose


def test_false_alarms_are_put_down_to_the_benign_change_that_moved_their_metric(fleet: Scenario) -> None:
    key = fleet.devices[0]
    calibration = [b for b in fleet.benign if b.device_key == key and b.kind == "daily_calibration"][3]
    assert cause_of(alert(key, "ise_na_mv", calibration.start + timedelta(minutes=1)), fleet) == "daily_calibration"
    # the profile's half-hour slot holds the step: an alarm a few minutes before it is the calibration's too
    assert cause_of(alert(key, "ise_na_mv", calibration.start - timedelta(minutes=6)), fleet) == "daily_calibration"
    assert cause_of(alert(key, "vacuum", calibration.start + timedelta(minutes=1)), fleet) != "daily_calibration"
    lot = next(b for b in fleet.benign if b.kind == "reagent_lot_change")
    later = lot.start + timedelta(minutes=5)
    recent = [b for b in fleet.benign if b.device_key == lot.device_key and b.kind == "daily_calibration"
              and lot.start < b.start <= later + timedelta(hours=3)]
    assert cause_of(alert(lot.device_key, "ise_na_mv", later), fleet) == "reagent_lot_change"
    if recent:  # a calibration after the lot change is the more recent change: it is blamed then
        assert cause_of(alert(lot.device_key, "ise_na_mv", recent[0].start + timedelta(minutes=5)),
                        fleet) == "daily_calibration"
    service = next(b for b in fleet.benign if b.kind == "planned_maintenance")
    assert cause_of(alert(service.device_key, "lamp_intensity", service.end + timedelta(minutes=20)),
                    fleet) == "planned_maintenance"
    assert cause_of(alert(key, "ise_na_mv", fleet.start + timedelta(hours=3)), fleet) == "learning (first day)"


@pytest.mark.slow
def test_quick_run_posts_through_the_real_cloud_scores_every_reading_and_prints_the_numbers(tmp_path: Path) -> None:
    need(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    out = tmp_path / "alerts.jsonl"
    done = subprocess.run([sys.executable, "bench/analyzer_faults.py", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert {"overall", "overall_device_level", "per_seed", "aims", "met", "runtime_s"} <= set(result)
    overall = result["overall"]
    for key in ("precision", "recall", "false_alarms_per_device_week", "by_fault_kind", "false_alarms_by_cause"):
        assert key in overall
    # 7 metrics a minute, and each daily calibration's status point turning on and off (2 devices x 3 days)
    assert result["readings_posted"] == 2 * 3 * 1440 * 7 + 2 * 3 * 2 and result["every_reading_scored"]
    assert result["instrument_context_sent"] is True
    assert result["maintenance_windows_declared"] >= 1
    assert overall["faults"] >= 2 and overall["alerts"] == overall["true_alerts"] + overall["false_alarms"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == overall["alerts"]
    assert sum(1 for line in lines if line["fault"]) == overall["true_alerts"]
    assert set(result["met"]) == {"precision", "recall", "false_alarms_per_device_week"}
