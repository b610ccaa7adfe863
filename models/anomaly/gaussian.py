"""Exponentially weighted Gaussian tail detector: the simple baseline (NAB's windowed Gaussian, online)."""

from __future__ import annotations

import math

from models.anomaly.base import SQRT1_2, Detector, tail_to_score

__all__ = ["GaussianTail"]

class GaussianTail(Detector):
    """Scores a reading by its two-sided Gaussian tail probability under running mean and variance.

    Mean and variance are exponentially weighted with a time constant of ``window`` readings
    (a plain average until then).  A lasting level shift is re-learned: when the fast mean (time
    constant ``window // 20``) has been away from the slow one for ``relearn`` readings, the slow
    statistics restart from the fast ones.  Score is ``-log10(tail) / 10``.

    >>> det = GaussianTail(window=100)
    >>> for i in range(500):
    ...     _ = det.score_learn_one(10.0 + (i % 7) * 0.1)
    >>> det.score_one(10.3) < 0.5 < det.score_one(30.0)
    True
    """

    def __init__(
        self, window: int = 1000, grace: int = 30, relearn: int = 100, threshold: float = 0.5
    ) -> None:
        self.window = window
        self.grace = grace
        self.relearn = relearn
        self.threshold = threshold
        self._n = 0
        self._mean = 0.0
        self._var = 0.0
        self._fmean = 0.0
        self._fvar = 0.0
        self._away = 0

    def _step(self, x: float, t: float | None, learn: bool) -> float:  # noqa: ARG002
        if x - x != 0.0:
            return 0.0
        n = self._n
        mean = self._mean
        sd = math.sqrt(self._var)
        score = 0.0
        if n >= self.grace:
            if sd > 0.0:
                score = tail_to_score(math.erfc(abs(x - mean) / sd * SQRT1_2))
            elif x != mean:
                score = 1.0
        if not learn:
            return score
        self._n = n + 1
        w = 1.0 / min(n + 1, self.window)
        d = x - mean
        self._mean = mean + w * d
        self._var = (1.0 - w) * (self._var + w * d * d)
        wf = 1.0 / min(n + 1, max(self.window // 20, 2))
        df = x - self._fmean
        self._fmean += wf * df
        self._fvar = (1.0 - wf) * (self._fvar + wf * df * df)
        if score >= self.threshold:
            self._away += 1
            if self._away >= self.relearn:
                self._mean, self._var, self._away = self._fmean, self._fvar, 0
        else:
            self._away = 0
        return score
