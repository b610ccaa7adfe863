"""Common shape of medfix's online anomaly detectors (river style, one instance per stream)."""

from __future__ import annotations

import abc
import math
from collections.abc import Hashable, Mapping
from typing import Any

from river.base import AnomalyDetector

__all__ = ["Detector", "fit_exponential_tail", "gauss_quantile", "is_finite", "scalar", "score_to_tail",
           "tail_to_score"]

# Scores are -log10(tail probability) / SCORE_DECADES, clipped to [0, 1].
SCORE_DECADES = 10.0
SQRT1_2 = 1.0 / math.sqrt(2.0)


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


def poisson_tail_score(count: float, mean: float) -> float:
    """The score of ``count`` events where ``mean`` are expected: tail_to_score of P(N >= count), N ~ Poisson."""
    if count <= 0.0 or count <= mean:
        return 0.0
    if mean <= 0.0:
        return 1.0
    k = int(count)
    if k > mean + 40.0 * math.sqrt(mean) + 40.0:
        return 1.0
    term = cdf = math.exp(-mean)  # P(N = 0)
    for i in range(1, k):
        term *= mean / i
        cdf += term
    return tail_to_score(max(0.0, 1.0 - cdf))


def gauss_quantile(level: float) -> float:
    """Return z with P(|Z| <= z) = level for a standard normal Z (bisection on erf)."""
    lo, hi = 0.0, 40.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if math.erf(mid * SQRT1_2) < level:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def fit_exponential_tail(x: float, q_lo: float, q_hi: float, lev_lo: float, lev_hi: float) -> float:
    """Return P(X > x) from an exponential tail through the quantiles q_lo (level lev_lo) and q_hi (lev_hi)."""
    rate = math.log((1.0 - lev_lo) / (1.0 - lev_hi)) / max(q_hi - q_lo, 1e-3)
    e = (x - q_lo) * rate
    if e <= math.log(1.0 - lev_lo):
        return 1.0
    return (1.0 - lev_lo) * math.exp(-min(e, 700.0))


def score_to_tail(score: float) -> float:
    """Inverse of :func:`tail_to_score`: the tail probability an alert threshold stands for."""
    return float(10.0 ** (-score * SCORE_DECADES))


def scalar(x: float | Mapping[Hashable, Any]) -> float:
    """The reading of one stream: ``x`` itself, or the one feature of a river-style dict ``{name: value}``."""
    if isinstance(x, Mapping):
        if len(x) != 1:
            raise ValueError(f"a medfix detector scores one stream: expected one feature, got {sorted(map(str, x))}")
        (value,) = x.values()
        return float(value)
    return x


class Detector(AnomalyDetector):
    """An online anomaly detector for one (device, metric) stream, with river's anomaly-detector interface.

    ``x`` is the reading, a number or river's feature dict with one feature (``{"temp": 37.0}``, so a detector
    can end a river pipeline: ``preprocessing.StandardScaler() | ContextLikelihood()``); ``t`` is its
    timestamp in seconds (epoch or any monotone clock), optional (a river pipeline passes it on to
    ``score_one`` only: ``pipeline.score_one(x, t=...)``; its ``learn_one`` calls an unsupervised last step
    without it, so feed a time-aware detector directly to have it learn the time-of-day profiles). Non-finite
    readings (NaN, inf) are ignored: they score 0.0 and leave the state untouched. ``threshold`` is the
    production alert threshold on the score.

    Instrument context (what the analyzer reports about itself):

    * ``maintenance=True`` on ``learn_one`` / ``score_one`` / ``score_learn_one``: the reading was taken while the
      instrument was not measuring samples (maintenance, calibration, a QC run): it scores 0.0 and is not
      learnt, the state is left exactly as it was.
    * ``rebaseline(t)``: the instrument was recalibrated or its reagent lot changed at ``t``: a level step from
      now on is the new normal, not an anomaly.
    """

    threshold: float = 0.5

    @abc.abstractmethod
    def _step(self, x: float, t: float | None, learn: bool) -> float:
        """Score ``x``; when ``learn`` is True also update the state (the score is computed first)."""

    def learn_one(self, x: float | Mapping[Hashable, Any], t: float | None = None, *,
                  maintenance: bool = False) -> None:
        """Update the model with one reading (a maintenance reading is not learnt)."""
        if not maintenance:
            self._step(x if x.__class__ is float else scalar(x), t, True)

    def score_one(self, x: float | Mapping[Hashable, Any], t: float | None = None, *,
                  maintenance: bool = False) -> float:
        """Return the anomaly score of ``x`` in [0, 1] without changing the model (0.0 for maintenance)."""
        if maintenance:
            return 0.0
        return self._step(x if x.__class__ is float else scalar(x), t, False)

    def score_learn_one(self, x: float | Mapping[Hashable, Any], t: float | None = None, *,
                        maintenance: bool = False) -> float:
        """Return the score of ``x`` (computed before learning it), then learn it (neither for maintenance)."""
        if maintenance:
            return 0.0
        # a float goes straight through: the Mapping check (an ABC) costs more than the rest of the call
        return self._step(x if x.__class__ is float else scalar(x), t, True)

    def rebaseline(self, t: float | None = None) -> None:  # noqa: ARG002
        """The level may step from ``t`` on (calibration done, reagent lot change): learn it as the new normal.

        The default restarts the model from scratch; detectors with a cheaper way override it.
        """
        fresh = self.clone()
        self.__dict__.update(fresh.__dict__)

    def alert(self, score: float) -> bool:
        """Return True when ``score`` reaches the production alert threshold."""
        return score >= self.threshold

    def _get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}
