"""Slow drifts, settled steps, on/off points and counters: the production detector's maintenance cues."""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable

import pytest

from models.anomaly import make_detector, production_detector
from models.anomaly.base import Detector
from models.anomaly.context import ContextLikelihood
from models.anomaly.cues import drift_cue

T0 = 1_700_000_000.0
LEARN = 3600  # one hour of 37.0 +/- 0.05 degC at 1 s polling


def _incubator(det: Detector, shape: Callable[[int], float], n: int, seed: int) -> list[int]:
    """Return the seconds (after the learning hour) at which ``37 + shape(j) + noise`` alerted."""
    rng = random.Random(seed)
    for i in range(LEARN):
        det.learn_one(37.0 + rng.gauss(0.0, 0.05), T0 + i)
    return [j for j in range(n)
            if det.alert(det.score_learn_one(37.0 + shape(j) + rng.gauss(0.0, 0.05), T0 + LEARN + j))]


def _drift_cue_first_hot(rate: float, seed: int, n: int = 3600) -> int | None:
    """Second at which the drift cue alone first reaches 0.5 on a ramp of ``rate`` degC/min."""
    det = production_detector()
    assert isinstance(det, ContextLikelihood)
    rng = random.Random(seed)
    for i in range(LEARN):
        det.learn_one(37.0 + rng.gauss(0.0, 0.05), T0 + i)
    for j in range(n):
        x = 37.0 + rate * j / 60.0 + rng.gauss(0.0, 0.05)
        if drift_cue(det, x, det._n)[0] >= 0.5:
            return j
        det.learn_one(x, T0 + LEARN + j)
    return None


# delay of the drift cue itself (s from the start of the ramp), measured over seeds 0..19:
# 0.5 degC/min ~90 s (max 97), 0.1 degC/min ~200 s (max 208); bounds with a margin
@pytest.mark.parametrize(("rate", "bound"), [(0.5, 110), (0.1, 230), (0.02, 1200)])
def test_drift_cue_delay_is_bounded(rate: float, bound: int) -> None:
    for seed in range(5):
        hot = _drift_cue_first_hot(rate, seed)
        assert hot is not None and hot <= bound, (seed, hot)


def test_drift_keeps_alerting_where_the_old_detector_went_quiet() -> None:
    ramp = lambda j: 0.1 * j / 60.0  # noqa: E731
    with_drift = _incubator(production_detector(), ramp, 3600, 1)
    without = _incubator(make_detector("production", drift_z=0.0), ramp, 3600, 1)
    assert len(without) <= 2  # the level cue re-learns the ramp as it goes
    assert len(with_drift) >= 15
    assert all(b - a <= 900 for a, b in zip(with_drift, with_drift[1:], strict=False))


def test_step_alerts_once_and_the_drift_cue_adds_nothing() -> None:
    for size in (0.25, 1.0, 10.0):
        for seed in range(4):
            step = _incubator(production_detector(), lambda j, s=size: s, 2400, seed)
            old = _incubator(make_detector("production", drift_z=0.0), lambda j, s=size: s, 2400, seed)
            assert step == old and step and step[0] <= 30, (size, seed, step)


def test_drift_back_into_the_band_ends_the_excursion() -> None:
    # up at 0.1 degC/min for 5 min, back down as fast, then normal again
    def shape(j: int) -> float:
        return 0.1 / 60.0 * (j if j < 300 else max(600 - j, 0))

    alerts = _incubator(production_detector(), shape, 3600, 2)
    assert alerts and all(j < 700 for j in alerts)


