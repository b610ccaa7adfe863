"""Counters scored by their rate, consumed levels by their consumption: a stalled or racing analyzer alerts."""

from __future__ import annotations

import pickle
import random
from collections.abc import Iterator

from models.anomaly import Detector, production_detector
from models.anomaly.rate import COUNTER, LEVEL, ON_OFF, PLAIN, stream_kind

DAY = 86400
T0 = 1_767_225_600  # a UTC midnight (2026-01-01, the cloud tests' T0)
WORKING = (8, 17)
DAYS = 7
FAULT = (6 * DAY + 10 * 3600, 6 * DAY + 12 * 3600)  # day 7, 10:00-12:00


def analyzer_counter(*, speed: float = 1.0, seed: int = 1) -> Iterator[tuple[float, float]]:
    """A test counter read every minute for a week: about 120 tests an hour in the day shift, a few at night.

    In the fault window the rate is multiplied by speed (0 = the analyzer stopped, 3 = racing ahead).
    """
    rng = random.Random(seed)
    count = 123_456
    for i in range(DAYS * 1440):
        t = 60 * i
        busy = WORKING[0] <= (t % DAY) / 3600 < WORKING[1]
        per_minute = 2.0 if busy else 0.05
        if FAULT[0] <= t < FAULT[1]:
            per_minute *= speed
        count += sum(rng.random() < per_minute / 8 for _ in range(8))
        yield T0 + t, float(count)


def alert_hours(det: Detector, stream: Iterator[tuple[float, float]]) -> list[float]:
    """The hours (since T0) at which the detector alerted."""
    return [round((t - T0) / 3600, 2) for t, x in stream if det.alert(det.score_learn_one(x, t))]


def counter_detector(unit_kind: str = "counter") -> Detector:
    det = production_detector()
    det.unit_kind = unit_kind  # type: ignore[attr-defined]  # as cloud/alerts/streams.py apply_unit sets it
    return det


def test_a_test_counter_with_a_working_hours_rhythm_raises_no_alert() -> None:
    assert alert_hours(counter_detector(), analyzer_counter()) == []
    assert alert_hours(production_detector(), analyzer_counter(seed=2)) == []  # no unit: its shape says counter


def test_a_counter_that_stops_for_two_hours_in_the_shift_alerts_within_the_hour() -> None:
    for det in (counter_detector(), production_detector()):
        hours = alert_hours(det, analyzer_counter(speed=0.0))
        assert hours and FAULT[0] / 3600 <= hours[0] <= FAULT[0] / 3600 + 1, hours


def test_a_counter_racing_at_three_times_its_usual_rate_alerts() -> None:
    hours = alert_hours(counter_detector(), analyzer_counter(speed=3.0))
    assert hours and FAULT[0] / 3600 <= hours[0] <= FAULT[0] / 3600 + 1, hours


def test_counters_were_silenced_before_the_rate_was_scored() -> None:
    # Counters used to score 0 whatever they did (their changes taken for their nature): a stall went unseen.
    det = counter_detector()
    scores = [det.score_learn_one(x, t) for t, x in analyzer_counter(speed=0.0)]
    assert max(scores) >= det.threshold  # the stall is no longer silent


def test_a_lamp_hours_counter_rising_steadily_is_quiet_and_a_reset_is_a_restart() -> None:
    det = counter_detector()
    hours = []
    for i in range(DAYS * 144):  # every 10 min, 0.1 h resolution; the lamp replaced (counter reset) on day 4
        t = T0 + 600 * i
        value = round(1234.5 + i / 6, 1) if i < 4 * 144 else round((i - 4 * 144) / 6, 1)
        if det.alert(det.score_learn_one(value, t)):
            hours.append(i)
    assert hours == []


def test_a_counter_reset_and_a_gap_are_restarts_not_rates() -> None:
    det = counter_detector()
    stream = list(analyzer_counter())
    for t, x in stream[:3 * 1440]:
        det.learn_one(x, t)
    # rolled over to 0 (a negative rate), then three hours of readings missing (a rate spread over a gap)
    rest = [(t, x - stream[3 * 1440][1]) for t, x in stream[3 * 1440:]]
    rest = rest[:600] + rest[780:]
    assert [t for t, x in rest if det.alert(det.score_learn_one(x, t))] == []


def reagent(*, drop: float = 0.0, pause: bool = False, seed: int = 3) -> Iterator[tuple[float, float]]:
    """Reagent left in %, read every minute: consumed in the day shift, a trickle at night, refilled near 15 %.

    On day 7 from 10:00 a sudden drop of `drop` % (a leak, a bottle knocked over), or with `pause` two hours in
    which nothing is consumed (a lull in the work).
    """
    rng = random.Random(seed)
    level = 100.0
    for i in range(DAYS * 1440):
        hour = (i % 1440) / 60
        use = (0.06 if WORKING[0] <= hour < WORKING[1] else 0.003) * rng.uniform(0.5, 1.5)
        if not (pause and FAULT[0] <= 60 * i < FAULT[1]):
            level -= use
        if level < 15.0:
            level = 100.0
        if 60 * i == FAULT[0]:
            level -= drop
        yield T0 + 60.0 * i, round(level, 1)


