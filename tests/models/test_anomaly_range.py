"""A bursty stream's quarter-hour medians against the past week's range: a clogging sample probe alerts."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta

from models.anomaly import make_detector, production_detector
from models.anomaly.envelope import RangeCue, binomial_tail
from protocols.simulators.analyzer_behaviour import PlacedFault, Scenario, device_series, scenario

PROBE = "sample_probe_pressure"
CLOG_START = datetime(2026, 1, 13, 1, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Shanghai, the second week


def probe_week(*, clog: bool) -> tuple[Scenario, list[float]]:
    """Ten days of one analyzer's probe pressure (a reading a minute), optionally with a 30-hour clog."""
    faults = [PlacedFault(0, "probe_clog", CLOG_START, 30 * 60, 10.0)] if clog else []
    sc = scenario(7, devices=1, days=10, faults=faults, routine=False)
    return sc, [float(v) for v in device_series(sc, sc.devices[0])[PROBE]]


def alert_times(sc: Scenario, values: list[float], **params: int) -> list[datetime]:
    """When the production detector (with ``params``) alerts on the stream, after its first day."""
    det = make_detector("production", **params)
    t0 = sc.start.timestamp()
    out = []
    for i, x in enumerate(values):
        if det.alert(det.score_learn_one(x, t0 + 60.0 * i)) and i >= 1440:
            out.append(sc.at(i))
    return out


def test_binomial_tail_matches_the_sum_of_its_terms() -> None:
    assert binomial_tail(0, 8, 0.3) == 1.0
    assert binomial_tail(9, 8, 0.3) == 0.0
    assert math.isclose(binomial_tail(8, 8, 0.5), 0.5**8)
    assert math.isclose(binomial_tail(7, 8, 0.5), 9 * 0.5**8)


def test_a_probe_with_its_daily_busy_idle_rhythm_raises_no_alert() -> None:
    sc, values = probe_week(clog=False)
    assert alert_times(sc, values) == []


def test_a_clogging_probe_alerts_while_it_works_and_the_range_cue_is_what_sees_it() -> None:
    sc, values = probe_week(clog=True)
    fault = sc.faults[0]
    seen = alert_times(sc, values)
    assert seen, "the clog went unseen"
    assert fault.start <= seen[0] <= fault.end, seen
    # Reading by reading the clog hides in the busy minutes' spread: without the range cue nothing is seen in time.
    unseen = [at for at in alert_times(sc, values, range_recent=0) if fault.start <= at <= fault.end]
    assert unseen == []


def test_one_bucket_above_the_week_is_a_busy_morning_several_are_a_fault() -> None:
    cue = RangeCue(window=86400.0 * 3)  # the range leaves out the last two hours: 8 buckets can be flagged
    t = 0.0
    day = [5.0 if 8 <= h < 17 else 1.0 for h in range(24)]
    for _ in range(2):  # two days: busy at 5 in the day, 1 at night, four readings a quarter hour
        for h in range(24):
            for _ in range(16):
                cue.step(day[h], t, True)
                t += 225.0
    one = pickle.loads(pickle.dumps(cue))
    scores_one = [one.step(v, t + 225.0 * k, True) for k, v in enumerate([5.5] * 4 + [5.0] * 40)]
    assert max(scores_one) < 0.5  # one quarter hour at a new high
    scores_many = [cue.step(6.0, t + 225.0 * k, True) for k in range(40)]  # ten quarter hours above the range
    assert max(scores_many) >= 0.75


def test_score_one_changes_nothing() -> None:
    sc, values = probe_week(clog=True)
    det = production_detector()
    t0 = sc.start.timestamp()
    start = sc.index(CLOG_START)
    assert sc.faults[0].end - CLOG_START > timedelta(minutes=601)  # the reading scored below is the clog's
    for i, x in enumerate(values[: start + 600]):
        det.score_learn_one(x, t0 + 60.0 * i)
    before = pickle.dumps(det)
    at = t0 + 60.0 * (start + 600)
    first = det.score_one(values[start + 600], at + 900.0)  # a reading that would close a bucket
    assert det.score_one(values[start + 600], at + 900.0) == first
    assert pickle.dumps(det) == before
    assert det.score_learn_one(values[start + 600], at + 900.0) == first
