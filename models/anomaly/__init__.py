"""Online anomaly detectors, one instance per (device, metric) stream, and the alert policy."""

from __future__ import annotations

from typing import Any

from models.anomaly.base import Detector, score_to_tail, tail_to_score
from models.anomaly.context import ContextLikelihood
from models.anomaly.gaussian import GaussianTail

__all__ = [
    "DETECTORS",
    "ContextLikelihood",
    "Detector",
    "GaussianTail",
    "make_detector",
    "production_detector",
    "score_to_tail",
    "tail_to_score",
]

DETECTORS: dict[str, type[Detector]] = {
    "context": ContextLikelihood,
    "gaussian": GaussianTail,
}

PRODUCTION = "context"


def production_detector() -> Detector:
    """Return a fresh detector with the production configuration (one per stream)."""
    return DETECTORS[PRODUCTION]()


def make_detector(name: str = "production", **params: Any) -> Detector:
    """Build a detector by registry name ("production" = the production detector's class)."""
    return DETECTORS[PRODUCTION if name == "production" else name](**params)