def test_a_reagent_level_consumed_and_refilled_is_quiet_and_a_sudden_drop_alerts() -> None:
    assert alert_hours(counter_detector("level"), reagent()) == []
    assert alert_hours(production_detector(), reagent()) == []  # no unit: falling one way, its shape says level
    hours = alert_hours(counter_detector("level"), reagent(drop=20.0))
    assert hours and FAULT[0] / 3600 <= hours[0] <= FAULT[0] / 3600 + 0.5, hours


def test_a_reagent_level_is_not_silenced_as_a_counter_used_to_be() -> None:
    det = counter_detector("level")
    scores = [det.score_learn_one(x, t) for t, x in reagent(drop=20.0)]
    assert max(scores) >= det.threshold


def test_a_level_is_not_mistaken_for_a_counter_the_unit_decides_over_the_shape() -> None:
    # Filled one way (a waste container in %, emptied now and then), with a two-hour lull in the day shift: by its
    # shape alone a counter that stalled (alert); its unit says level, and a level alerts only on faster use.
    filled = [(t, round(100.0 - x, 1)) for t, x in reagent(pause=True)]
    stalled = alert_hours(production_detector(), iter(filled))
    assert stalled and FAULT[0] / 3600 <= stalled[0] <= FAULT[1] / 3600, stalled
    assert alert_hours(counter_detector("level"), iter(filled)) == []
    assert alert_hours(counter_detector("level"), reagent(pause=True)) == []  # consumed one way: the same


def test_stream_kinds_by_unit_and_shape() -> None:
    one_way_up = {"nv": 3, "v0": 5.0, "v1": 6.0, "inc": 500, "dec": 1, "ratio": 100, "one_way": True}
    assert stream_kind(**one_way_up, unit_kind="") == COUNTER  # no unit: its shape says counter
    assert stream_kind(**one_way_up, unit_kind="level") == LEVEL
    assert stream_kind(**{**one_way_up, "one_way": False}, unit_kind="") == PLAIN  # °C: a drift, never a counter
    flat = {"nv": 1, "v0": 42.0, "v1": 0.0, "inc": 0, "dec": 0, "ratio": 100, "one_way": True}
    assert stream_kind(**flat, unit_kind="counter") == COUNTER  # a counter that has not moved yet: rate 0
    assert stream_kind(**flat, unit_kind="") == PLAIN
    both_ways = {"nv": 3, "v0": 0.0, "v1": 2.0, "inc": 300, "dec": 290, "ratio": 100, "one_way": True}
    assert stream_kind(**both_ways, unit_kind="counter") == PLAIN  # errors this minute: a tally, not a counter
    assert stream_kind(nv=2, v0=0.0, v1=1.0, inc=5, dec=4, ratio=100, one_way=True, unit_kind="counter") == ON_OFF


def test_the_rate_state_survives_a_checkpoint_and_scores_identically() -> None:
    stream = list(analyzer_counter(speed=0.0))
    det = counter_detector()
    for t, x in stream[:5 * 1440]:
        det.learn_one(x, t)
    copy = pickle.loads(pickle.dumps(det, protocol=pickle.HIGHEST_PROTOCOL))
    assert [det.score_learn_one(x, t) for t, x in stream[5 * 1440:]] == \
        [copy.score_learn_one(x, t) for t, x in stream[5 * 1440:]]


def test_score_one_changes_nothing_on_a_counter() -> None:
    det = counter_detector()
    stream = list(analyzer_counter())
    for t, x in stream[:2 * 1440]:
        det.learn_one(x, t)
    before = pickle.dumps(det)
    for t, x in stream[2 * 1440:2 * 1440 + 100]:
        det.score_one(x, t)
    assert pickle.dumps(det) == before


def test_a_calibration_does_not_hold_a_counter_back() -> None:
    # The cloud re-baselines every stream of a device after its calibration; a counter is judged by its rate,
    # which no calibration steps. Held back for 30 readings, a stall that began then was reported 15 min late.
    def calibrated_daily(det: Detector) -> list[float]:
        hours = []
        for t, x in analyzer_counter(speed=0.0):
            if (t - T0) % DAY == 9 * 3600 + 55 * 60:  # five minutes before the stall
                det.rebaseline(t)
            if det.alert(det.score_learn_one(x, t)):
                hours.append(round((t - T0) / 3600, 2))
        return hours

    assert calibrated_daily(counter_detector()) == alert_hours(counter_detector(), analyzer_counter(speed=0.0))