def _noise(kind: str, n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    if kind == "iid":
        return [37.0 + rng.gauss(0.0, 0.05) for _ in range(n)]
    if kind.startswith("ar"):
        phi, y, out = float(kind[2:]) / 100.0, 0.0, []
        for _ in range(n):
            y = phi * y + rng.gauss(0.0, 1.0)
            out.append(100.0 + y)
        return out
    if kind == "seasonal":
        return [50.0 + 10.0 * math.sin(2 * math.pi * i / 288) + rng.gauss(0.0, 1.0) for i in range(n)]
    return [10.0 + rng.gauss(0.0, 1.0) * (8.0 if rng.random() < 0.02 else 1.0) for _ in range(n)]  # heavy


@pytest.mark.parametrize("kind", ["iid", "ar95", "ar99", "seasonal", "heavy"])
def test_nab_like_noise_gets_no_drift_alarm(kind: str) -> None:
    """On stationary noise (also wandering AR(1), daily cycles, heavy tails) the drift cue adds no alert."""
    stream = _noise(kind, 20_000, 3)
    scores = {}
    for params in ({}, {"drift_z": 0.0}):
        det = make_detector("production", **params)
        scores[bool(params)] = [det.alert(det.score_learn_one(x, 300.0 * i)) for i, x in enumerate(stream)]
    assert scores[False] == scores[True]
    assert sum(scores[False]) <= 6


def test_on_off_point_that_becomes_analog_is_scored_again() -> None:
    det = production_detector()
    rng = random.Random(4)
    for i in range(2000):
        det.learn_one(float(rng.random() < 0.3), float(i))
    assert det.score_one(1.0, 2000.0) == 0.0
    assert det.alert(det.score_one(250.0, 2000.0))  # a third value: no longer an on/off point


def test_counter_that_moves_both_ways_is_scored_again() -> None:
    det = production_detector()
    for i in range(1000):
        det.learn_one(float(i // 3), float(i))
    assert det.score_one(5000.0, 1000.0) == 0.0  # a counter may jump
    rng = random.Random(8)
    for i in range(1000, 3000):
        det.learn_one(333.0 + rng.gauss(0.0, 1.0), float(i))  # now it wanders both ways: a plain level
    assert det.alert(det.score_one(5000.0, 3000.0))


def test_two_valued_stream_other_than_on_off_is_still_scored() -> None:
    # spikes of one height (NAB's art_increase_spike_density) are a pattern worth scoring
    det = make_detector("production", kinds=True)
    for i in range(3000):
        det.learn_one(20.0 if i % 100 == 0 else 0.0, 300.0 * i)
    scores = [det.score_learn_one(20.0 if i % 3 == 0 else 0.0, 300.0 * (3000 + i)) for i in range(60)]
    assert max(scores) >= det.threshold


def test_a_steady_coarse_reading_that_creeps_one_way_is_a_drift_once_counters_are_ruled_out() -> None:
    # A bath at exactly 37.0 (read at 0.1 degC) for an hour, then +0.1 every minute; one reading per second. By its
    # values alone this is a coarse counter (scored 0); a caller that knows it is a temperature says so.
    stream = [37.0] * 3600 + [round(37.0 + 0.1 * (i // 60), 1) for i in range(1800)]

    def hot(det: Detector) -> list[int]:
        return [i for i, x in enumerate(stream) if det.score_learn_one(x, float(i)) >= det.threshold]

    assert hot(production_detector()) == []
    measured = production_detector()
    measured.counters = False  # type: ignore[attr-defined]
    first = hot(measured)
    assert first and 3600 <= first[0] <= 3660  # at the first step


def test_kinds_and_drift_can_be_switched_off() -> None:
    on, off = production_detector(), make_detector("production", kinds=False, drift_z=0.0)
    for det in (on, off):
        for i in range(2000):
            det.learn_one(0.0, float(i))  # a pump that stayed off so far
    assert on.score_one(1.0, 2000.0) == 0.0  # switching on is its nature
    assert off.alert(off.score_one(1.0, 2000.0))  # a plain constant stream that moved


def test_old_checkpoint_without_the_new_state_restores_and_scores() -> None:
    det = production_detector()
    rng = random.Random(6)
    for i in range(1500):
        det.learn_one(37.0 + rng.gauss(0.0, 0.05), float(i))
    new = ("drift_", "kinds", "counter_ratio", "_d", "_nv", "_v0", "_v1", "_prev", "_inc", "_dec")
    old = ContextLikelihood.__new__(ContextLikelihood)
    old.__dict__.update({k: v for k, v in vars(det).items() if not k.startswith(new)})
    restored = pickle.loads(pickle.dumps(old, protocol=pickle.HIGHEST_PROTOCOL))
    assert isinstance(restored, ContextLikelihood) and restored.drift_z == det.drift_z
    scores = [restored.score_learn_one(37.0 + rng.gauss(0.0, 0.05), float(1500 + i)) for i in range(3000)]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert restored.alert(restored.score_one(45.0, 4500.0))


def test_production_detector_pickles_with_the_new_state() -> None:
    det = production_detector()
    for i in range(500):
        det.learn_one(37.0 + 0.01 * (i % 7), float(i))
    copy = pickle.loads(pickle.dumps(det))
    assert vars(copy) == vars(det)


def test_baseline_is_not_stuck_by_a_small_lasting_shift() -> None:
    # 1.5 band deviations: not an excursion, but out of the freeze zone: the band still follows, slowly
    det = production_detector()
    assert isinstance(det, ContextLikelihood)
    rng = random.Random(12)
    for i in range(40_000):
        det.learn_one(37.0 + (0.075 if i >= 4000 else 0.0) + rng.gauss(0.0, 0.05), float(i))
    assert abs(det._db - 37.075) < 0.5 * 0.05
