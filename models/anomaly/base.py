"""Common shape of medfix's online anomaly detectors (river style, one instance per stream)."""

from __future__ import annotations

import abc
import math
from typing import Any

__all__ = ["Detector", "is_finite", "tail_to_score", "score_to_tail"]

# Scores are -log10(tail probability) / SCORE_DECADES, clipped to [0, 1].
SCORE_DECADES = 10.0


def is_finite(x: float) -> bool:
    """Return True for a usable reading (not NaN, not +/-inf)."""
    return x - x == 0.0


def tail_to_score(tail: float) -> float:
    """Map an upper-tail probability to a score in [0, 1] (1e-5 -> 0.5, 1e-10 or less -> 1)."""
    if tail >= 1.0:
        return 0.0
    if tail <= 1e-10:
        return 1.0
    return -math.log10(tail) / SCORE_DECADES


def score_to_tail(score: float) -> float:
    """Inverse of :func:`tail_to_score`: the tail probability an alert threshold stands for."""
    return float(10.0 ** (-score * SCORE_DECADES))


class Detector(abc.ABC):
    """An online anomaly detector for one (device, metric) stream.

    ``x`` is the reading; ``t`` its timestamp in seconds (epoch or any monotone clock), optional.
    Non-finite readings (NaN, inf) are ignored: they score 0.0 and leave the state untouched.
    ``threshold`` is the production alert threshold on the score.
    """

    threshold: float = 0.5

    @abc.abstractmethod
    def _step(self, x: float, t: float | None, learn: bool) -> float:
        """Score ``x``; when ``learn`` is True also update the state (the score is computed first)."""

    def learn_one(self, x: float, t: float | None = None) -> None:
        """Update the model with one reading."""
        self._step(x, t, True)

    def score_one(self, x: float, t: float | None = None) -> float:
        """Return the anomaly score of ``x`` in [0, 1] without changing the model."""
        return self._step(x, t, False)

    def score_learn_one(self, x: float, t: float | None = None) -> float:
        """Return the score of ``x`` (computed before learning it), then learn it."""
        return self._step(x, t, True)

    def alert(self, score: float) -> bool:
        """Return True when ``score`` reaches the production alert threshold."""
        return score >= self.threshold

    def _get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({params})"

    def clone(self) -> Detector:
        """Return a fresh, untrained detector with the same hyper-parameters."""
        return type(self)(**self._get_params())
