"""The analyzer behaviour generator: seeded and pure, and its labels say what its readings show."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta, timezone

import pytest

from protocols.simulators.analyzer_behaviour import (
    BENIGN_KINDS,
    CALIBRATION_MINUTES,
    FAULT_KINDS,
    METRIC_UNITS,
    FaultWindow,
    Scenario,
    device_series,
    readings,
    scenario,
    self_reports,
    week_start,
    workload,
)

START = datetime(2026, 3, 2, tzinfo=UTC)  # any moment; the scenario starts at the lab's local midnight before it


@pytest.fixture(scope="module")
def fleet() -> Scenario:
    """Six analyzers for two weeks, seed 1: every fault kind occurs at least once."""
    return scenario(1, devices=6, days=14, start=START)


@pytest.fixture(scope="module")
def series(fleet: Scenario) -> dict[str, dict[str, list[float | int]]]:
    """Every device's streams."""
    return {key: device_series(fleet, key) for key in fleet.devices}


def window(fleet: Scenario, kind: str) -> FaultWindow:
    """The first fault of a kind."""
    return next(f for f in fleet.faults if f.kind == kind)


def values(series: dict[str, dict[str, list[float | int]]], fleet: Scenario, key: str, metric: str, start: datetime,
           end: datetime) -> list[float]:
    """A stream's values from start (inclusive) to end (exclusive)."""
    return [float(v) for v in series[key][metric][fleet.index(start):fleet.index(end)]]


def test_same_seed_gives_the_same_schedule_and_readings_and_another_seed_does_not() -> None:
    a, b, c = (scenario(seed, devices=2, days=3, start=START) for seed in (5, 5, 6))
    assert a == b
    assert list(readings(a)) == list(readings(b))
    assert [(f.kind, f.start) for f in a.faults] != [(f.kind, f.start) for f in c.faults]
    assert device_series(a, a.devices[0]) != device_series(c, c.devices[0])


def test_a_fleet_has_every_fault_kind_and_every_benign_kind_at_one_reading_a_minute(fleet: Scenario) -> None:
    assert {f.kind for f in fleet.faults} == set(FAULT_KINDS)
    assert {b.kind for b in fleet.benign} == set(BENIGN_KINDS)
    assert len(FAULT_KINDS) >= 6 and len(BENIGN_KINDS) >= 4
    rows = list(readings(scenario(2, devices=2, days=2, start=START)))
    assert len(rows) == 2 * 2 * 1440 * len(METRIC_UNITS)
    assert rows[len(METRIC_UNITS) * 2][0] - rows[0][0] == timedelta(minutes=1)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)


def test_faults_and_planned_maintenance_never_overlap_on_a_device_and_come_after_the_learning_days(
        fleet: Scenario) -> None:
    for key in fleet.devices:
        spans = sorted([(f.start, f.end) for f in fleet.faults if f.device_key == key]
                       + [(b.start, b.end) for b in fleet.benign if b.device_key == key and b.declared])
        assert all(end <= nxt for (_s, end), (nxt, _e) in zip(spans, spans[1:], strict=False))
        assert all(s >= fleet.start + timedelta(days=2) for s, _e in spans)


def test_heater_drift_window_shows_the_bath_warming_and_it_is_normal_after_repair(
        fleet: Scenario, series: dict[str, dict[str, list[float | int]]]) -> None:
    fault = window(fleet, "heater_drift")
    hour = timedelta(hours=1)
    before = values(series, fleet, fault.device_key, "reaction_disk_temp", fault.start - 2 * hour, fault.start)
    last = values(series, fleet, fault.device_key, "reaction_disk_temp", fault.end - hour, fault.end)
    after = values(series, fleet, fault.device_key, "reaction_disk_temp", fault.end + hour, fault.end + 2 * hour)
    assert abs(statistics.mean(before) - 37.0) < 0.05
    assert statistics.mean(last) - statistics.mean(before) > 0.8 * fault.magnitude
    assert abs(statistics.mean(after) - statistics.mean(before)) < 0.05


