"""medfix detectors speak river's anomaly-detector interface (issue #14, item 7)."""

from __future__ import annotations

import math

import pytest
from river import anomaly, compose, preprocessing
from river.base import AnomalyDetector

from models.anomaly import DETECTORS, make_detector

T0 = 1_767_542_400.0


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_registry_detector_is_a_river_anomaly_detector(name: str) -> None:
    det = make_detector(name)
    assert isinstance(det, AnomalyDetector)
    assert det.clone()._get_params() == det._get_params()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_registry_detector_ends_a_river_pipeline(name: str) -> None:
    """The scaler feeds the detector a one-feature dict; river passes t= on to its score_one (not its learn_one)."""
    model = preprocessing.StandardScaler() | make_detector(name)
    assert isinstance(model, compose.Pipeline)
    for i in range(2000):
        x = {"temp": 37.0 + 0.05 * math.sin(i / 10.0)}
        model.learn_one(x, t=T0 + 60.0 * i)
    assert model.score_one({"temp": 37.0}, t=T0 + 120_000.0) < 0.5
    assert model.score_one({"temp": 45.0}, t=T0 + 120_000.0) >= 0.5


def test_river_filter_wraps_the_production_detector() -> None:
    """river's own anomaly tooling (a threshold filter) takes a medfix detector as it is."""
    gate = anomaly.ThresholdFilter(make_detector("production"), threshold=0.5)
    for i in range(2000):
        gate.learn_one({"v": float(i % 24)})
    assert not gate.classify(gate.score_one({"v": 5.0}))
    assert gate.classify(gate.score_one({"v": 500.0}))


def test_more_than_one_feature_is_refused() -> None:
    with pytest.raises(ValueError, match="one feature"):
        make_detector("production").score_one({"a": 1.0, "b": 2.0})



def test_a_river_pipeline_hands_the_reading_time_to_the_detector_when_scoring() -> None:
    """score_one(x, t=...) reaches the detector; river's learn_one calls an unsupervised last step without t."""
    seen: list[float | None] = []

    class Spy(type(make_detector("production"))):  # type: ignore[misc]
        def _step(self, x: float, t: float | None, learn: bool) -> float:
            seen.append(t)
            return float(super()._step(x, t, learn))

    model = preprocessing.StandardScaler() | Spy()
    model.learn_one({"temp": 37.0}, t=T0)
    model.score_one({"temp": 37.0}, t=T0 + 60.0)
    assert seen == [None, T0 + 60.0]
