"""The production detector on analyzer rhythms and instrument context (issue #14): what must and must not alert."""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable

from models.anomaly import production_detector
from models.anomaly.base import Detector
from models.anomaly.cues import expected_deviation
from protocols.simulators.analyzer_behaviour import poisson

MINUTE = 60.0
DAY = 1440
T0 = 1_767_542_400.0  # 2026-01-05 00:00 UTC, a Monday (the weekly rhythm below is in UTC)


def _alert_days(det: Detector, value: Callable[[int, random.Random], float], days: int, seed: int = 1,
                ) -> dict[int, list[int]]:
    """Feed one reading a minute for ``days`` days; return {day: [minute of day that alerted, ...]}."""
    rng = random.Random(seed)
    out: dict[int, list[int]] = {}
    for i in range(days * DAY):
        x = value(i, rng)
        if det.alert(det.score_learn_one(x, T0 + MINUTE * i)):
            out.setdefault(i // DAY, []).append(i % DAY)
    return out


def _calibration(i: int, rng: random.Random) -> float:
    """An ISE potential, -20 mV +/- 0.15, that reads its calibrant (+12 mV) 06:05-06:20 every day."""
    x = -20.0 + rng.gauss(0.0, 0.15)
    return x + 12.0 if 365 <= i % DAY < 380 else x


def _busy(i: int) -> bool:
    """Weekdays 08:00-17:00 (UTC here): the lab works; nights and weekends are quiet."""
    return (i // DAY) % 7 < 5 and 8 * 60 <= i % DAY < 17 * 60


def _probe(i: int, rng: random.Random, busy_level: float = 28.0) -> float:
    """A sample probe's aspiration pressure: high and noisy while the lab works, low and calm otherwise."""
    return busy_level + rng.gauss(0.0, 1.5) if _busy(i) else 2.0 + rng.gauss(0.0, 0.3)


def test_daily_calibration_step_stops_alerting_after_a_few_days() -> None:
    alerts = _alert_days(production_detector(), _calibration, 10)
    late = {day: minutes for day, minutes in alerts.items() if day >= 3}
    assert not late, f"a daily 15-minute calibration step still alerts after three days: {late}"


def test_weekend_quiet_rhythm_does_not_alert_on_monday_morning() -> None:
    det = production_detector()
    alerts = _alert_days(det, _probe, 15)
    assert 14 not in alerts, f"the third Monday's shift start alerted at minutes {alerts.get(14)}"
    late = {day: minutes for day, minutes in alerts.items() if day >= 8}
    assert not late, f"the weekly rhythm still alerts in its second week: {late}"


def test_change_of_rhythm_during_busy_hours_still_alerts() -> None:
    det = production_detector()
    _alert_days(det, _probe, 14)
    rng = random.Random(9)
    hits = []
    for i in range(14 * DAY, 15 * DAY):
        x = _probe(i, rng, busy_level=38.0)  # a clogging probe: higher only while it aspirates
        if det.alert(det.score_learn_one(x, T0 + MINUTE * i)):
            hits.append(i % DAY)
    assert hits and all(8 * 60 <= m < 17 * 60 + 30 for m in hits), f"alerts at {hits[:5]}"


def test_maintenance_readings_are_neither_scored_nor_learnt() -> None:
    det = production_detector()
    rng = random.Random(2)
    for i in range(3000):
        det.learn_one(37.0 + rng.gauss(0.0, 0.05), T0 + MINUTE * i)
    before = pickle.dumps(det)
    for j, x in enumerate([25.0, 0.0, 1e6, 37.0, -5.0] * 40):
        t = T0 + MINUTE * (3000 + j)
        assert det.score_learn_one(x, t, maintenance=True) == 0.0
        assert det.score_one(x, t, maintenance=True) == 0.0
        det.learn_one(x, t, maintenance=True)
    assert pickle.dumps(det) == before, "a maintenance reading changed the detector's state"


def test_rebaseline_suppresses_a_level_step() -> None:
    def run(rebaseline: bool) -> list[int]:
        det = production_detector()
        rng = random.Random(4)
        for i in range(3 * DAY):
            det.learn_one(-20.0 + rng.gauss(0.0, 0.15), T0 + MINUTE * i)
        if rebaseline:
            det.rebaseline(T0 + MINUTE * 3 * DAY)  # a new reagent lot: its standard reads 2.5 mV higher
        hits = []
        for i in range(3 * DAY, 3 * DAY + 360):  # the six hours after the step
            if det.alert(det.score_learn_one(-17.5 + rng.gauss(0.0, 0.15), T0 + MINUTE * i)):
                hits.append(i)
        return hits

    assert run(rebaseline=False), "the control: an unannounced 16-sigma step must alert"
    assert run(rebaseline=True) == [], "a re-baselined step still alerted"


def test_rebaseline_then_a_fault_still_alerts() -> None:
    det = production_detector()
    rng = random.Random(5)
    for i in range(2 * DAY):
        det.learn_one(-20.0 + rng.gauss(0.0, 0.15), T0 + MINUTE * i)
    det.rebaseline(T0 + MINUTE * 2 * DAY)
    for i in range(2 * DAY, 3 * DAY):
        det.learn_one(-18.0 + rng.gauss(0.0, 0.15), T0 + MINUTE * i)
    assert det.alert(det.score_one(-28.0, T0 + MINUTE * 3 * DAY)), "a gross excursion after a re-baseline"


def _aspirating_probe(i: int, rng: random.Random) -> float:
    """A probe whose pressure follows the tests run each minute: a shift ramping up 08:00-08:30 on weekdays."""
    minute, weekday = i % DAY, (i // DAY) % 7 < 5
    load = min(1.0, max(0.0, (minute - 480) / 30), max(0.0, (1020 - minute) / 30)) if weekday else 0.0
    duty = min(1.0, poisson(rng, 12.0 * (0.05 + 0.95 * load)) / 12.0)
    return 2.0 + 26.0 * duty + rng.gauss(0.0, 0.3 + 1.2 * duty)


def test_a_noisy_shift_start_is_routine_from_the_second_morning() -> None:
    # The first morning is the learning period's (cloud/alerts/policy.py); from the second on, the surprise of a
    # noisy shift starting at the same time is usual. Learning it only from reading 2,000 (and in 6-minute slots
    # without neighbours, while the ramp's noise lands a few minutes either side each day) alarmed on every
    # device's Tuesday to Thursday mornings on the analyzer bench.
    for seed in (1, 2, 3):
        alerts = _alert_days(production_detector(), _aspirating_probe, 5, seed=seed)
        later = {day: minutes for day, minutes in alerts.items() if day >= 1}
        assert not later, f"seed {seed}: the shift start alerted after its first day: {later}"


def test_a_service_on_a_quiet_sunday_is_measured_against_last_sunday() -> None:
    # After a service the next readings re-baseline the levels by their deviation from what was expected; on a
    # Sunday that is last Sunday's quiet, not the weekday profile's busy shift (which moved every level 20 kPa
    # down and alarmed that evening and on Monday).
    det = production_detector()
    rng = random.Random(6)
    sunday = 13 * DAY
    for i in range(sunday + 10 * 60):
        det.learn_one(_probe(i, rng), T0 + MINUTE * i)
    for i in range(sunday + 10 * 60, sunday + 13 * 60):
        det.learn_one(37.0, T0 + MINUTE * i, maintenance=True)  # serviced 10:00-13:00: odd readings
    det.rebaseline(T0 + MINUTE * (sunday + 13 * 60))
    hits = []
    for i in range(sunday + 13 * 60, sunday + 2 * DAY):  # the rest of Sunday and Monday's shift
        if det.alert(det.score_learn_one(_probe(i, rng), T0 + MINUTE * i)):
            hits.append((i // DAY, i % DAY))
    assert not hits, f"after a Sunday service the usual rhythm alerted (day, minute): {hits[:5]}"


def _errors(i: int, rng: random.Random) -> float:
    """Error codes a minute: a few a day, more while the lab works."""
    return float(poisson(rng, 0.024 if _busy(i) else 0.004))


def test_two_lone_errors_are_no_drift_but_a_burst_alerts() -> None:
    det = production_detector()
    rng = random.Random(7)
    for i in range(7 * DAY + 13 * 60):
        det.learn_one(_errors(i, rng), T0 + MINUTE * i)
    start = 7 * DAY + 13 * 60  # Monday 13:00
    lone = [det.score_learn_one(1.0 if k in (0, 3) else 0.0, T0 + MINUTE * (start + k)) for k in range(30)]
    assert not any(det.alert(s) for s in lone), f"two errors three minutes apart alerted: {max(lone):.3f}"
    burst = [det.score_learn_one(float(1 + k % 3), T0 + MINUTE * (start + 30 + k)) for k in range(20)]
    assert any(det.alert(s) for s in burst), "20 minutes of 1-3 errors a minute did not alert"


def _alerts_with_daily_calibration(value: Callable[[int, random.Random], float], days: int, seed: int,
                                   ) -> list[tuple[int, int]]:
    """(day, minute) of each alert of a stream whose device calibrates 06:05-06:20 every day: the cloud holds the
    device's readings back meanwhile and re-baselines each of its streams after it (it knows the device, not the
    module the calibration concerns)."""
    det = production_detector()
    rng = random.Random(seed)
    hits = []
    for i in range(days * DAY):
        x, t, minute = value(i, rng), T0 + MINUTE * i, i % DAY
        if 365 <= minute < 380:
            det.learn_one(x, t, maintenance=True)
            continue
        if minute == 380:
            det.rebaseline(t)
        if det.alert(det.score_learn_one(x, t)):
            hits.append((i // DAY, minute))
    return hits


def test_the_devices_daily_calibration_leaves_a_stream_it_did_not_move_as_it_was() -> None:
    # Re-based every morning by its own noise, the probe forgot what its busy hours look like and a clog on the
    # third Monday went unseen; a heater drifting since 04:00 was taken as the new normal at 06:20.
    def clogging(i: int, rng: random.Random) -> float:
        return _probe(i, rng, busy_level=38.0 if i // DAY == 14 else 28.0)

    clog = [m for day, m in _alerts_with_daily_calibration(clogging, 15, seed=3) if day == 14]
    assert clog and 8 * 60 <= clog[0] < 9 * 60, f"the clog on the calibrated device alerted at {clog[:3]}"

    def drifting(i: int, rng: random.Random) -> float:
        minute, x = i % DAY, 37.0 + rng.gauss(0.0, 0.05)
        return x + 0.5 * min(1.0, (minute - 240) / 360) if i // DAY == 6 and minute >= 240 else x

    drift = [m for day, m in _alerts_with_daily_calibration(drifting, 7, seed=3) if day == 6]
    assert any(m > 380 for m in drift), f"the heater's drift was re-based away at the calibration: {drift}"


def test_the_same_time_last_week_is_not_moved_by_this_weeks_readings() -> None:
    # "Last week" was a mean the slot's current readings already moved: a probe reading 10 kPa high for a few
    # minutes made last Tuesday 10:00 read higher and explained itself away.
    det = production_detector()
    rng = random.Random(8)
    tuesday = 15 * DAY  # the third Tuesday
    for i in range(tuesday + 10 * 60):
        det.learn_one(_probe(i, rng), T0 + MINUTE * i)
    deviations = []
    for i in range(tuesday + 10 * 60, tuesday + 10 * 60 + 6):  # one six-minute slot of a clogging probe
        t = T0 + MINUTE * i
        deviations.append(expected_deviation(det, 38.0, t))  # type: ignore[arg-type]
        det.learn_one(38.0, t)
    assert min(deviations) > 8.0, f"deviations from the expected pressure: {[round(d, 1) for d in deviations]}"


def test_two_errors_in_one_minute_are_rare_not_a_fault_and_a_burst_is_seen_in_minutes() -> None:
    # Judged as a level, an error count's first "2" on its second day was a 20-sigma outlier (0.58-0.67 on these
    # seeds); as events it is two where 0.1 are usual in ten minutes: rare, not a fault. A burst of 1-3 a minute
    # is ten times that within minutes.
    for seed in (1, 2, 3):
        det = production_detector()
        rng = random.Random(seed)
        start = DAY + 13 * 60  # Tuesday 13:00
        for i in range(start):
            det.learn_one(_errors(i, rng), T0 + MINUTE * i)
        pair = det.score_learn_one(2.0, T0 + MINUTE * start)
        quiet = [det.score_learn_one(0.0, T0 + MINUTE * (start + k)) for k in range(1, 60)]
        assert not det.alert(max([pair, *quiet])), f"seed {seed}: two errors in one minute scored {pair:.3f}"
        burst = [det.alert(det.score_learn_one(float(1 + k % 3), T0 + MINUTE * (start + 60 + k))) for k in range(20)]
        late = burst.index(True) if any(burst) else 20
        assert late < 5, f"seed {seed}: a burst of errors alerted after {late} min"
