"""A test counter against the same quarter hour last week: stalls after the first weekend are found."""

from __future__ import annotations

import pickle
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from models.anomaly import Detector, production_detector
from models.anomaly.rate import RateCue
from protocols.simulators.analyzer_behaviour import poisson, workload

DAY = 86400
LOCAL = timezone(timedelta(hours=8))
MONDAY = int(datetime(2026, 1, 5, tzinfo=LOCAL).timestamp())  # a Monday's local midnight
DAYS = 14
TUESDAY_STALL = (8 * DAY + 10 * 3600, 8 * DAY + 12 * 3600)  # week 2, Tuesday 10:00-12:00


def lab_counter(stall: tuple[float, float] | None = None, *, seed: int = 1) -> Iterator[tuple[float, float]]:
    """Tests run since installation, read every minute for two weeks from a Monday, local time UTC+8.

    The analyzer simulator's workload (protocols/simulators/analyzer_behaviour.py): weekdays 08:00-17:00 about 12
    tests a minute, Saturday 08:00-12:00 half that, a trickle at night and on Sunday; nothing inside ``stall``.
    """
    rng = random.Random(seed)
    count = 345_678
    for i in range(DAYS * 1440):
        t = 60 * i
        run = poisson(rng, 12.0 * workload(datetime.fromtimestamp(MONDAY + t, LOCAL)))
        if stall is not None and stall[0] <= t < stall[1]:
            run = 0
        count += run
        yield MONDAY + t, float(count)


def counter_detector() -> Detector:
    det = production_detector()
    det.unit_kind = "counter"  # type: ignore[attr-defined]  # as cloud/alerts/streams.py apply_unit sets it
    det.threshold = 0.75  # the cloud's alert threshold (settings alert_threshold)
    return det


def alert_hours(det: Detector, stream: Iterator[tuple[float, float]], *, week_cue: bool = True) -> list[float]:
    """The hours since the first Monday's local midnight at which the detector alerted.

    ``week_cue`` False: the counter's rate cue is made without its comparison with last week."""
    hours = []
    for t, x in stream:
        if det.alert(det.score_learn_one(x, t)):
            hours.append(round((t - MONDAY) / 3600, 2))
        rate = det._rate  # type: ignore[attr-defined]  # made once the stream shows it is a counter
        if not week_cue and isinstance(rate, RateCue):
            rate.week_warm = 0
    return hours


def test_two_weeks_of_weekdays_a_half_saturday_and_a_quiet_sunday_raise_no_alert() -> None:
    for seed in (1, 2):
        assert alert_hours(counter_detector(), lab_counter(seed=seed)) == []


def test_a_stall_after_the_first_weekend_alerts_and_without_last_week_it_is_not_seen() -> None:
    start, end = TUESDAY_STALL[0] / 3600, TUESDAY_STALL[1] / 3600
    hours = alert_hours(counter_detector(), lab_counter(TUESDAY_STALL))
    assert hours and start <= hours[0] <= start + 1, hours
    assert all(start <= h <= end + 0.5 for h in hours), hours
    # The rhythm detector alone learnt its spread while the first weekend was news: the stall looks usual.
    assert alert_hours(counter_detector(), lab_counter(TUESDAY_STALL), week_cue=False) == []


def test_one_quiet_quarter_hour_is_not_a_stall() -> None:
    ten_minutes = (8 * DAY + 10 * 3600 + 2 * 60, 8 * DAY + 10 * 3600 + 12 * 60)  # inside one 15-min bucket
    assert alert_hours(counter_detector(), lab_counter(ten_minutes)) == []


def test_the_week_state_survives_a_checkpoint_and_scores_identically() -> None:
    readings = list(lab_counter(TUESDAY_STALL))
    det = counter_detector()
    cut = 8 * 1440  # Tuesday of week 2, 00:00: last week is in the state
    for t, x in readings[:cut]:
        det.score_learn_one(x, t)
    restored = pickle.loads(pickle.dumps(det))
    assert [det.score_learn_one(x, t) for t, x in readings[cut:]] == [
        restored.score_learn_one(x, t) for t, x in readings[cut:]]


def test_a_checkpoint_from_before_the_week_comparison_restores_and_learns_it_afresh() -> None:
    readings = list(lab_counter())
    det = counter_detector()
    for t, x in readings[:3 * 1440]:
        det.score_learn_one(x, t)
    rate = det._rate  # type: ignore[attr-defined]
    assert isinstance(rate, RateCue)
    for name in ("week_warm", "week_rate", "_wk_rate", "_wk_b", "_phi", "_phin", "_wz"):
        delattr(rate, name)  # what a cue pickled by the release before had
    restored = pickle.loads(pickle.dumps(det))
    scores = [restored.score_learn_one(x, t) for t, x in readings[3 * 1440:]]
    assert len(scores) == len(readings) - 3 * 1440
    cue = restored._rate  # type: ignore[attr-defined]
    assert cue.week_warm == 32 and cue._phin > 0  # the comparison started with the restored cue
