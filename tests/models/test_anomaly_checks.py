"""Run the anomaly conformance suite over every registered detector."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from models.anomaly import DETECTORS, production_detector
from models.anomaly.base import Detector
from models.anomaly.checks import CHECKS, MAINTENANCE_CHECKS

FACTORIES: dict[str, Callable[[], Detector]] = dict(DETECTORS)
FACTORIES["production"] = production_detector


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_detector_passes_check(name: str, check: Callable[[Callable[[], Detector]], None]) -> None:
    check(FACTORIES[name])


@pytest.mark.parametrize("check", MAINTENANCE_CHECKS, ids=lambda c: c.__name__)
def test_production_detector_passes_maintenance_check(check: Callable[[Callable[[], Detector]], None]) -> None:
    check(production_detector)