def test_lamp_drop_is_sudden_and_lamp_decline_is_gradual(
        fleet: Scenario, series: dict[str, dict[str, list[float | int]]]) -> None:
    drop = window(fleet, "lamp_drop")
    lamp = series[drop.device_key]["lamp_intensity"]
    i = fleet.index(drop.start)
    assert lamp[i - 1] - lamp[i] > drop.magnitude - 1.0
    decline = window(fleet, "lamp_decline")
    lamp = series[decline.device_key]["lamp_intensity"]
    i, j = fleet.index(decline.start), fleet.index(decline.end)
    assert abs(lamp[i] - lamp[i - 1]) < 0.5
    assert lamp[i] - lamp[j - 1] > 0.8 * decline.magnitude


def test_probe_clog_raises_the_pressure_only_while_samples_are_aspirated(
        fleet: Scenario, series: dict[str, dict[str, list[float | int]]]) -> None:
    fault = window(fleet, "probe_clog")
    probe = series[fault.device_key]["sample_probe_pressure"]
    lab = timezone(timedelta(hours=fleet.utc_offset_h))
    minutes = range(fleet.index(fault.start), fleet.index(fault.end))
    busy = [i for i in minutes if workload(fleet.at(i).astimezone(lab)) > 0.9]
    quiet = [i for i in minutes if workload(fleet.at(i).astimezone(lab)) < 0.1]
    late_busy = busy[len(busy) // 2:]

    def rise(at: list[int]) -> float:  # against the same hours a week earlier
        return statistics.mean(probe[i] for i in at) - statistics.mean(probe[i - 7 * 1440] for i in at)

    assert rise(late_busy) > 0.4 * fault.magnitude
    assert abs(rise(quiet)) < 0.15 * rise(late_busy)  # at night only the odd emergency sample shows it


def test_electrode_failure_sinks_and_gets_noisy_and_error_burst_raises_the_error_rate(
        fleet: Scenario, series: dict[str, dict[str, list[float | int]]]) -> None:
    fault = window(fleet, "electrode_failure")
    span = fault.end - fault.start
    quarter = span / 4
    early = values(series, fleet, fault.device_key, "ise_na_mv", fault.start - quarter, fault.start)
    late = values(series, fleet, fault.device_key, "ise_na_mv", fault.end - quarter, fault.end)
    early = [v for v in early if v < statistics.median(early) + 5]  # leave a morning calibration out
    late = [v for v in late if v < statistics.median(late) + 5]
    assert statistics.mean(early) - statistics.mean(late) > 0.6 * fault.magnitude
    assert statistics.stdev(late) > 3 * statistics.stdev(early)
    burst = window(fleet, "error_burst")
    during = values(series, fleet, burst.device_key, "error_count", burst.start, burst.end)
    day_before = values(series, fleet, burst.device_key, "error_count", burst.start - timedelta(days=1),
                        burst.start - timedelta(hours=1))
    assert statistics.mean(during) > 0.5 * burst.magnitude > 20 * statistics.mean(day_before)


def test_pump_fault_loses_vacuum(fleet: Scenario, series: dict[str, dict[str, list[float | int]]]) -> None:
    fault = window(fleet, "pump_fault")
    third = (fault.end - fault.start) / 3
    before = values(series, fleet, fault.device_key, "vacuum", fault.start - third, fault.start)
    late = values(series, fleet, fault.device_key, "vacuum", fault.end - third, fault.end)
    assert statistics.mean(late) - statistics.mean(before) > 0.8 * fault.magnitude


def test_daily_calibration_steps_the_ise_reading_and_it_comes_back(
        fleet: Scenario, series: dict[str, dict[str, list[float | int]]]) -> None:
    key = fleet.devices[0]
    calibrations = [b for b in fleet.benign if b.device_key == key and b.kind == "daily_calibration"]
    assert len(calibrations) == 14
    assert all(b.end - b.start == timedelta(minutes=CALIBRATION_MINUTES) for b in calibrations)
    ise = series[key]["ise_na_mv"]
    for cal in calibrations[:2]:  # the learning days: no fault or lot change nearby
        i, j = fleet.index(cal.start), fleet.index(cal.end)
        assert statistics.mean(ise[i:j]) - statistics.mean(ise[i - 30:i]) > 10
        assert abs(statistics.mean(ise[j:j + 30]) - statistics.mean(ise[i - 30:i])) < 0.5


def test_each_analyzer_reports_its_calibrations_and_lot_changes_as_they_happen(fleet: Scenario) -> None:
    reports = self_reports(fleet)
    assert reports == sorted(reports, key=lambda r: (r[0], r[1], r[2]))
    for cal in (b for b in fleet.benign if b.kind == "daily_calibration"):
        assert (cal.start, cal.device_key, "calibrating", 1) in reports  # its status point turns on ...
        assert (cal.end, cal.device_key, "calibrating", 0) in reports  # ... and off again
        assert (cal.end, cal.device_key, "calibration", True) in reports  # and the result follows
    changes = [b for b in fleet.benign if b.kind == "reagent_lot_change"]
    lots = [r for r in reports if r[2] == "reagent"]
    assert [(r[0], r[1]) for r in lots] == sorted((b.start, b.device_key) for b in changes)
    per_device = {key: [r[3] for r in lots if r[1] == key] for key in fleet.devices}
    assert all(len(set(named)) == len(named) for named in per_device.values())  # each change names a new lot


def test_reagent_lot_change_steps_the_ise_level_for_good(
        fleet: Scenario, series: dict[str, dict[str, list[float | int]]]) -> None:
    change = next(b for b in fleet.benign if b.kind == "reagent_lot_change")
    step = float(change.detail.split()[1])
    ise = series[change.device_key]["ise_na_mv"]
    i = fleet.index(change.start)
    calm = [k for k in range(i - 240, i + 240) if abs(ise[k] - statistics.median(ise[i - 240:i])) < 5
            or abs(ise[k] - statistics.median(ise[i:i + 240])) < 5]
    before = statistics.mean(ise[k] for k in calm if k < i)
    after = statistics.mean(ise[k] for k in calm if k >= i)
    assert after - before == pytest.approx(step, abs=0.3)


def test_the_lab_is_busy_on_weekday_shifts_and_the_test_counter_only_goes_up(
        fleet: Scenario, series: dict[str, dict[str, list[float | int]]]) -> None:
    monday = week_start(fleet.start + timedelta(days=1))
    assert monday.astimezone(UTC).weekday() == 6 and monday.astimezone(UTC).hour == 16  # 00:00 in Shanghai
    local = datetime(2026, 3, 2, 10, 0)  # Monday 10:00, naive = local wall time
    assert workload(local) == 1.0 > workload(local.replace(hour=22)) < 0.1
    assert workload(local + timedelta(days=5)) == pytest.approx(0.5)  # Saturday morning
    assert workload(local + timedelta(days=6)) < 0.1  # Sunday
    counter = series[fleet.devices[0]]["test_count"]
    assert all(b >= a for a, b in zip(counter, counter[1:], strict=False))
    day = [counter[i + 1] - counter[i] for i in range(0, 1440 - 1)]
    assert sum(day) > 3000


def test_planned_maintenance_is_declared_and_its_readings_are_odd(
        fleet: Scenario, series: dict[str, dict[str, list[float | int]]]) -> None:
    service = next(b for b in fleet.benign if b.kind == "planned_maintenance")
    assert service.declared and timedelta(hours=2) <= service.end - service.start <= timedelta(hours=4)
    temp = values(series, fleet, service.device_key, "reaction_disk_temp", service.start, service.end)
    assert min(temp) < 30.0  # the heater was off
    counter = series[service.device_key]["test_count"]
    assert counter[fleet.index(service.end) - 1] == counter[fleet.index(service.start)]  # no tests while serviced


def test_counter_stall_stops_the_test_counter_in_the_shift_and_it_runs_again_after(
        fleet: Scenario, series: dict[str, dict[str, list[float | int]]]) -> None:
    fault = window(fleet, "counter_stall")
    lab = timezone(timedelta(hours=fleet.utc_offset_h))
    start = fault.start.astimezone(lab)
    assert start.weekday() < 5 and 9 <= start.hour and fault.end.astimezone(lab).hour <= 17  # in the day shift
    counter = series[fault.device_key]["test_count"]
    i, j = fleet.index(fault.start), fleet.index(fault.end)
    week_before = counter[j - 7 * 1440] - counter[i - 7 * 1440]  # the same hours a week earlier
    assert counter[j] - counter[i] <= 0.1 * week_before + 2
    assert counter[j + 60] - counter[j] > 100  # repaired: tests run again (the shift may end within the hour)
