"""Conformance suite run over every anomaly detector (river's ``check_estimator`` in spirit).

``yield_checks(factory)`` yields one callable per check; each raises ``AssertionError`` on failure.
``factory`` builds a fresh detector with fixed hyper-parameters (and seed, where one exists).

``MAINTENANCE_CHECKS`` are what the production detector must do on top for predictive maintenance
(every stream of an analyzer is fed to it): flag a slow drift out of the normal band within a stated
delay and keep flagging it while it goes on, re-learn a drift or step that settled, and never alert on
on/off points or counters.  The simple baselines are not expected to pass them.
"""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable, Iterator, Sequence

from models.anomaly.base import Detector

__all__ = ["CHECKS", "MAINTENANCE_CHECKS", "check_detector", "yield_checks"]

Factory = Callable[[], Detector]
Series = list[tuple[float, float | None]]


def _seasonal(n: int, seed: int = 7, start: int = 0) -> Series:
    rng = random.Random(seed)
    out: Series = []
    for i in range(start, start + n):
        value = 50.0 + 10.0 * math.sin(2.0 * math.pi * i / 96.0) + rng.gauss(0.0, 1.0)
        out.append((value, 1_700_000_000.0 + 300.0 * i))
    return out


def _run(det: Detector, series: Sequence[tuple[float, float | None]]) -> list[float]:
    return [det.score_learn_one(x, t) for x, t in series]


def _state(det: Detector) -> bytes:
    return pickle.dumps(det, protocol=pickle.HIGHEST_PROTOCOL)


def _assert_scores(scores: Sequence[float], what: str) -> None:
    for s in scores:
        assert isinstance(s, float), f"{what}: score {s!r} is not a float"
        assert 0.0 <= s <= 1.0, f"{what}: score {s!r} outside [0, 1]"


def check_pickle_round_trip(factory: Factory) -> None:
    """A pickled and restored detector has identical state and produces identical next scores."""
    det = factory()
    _run(det, _seasonal(600))
    copy = pickle.loads(_state(det))
    assert type(copy) is type(det)
    assert _state(copy) == _state(det), "state changed by the pickle round trip"
    tail = _seasonal(300, start=600)
    assert _run(copy, tail) == _run(det, tail), "restored detector scores differently"


def check_deterministic(factory: Factory) -> None:
    """Two detectors built the same way score the same stream identically."""
    series = _seasonal(800)
    assert _run(factory(), series) == _run(factory(), series)


def check_score_one_is_pure(factory: Factory) -> None:
    """score_one leaves the state untouched; score_learn_one == score_one then learn_one."""
    det, twin = factory(), factory()
    for x, t in _seasonal(500):
        before = _state(det)
        s = det.score_one(x, t)
        assert _state(det) == before, "score_one changed the state"
        det.learn_one(x, t)
        assert twin.score_learn_one(x, t) == s
    assert _state(det) == _state(twin)


def check_scores_in_unit_interval(factory: Factory) -> None:
    """Scores are floats in [0, 1] on ordinary, extreme and adversarial inputs."""
    rng = random.Random(3)
    series: Series = [(rng.choice([0.0, 1e-300, -1e300, 1e300, rng.gauss(0, 1)]), None) for _ in range(400)]
    series += [(rng.expovariate(0.01) * rng.choice([-1, 1]), None) for _ in range(400)]
    _assert_scores(_run(factory(), series), "extreme values")
    _assert_scores(_run(factory(), _seasonal(600)), "seasonal")


def check_non_finite_ignored(factory: Factory) -> None:
    """NaN and +/-inf score 0.0 and leave the state unchanged, also in bursts."""
    det = factory()
    _run(det, _seasonal(400))
    before = _state(det)
    for bad in [math.nan, math.inf, -math.inf] * 50:
        assert det.score_learn_one(bad, None) == 0.0
        assert det.score_one(bad, None) == 0.0
        det.learn_one(bad, None)
    assert _state(det) == before, "a non-finite reading changed the state"
    _assert_scores(_run(det, _seasonal(200, start=400)), "after a burst of NaN")


def check_constant_series(factory: Factory) -> None:
    """A constant stream never alerts (after its first readings) and scores stay in range."""
    det = factory()
    scores = _run(det, [(42.0, 60.0 * i) for i in range(3000)])
    _assert_scores(scores, "constant")
    assert not any(det.alert(s) for s in scores[10:]), "constant stream raised an alert"
    zero = _run(factory(), [(0.0, None)] * 1000)
    assert not any(s >= 0.5 for s in zero[10:])


