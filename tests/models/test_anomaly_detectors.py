"""Behaviour of the production anomaly detector, the score scale and the alert policy."""

from __future__ import annotations

import doctest
import math
import pickle
import random

import pytest

from models.anomaly import base, context, gaussian, make_detector, production_detector
from models.anomaly.base import score_to_tail, tail_to_score


@pytest.mark.parametrize("module", [base, context, gaussian])
def test_doctests_pass(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.failed == 0


def test_score_scale_is_minus_log10_tail_over_ten() -> None:
    assert tail_to_score(1e-5) == pytest.approx(0.5)
    assert tail_to_score(1.0) == 0.0
    assert tail_to_score(0.0) == 1.0
    assert score_to_tail(0.5) == pytest.approx(1e-5)
    for s in (0.1, 0.3, 0.77):
        assert tail_to_score(score_to_tail(s)) == pytest.approx(s)


def test_one_incident_raises_one_alert() -> None:
    det = production_detector()
    rng = random.Random(5)
    for i in range(3000):
        det.learn_one(100.0 + 5.0 * math.sin(i / 20.0) + rng.gauss(0, 1), 60.0 * i)
    alerts = 0
    for i in range(3000, 3060):
        value = 100.0 + rng.gauss(0, 1) + (80.0 if 3000 <= i < 3020 else 0.0)
        alerts += det.alert(det.score_learn_one(value, 60.0 * i))
    assert alerts == 1


def test_long_gap_does_not_alert_by_itself() -> None:
    det = production_detector()
    values = [float(i % 24) for i in range(3000)]
    for i, v in enumerate(values):
        det.learn_one(v, 3600.0 * i)
    later = 3600.0 * 3000 + 30 * 86400.0
    scores = [det.score_learn_one(v, later + 3600.0 * i) for i, v in enumerate(values[:200])]
    assert not any(det.alert(s) for s in scores)


def test_checkpoint_resumes_mid_stream() -> None:
    det = production_detector()
    rng = random.Random(9)
    stream = [rng.gauss(10, 2) for _ in range(1500)]
    for v in stream[:1000]:
        det.learn_one(v)
    restored = pickle.loads(pickle.dumps(det))
    tail = stream[1000:]
    assert [det.score_learn_one(v) for v in tail] == [restored.score_learn_one(v) for v in tail]


def test_make_detector_by_name_and_clone() -> None:
    det = make_detector("gaussian", window=50)
    assert isinstance(det, gaussian.GaussianTail) and det.window == 50
    assert repr(det.clone()) == repr(det)
    assert isinstance(make_detector(), context.ContextLikelihood)


def test_exponential_tail_discounts_routine_spikes() -> None:
    rng = random.Random(7)
    stream = [rng.gauss(0.0, 1.0) + (8.0 if rng.random() < 0.03 else 0.0) for _ in range(3000)]
    scores = {}
    for zq_low in (0.0, 0.98):
        det = make_detector("context", zq_low=zq_low, slots=0, rest=0, ar_gain=0.0)
        for x in stream:
            det.learn_one(x)
        scores[zq_low] = det.score_one(9.0)
    assert scores[0.98] < scores[0.0]
    tail = context.ContextLikelihood()._exp_tail(-50.0)
    assert tail == 1.0


def test_daily_spike_becomes_routine_but_a_bigger_one_still_alerts() -> None:
    rng = random.Random(3)
    scores = {}
    for mem in (0.0, 0.95):
        det = make_detector("context", spike_mem=mem, rest=0, ar_gain=0.0)
        for i in range(288 * 10):  # ten days at 5-minute readings, a spike at 03:00 every day
            det.learn_one(rng.gauss(1.0, 0.05) + (1.5 if i % 288 == 36 else 0.0), 300.0 * i)
        t = 300.0 * (288 * 10 + 36)
        scores[mem] = (det.score_one(2.5, t), det.score_one(8.0, t))
    assert scores[0.0][0] >= 0.5 > scores[0.95][0]
    assert scores[0.95][1] >= 0.5