def check_gaps_and_repeated_timestamps(factory: Factory) -> None:
    """Gaps, repeated and backwards timestamps, and missing timestamps are accepted."""
    series = _seasonal(1200)
    odd: Series = []
    for i, (x, t) in enumerate(series):
        assert t is not None
        if 300 <= i < 310:
            continue  # a gap
        if i % 50 == 0:
            odd.append((x, t))  # a repeated timestamp
        odd.append((x, t + (7 * 86400.0 if i > 600 else 0.0)))  # a week-long gap at 600
        if i % 97 == 0:
            odd.append((x, None))
            odd.append((x, t - 3600.0))  # backwards
    _assert_scores(_run(factory(), odd), "gaps")


def _train_until_quiet(det: Detector, quiet: int = 200) -> int:
    """Feed the seasonal stream until ``quiet`` readings in a row raised no alert; return the position."""
    series = _seasonal(6000)
    run = 0
    for i, (x, t) in enumerate(series):
        run = 0 if det.alert(det.score_learn_one(x, t)) else run + 1
        if i >= 2000 and run >= quiet:
            return i + 1
    raise AssertionError("the detector never went quiet on a plain seasonal stream")


def check_step_change_relearned(factory: Factory) -> None:
    """A lasting step change (e.g. after calibration) alerts, then is learned: no alarm forever."""
    det = factory()
    start = _train_until_quiet(det)
    after = [(x + 200.0, t) for x, t in _seasonal(4000, start=start)]
    scores = _run(det, after)
    _assert_scores(scores, "step")
    assert any(det.alert(s) for s in scores[:50]), "a large step change did not alert"
    late = scores[len(scores) // 2 :]
    assert not any(det.alert(s) for s in late), "still alarming long after the step"


def check_detects_spike(factory: Factory) -> None:
    """A gross spike after a quiet stretch alerts."""
    det = factory()
    _train_until_quiet(det)
    assert det.alert(det.score_one(500.0, None)), "a gross spike did not alert"


def check_constant_memory(factory: Factory) -> None:
    """The state size does not grow with the stream (20k vs 100k readings)."""
    det = factory()
    rng = random.Random(11)
    for i in range(100_000):
        det.learn_one(rng.gauss(0.0, 1.0) + (i % 500) * 0.01, float(i))
        if i == 19_999:
            small = len(_state(det))
    large = len(_state(det))
    assert large <= small * 1.1 + 256, f"state grew from {small} to {large} bytes"


def check_clone(factory: Factory) -> None:
    """clone() returns an untrained detector with the same hyper-parameters."""
    det = factory()
    _run(det, _seasonal(300))
    assert _state(det.clone()) == _state(factory())


def check_maintenance_readings_ignored(factory: Factory) -> None:
    """Readings flagged ``maintenance=True`` score 0.0 and leave the state exactly as it was."""
    det = factory()
    _run(det, _seasonal(600))
    before = _state(det)
    for x, t in _seasonal(200, start=600):
        assert det.score_learn_one(x + 1e3, t, maintenance=True) == 0.0
        assert det.score_one(x, t, maintenance=True) == 0.0
        det.learn_one(-x, t, maintenance=True)
    assert _state(det) == before, "a maintenance reading changed the state"


def check_rebaseline(factory: Factory) -> None:
    """After ``rebaseline(t)`` a lasting step raises no alert once the detector has seen a little of it."""
    det = factory()
    start = _train_until_quiet(det)
    after = _seasonal(2000, start=start)
    det.rebaseline(after[0][1])
    scores = _run(det, [(x + 30.0, t) for x, t in after])  # 3 cycles' amplitudes: a reagent lot's offset
    _assert_scores(scores, "rebaselined step")
    late = [i for i, s in enumerate(scores[200:], 200) if det.alert(s)]
    assert not late, f"still alerting at {late[:3]} readings after a re-baselined step"


def check_river_interface(factory: Factory) -> None:
    """river's anomaly-detector interface: learn_one / score_one on a one-feature dict, as in a river pipeline."""
    from river.base import AnomalyDetector

    det, twin = factory(), factory()
    assert isinstance(det, AnomalyDetector)
    for x, t in _seasonal(300):
        det.learn_one({"value": x}, t)
        twin.learn_one(x, t)
    assert det.score_one({"value": 500.0}) == twin.score_one(500.0)
    assert _state(det) == _state(twin)


CHECKS: tuple[Callable[[Factory], None], ...] = (
    check_pickle_round_trip,
    check_deterministic,
    check_score_one_is_pure,
    check_scores_in_unit_interval,
    check_non_finite_ignored,
    check_constant_series,
    check_gaps_and_repeated_timestamps,
    check_step_change_relearned,
    check_detects_spike,
    check_constant_memory,
    check_clone,
    check_maintenance_readings_ignored,
    check_rebaseline,
    check_river_interface,
)


# --- predictive maintenance (production detector) --------------------------------------------------

INCUBATOR_LEARN = 3600  # one hour of 37.0 +/- 0.05 degC at 1 s polling before anything happens
# slow drift in degC/min -> the longest delay (s from the start of the ramp) allowed before the first alert
DRIFT_DELAYS = {0.5: 120, 0.1: 240}
DRIFT_MAX_GAP = 900  # while the drift goes on, alerts keep coming: never 15 min without one


def _incubator_alerts(det: Detector, shape: Callable[[int], float], n: int, seed: int) -> list[int]:
    """Feed the learning hour, then ``37 + shape(j) + noise`` for j < n; return the j that alerted."""
    rng = random.Random(seed)
    t0 = 1_700_000_000.0
    for i in range(INCUBATOR_LEARN):
        det.learn_one(37.0 + rng.gauss(0.0, 0.05), t0 + i)
    out = []
    for j in range(n):
        x = 37.0 + shape(j) + rng.gauss(0.0, 0.05)
        if det.alert(det.score_learn_one(x, t0 + INCUBATOR_LEARN + j)):
            out.append(j)
    return out


def check_slow_drift_flagged(factory: Factory) -> None:
    """An incubator drifting 0.5 or 0.1 degC/min alerts within DRIFT_DELAYS and keeps alerting."""
    for rate, delay in DRIFT_DELAYS.items():
        for seed in range(3):
            def ramp(j: int, r: float = rate) -> float:
                return r * j / 60.0

            alerts = _incubator_alerts(factory(), ramp, 1800, seed)
            assert alerts and alerts[0] <= delay, f"{rate} degC/min: first alert at {alerts[:1]} s > {delay} s"
            marks = [*alerts, 1800]
            gap = max(b - a for a, b in zip(marks, marks[1:], strict=False))
            assert gap <= DRIFT_MAX_GAP, f"{rate} degC/min: {gap} s without an alert while drifting"


def check_settled_drift_and_step_relearned(factory: Factory) -> None:
    """A drift that stops (or a step), then stable at the new level, alerts no more once settled."""
    shapes: dict[str, Callable[[int], float]] = {
        "ramp then stable": lambda j: min(j, 120) * 0.5 / 60.0,  # 0.5 degC/min for 2 min, then +1 degC
        "step": lambda _j: 1.0,  # calibration moved the level by 20 noise sigmas
    }
    for name, shape in shapes.items():
        for seed in range(3):
            alerts = _incubator_alerts(factory(), shape, 3600, seed)
            assert alerts and alerts[0] <= 150, f"{name}: no alert at first ({alerts[:1]})"
            late = [j for j in alerts if j >= 450]
            assert not late, f"{name}: still alerting {late[:3]} s after the level settled"


def _on_off_and_counters(n: int, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    door: list[float] = []
    while len(door) < n:
        door += [0.0] * rng.randint(20, 400) + [1.0] * rng.randint(1, 30)
    pump: list[float] = []
    while len(pump) < n:
        pump += [0.0] * rng.randint(50, 70) + [1.0] * rng.randint(25, 35)
    tests: list[float] = []
    count = 480_000
    for i in range(n):
        count = 0 if i % 4000 == 3999 else count + (rng.randint(1, 5) if rng.random() < 0.05 else 0)
        tests.append(float(count))
    return {
        "door (0/1, random)": door[:n],
        "pump (0/1, cycling)": pump[:n],
        "alarm bit (0/1, Bernoulli 5 %)": [float(rng.random() < 0.05) for _ in range(n)],
        "test count (bursty, daily reset)": tests,
        "lamp hours (0.1 h steps)": [round(1234.5 + i / 3600.0, 1) for i in range(n)],
        "uptime (s)": [86_400.0 + i for i in range(n)],
        "reagent level (consumed, refilled)": [100.0 - (i * 0.02) % 95.0 for i in range(n)],
    }


def check_on_off_and_counters_never_alert(factory: Factory) -> None:
    """On/off points and counters (or one-way levels with rare resets) never reach the threshold."""
    for name, stream in _on_off_and_counters(12_000, 5).items():
        det = factory()
        scores = [det.score_learn_one(x, 1_700_000_000.0 + i) for i, x in enumerate(stream)]
        _assert_scores(scores, name)
        worst = max(scores)
        assert worst < det.threshold, f"{name}: score {worst:.3f} reached the threshold"


MAINTENANCE_CHECKS: tuple[Callable[[Factory], None], ...] = (
    check_slow_drift_flagged,
    check_settled_drift_and_step_relearned,
    check_on_off_and_counters_never_alert,
)


def yield_checks(factory: Factory) -> Iterator[Callable[[], None]]:
    """Yield every conformance check bound to ``factory`` (each callable raises on failure)."""
    for check in CHECKS:

        def bound(check: Callable[[Factory], None] = check) -> None:
            check(factory)

        bound.__name__ = check.__name__
        yield bound


def check_detector(factory: Factory) -> None:
    """Run the whole conformance suite over one detector."""
    for check in yield_checks(factory):
        check()
