"""Contextual-novelty detector with anomaly-likelihood post-processing (the production detector)."""

from __future__ import annotations

import math

from models.anomaly.base import SCORE_DECADES, Detector, tail_to_score

__all__ = ["ContextLikelihood"]

_SQRT1_2 = 1.0 / math.sqrt(2.0)
# While resting, scores are scaled into [0, _DAMP * threshold): visible, but never an alert.
_DAMP = 0.98


def _gauss_quantile(level: float) -> float:
    """Return z with P(|Z| <= z) = level for a standard normal Z (bisection on erf)."""
    lo, hi = 0.0, 40.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if math.erf(mid * _SQRT1_2) < level:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _fit_tail(x: float, q_lo: float, q_hi: float, lev_lo: float, lev_hi: float) -> float:
    """Return P(X > x) from an exponential tail through the quantiles q_lo (level lev_lo) and q_hi (lev_hi)."""
    rate = math.log((1.0 - lev_lo) / (1.0 - lev_hi)) / max(q_hi - q_lo, 1e-3)
    e = (x - q_lo) * rate
    if e <= math.log(1.0 - lev_lo):
        return 1.0
    return (1.0 - lev_lo) * math.exp(-min(e, 700.0))


class ContextLikelihood(Detector):
    """Scores how surprising a reading is, as a tail probability, from cheap online cues.

    1. *Context novelty*: the reading is quantised into ``levels`` bins of the range seen so far;
       the last ``order`` bins form a context; a context never seen before is a surprise.
       A new extreme beyond the range by more than ``spatial`` x range is a surprise too, and so is
       a reading more than ``zraw`` standard deviations from what is expected (see 3).
    2. *Anomaly likelihood* (after Numenta): surprises (0/1) are averaged over ``short`` readings;
       that average is compared with its own long-run distribution (exponentially weighted over
       ``long`` readings, standard deviation at least ``min_std``); its upper tail probability
       ``p`` gives the score ``-log10(p) / 10`` (score 0.5 means p = 1e-5).
    3. *Gross outliers*: the two-sided Gaussian tail of the reading's z-score, scored the same way;
       the larger of the two scores wins.  z is taken against running mean and variance over
       ``zlong`` readings or, when a time-of-day profile (``slots`` bins of ``period`` seconds, each
       an exponential average with rate ``slot_rate``) leaves less than ``season_gain`` of the
       variance, against that profile's residuals.  z is divided by ``zscale`` or, if larger, by the
       stream's own tail scale: the tracked ``zq`` quantile of past |z| over its Gaussian value, so
       heavy-tailed streams need a larger excursion.  The tail probability is then the larger of that
       Gaussian tail and an exponential tail fitted through the tracked ``zq_low`` and ``zq`` quantiles
       of past |z| (``zq_low`` 0 disables it), so a stream whose spikes are routine must spike further.
       *Routine spikes*: each time-of-day slot keeps a max of past |z| (decayed by ``spike_mem`` per
       reading in the slot) and counts the days |z| exceeded ``spike_ref`` there.  When the slot and its
       ``spike_nb`` neighbours saw such spikes on ``spike_days`` days or more, |z| is scaled by
       ``spike_ref / max`` (max from earlier days only), so a daily cron-job spike stops alerting
       while a bigger one still does (``spike_mem`` 0 disables it).

    After a score reaches ``threshold`` the detector rests for ``rest`` readings (scores are scaled
    below the threshold) so one incident raises one alert.  Alerts also raise the bar: scores are
    lowered by ``ar_gain * log10(1 + a) / 10`` where ``a`` counts past alerts, decayed by ``ar_decay``
    per reading, so a stream that alerts often needs stronger evidence.  A lasting level shift is
    re-learned: when |z| stays above ``zraw`` for ``relearn`` readings, the running mean and variance
    restart from fast ones and the profile moves by the same shift.  A gap longer than ``gap``
    typical intervals restarts the context.  Memory is constant: ``levels ** order`` counters,
    ``slots`` profile bins, 3 x ``slots`` routine-spike bins and a ring of ``short`` floats.

    >>> det = ContextLikelihood()
    >>> for i in range(2000):
    ...     _ = det.score_learn_one(float(i % 24), 60.0 * i)
    >>> det.score_one(5.0, 120_000.0) < det.threshold <= det.score_one(500.0, 120_000.0)
    True
    """

    def __init__(
        self,
        levels: int = 12,
        order: int = 3,
        spatial: float = 0.05,
        zraw: float = 3.0,
        short: int = 20,
        long: int = 200,
        min_std: float = 0.05,
        zlong: int = 3000,
        zscale: float = 1.5,
        zq: float = 0.995,
        zq_rate: float = 0.05,
        slots: int = 48,
        slot_rate: float = 0.05,
        season_gain: float = 0.5,
        period: float = 86400.0,
        rest: int = 120,
        ar_decay: float = 0.9999,
        ar_gain: float = 1.0,
        relearn: int = 60,
        gap: float = 10.0,
        grace: int = 150,
        threshold: float = 0.5,
        zq_low: float = 0.98,
        spike_mem: float = 0.95,
        spike_ref: float = 3.0,
        spike_nb: int = 1,
        spike_days: int = 3,
    ) -> None:
        self.levels = levels
        self.order = order
        self.spatial = spatial
        self.zraw = zraw
        self.short = short
        self.long = long
        self.min_std = min_std
        self.zlong = zlong
        self.zscale = zscale
        self.rest = rest
        self.relearn = relearn
        self.gap = gap
        self.grace = grace
        self.threshold = threshold
        self.zq = zq
        self.zq_rate = zq_rate
        self.slots = slots
        self.slot_rate = slot_rate
        self.season_gain = season_gain
        self.period = period
        self.ar_decay = ar_decay
        self.ar_gain = ar_gain
        self.spike_mem = spike_mem
        self.spike_ref = spike_ref
        self.spike_nb = spike_nb
        self.spike_days = spike_days
        # per time-of-day slot: decayed max |z|, when it was set, on how many days |z| > spike_ref
        self._smax = [0.0] * slots
        self._stime = [0.0] * slots
        self._scnt = [0] * slots
        # two-sided Gaussian quantile of level zq: the tail scale a Gaussian stream would show
        self._zq_ref = _gauss_quantile(zq) if 0.0 < zq < 1.0 else 1.0
        self._q = self._zq_ref
        self.zq_low = zq_low
        self._q2 = _gauss_quantile(zq_low) if 0.0 < zq_low < 1.0 else 0.0
        self._ar = 0.0
        self._prof = [0.0] * slots
        self._pn = [0] * slots
        self._rm = 0.0
        self._rv = 0.0
        self._rn = 0
        self._mod = levels ** (order - 1)
        self._counts = [0] * (levels**order)
        self._n = 0
        self._lo = 0.0
        self._hi = 0.0
        self._ctx = 0
        self._fill = 0
        self._last_t: float | None = None
        self._dt = 0.0
        self._ring = [0.0] * short
        self._pos = 0
        self._sum = 0.0
        self._mean = 0.0
        self._var = 0.0
        self._xm = 0.0
        self._xv = 0.0
        self._fm = 0.0
        self._fv = 0.0
        self._away = 0
        self._quiet = 0

    def _step(self, x: float, t: float | None, learn: bool) -> float:
        if x - x != 0.0:
            return 0.0
        n = self._n
        lo = self._lo
        hi = self._hi
        raw = 0.0
        if n == 0:
            lo = hi = x
        else:
            tol = self.spatial * (hi - lo)
            if x < lo:
                if x < lo - tol:
                    raw = 1.0
                lo = x
            elif x > hi:
                if x > hi + tol:
                    raw = 1.0
                hi = x
        # timestamps: a long gap restarts the context chain
        fill = self._fill
        dt = self._dt
        last_t = self._last_t
        if t is not None and last_t is not None:
            step = t - last_t
            if step > 0.0:
                if dt > 0.0 and step > self.gap * dt:
                    fill = 0
                else:
                    dt = step if dt == 0.0 else dt + 0.01 * (step - dt)
        # context novelty
        span = hi - lo
        levels = self.levels
        q = int((x - lo) / span * levels) if span > 0.0 else 0
        if q >= levels:
            q = levels - 1
        ctx = (self._ctx % self._mod) * levels + q if fill else q
        fill += 1
        full = fill >= self.order
        if full and self._counts[ctx] == 0:
            raw = 1.0
        # gross outliers
        zx = 0.0
        if n >= self.grace:
            xsd = math.sqrt(self._xv)
            if xsd > 0.0:
                zx = abs(x - self._xm) / xsd
            elif x != self._xm:
                zx = 1e9
        slot = -1
        r = 0.0
        if self.slots and t is not None:
            slot = int((t % self.period) / self.period * self.slots)
            if self._pn[slot] > 0:
                r = x - self._prof[slot]
                if n >= self.grace and self._rn >= self.grace and self._rv < self.season_gain * self._xv:
                    rsd = math.sqrt(self._rv)
                    zx = abs(r - self._rm) / rsd if rsd > 0.0 else (1e9 if r != self._rm else 0.0)
            else:
                slot = -2 - slot
        zx0 = zx
        if self.spike_mem > 0.0 and t is not None and slot != -1 and zx > 0.0:
            zx *= self._routine_scale(slot if slot >= 0 else -2 - slot, t)
        if n >= self.grace and zx > self.zraw:
            raw = 1.0
        # anomaly likelihood of the short-term average
        pos = self._pos
        total = self._sum - self._ring[pos] + raw
        avg = total / self.short
        mean = self._mean
        var = self._var
        std = math.sqrt(var)
        if std < self.min_std:
            std = self.min_std
        z = (avg - mean) / std
        score = 0.0
        if n >= self.grace:
            if z > 0.0:
                score = tail_to_score(0.5 * math.erfc(z * _SQRT1_2))
            if zx > 0.0:
                scale = self.zscale
                if 0.0 < self.zq < 1.0:
                    qs = self._q / self._zq_ref
                    if qs > scale:
                        scale = qs
                px = math.erfc(zx / scale * _SQRT1_2)
                if 0.0 < self.zq_low < self.zq < 1.0:
                    px = max(px, self._exp_tail(zx))
                sx = tail_to_score(px)
                if sx > score:
                    score = sx
        if self._ar > 0.0:
            score -= self.ar_gain * math.log10(1.0 + self._ar) / SCORE_DECADES
            if score < 0.0:
                score = 0.0
        if self._quiet > 0:
            score *= _DAMP * self.threshold
        if not learn:
            return score
        self._n = n + 1
        self._lo = lo
        self._hi = hi
        self._ctx = ctx
        self._fill = fill if fill < self.order else self.order
        if t is not None and (last_t is None or t > last_t):
            self._last_t = t
        self._dt = dt
        if full:
            self._counts[ctx] += 1
        self._ring[pos] = raw
        self._pos = pos + 1 if pos + 1 < self.short else 0
        self._sum = total
        w = 1.0 / min(n + 1, self.long)
        d = avg - mean
        self._mean = mean + w * d
        self._var = (1.0 - w) * (var + w * d * d)
        self._learn_level(x, n, zx0)
        if slot != -1:
            if slot < -1:
                slot = -2 - slot
                self._prof[slot] = x
            else:
                self._prof[slot] += self.slot_rate * r
                wr = 1.0 / min(self._rn + 1, self.zlong)
                dr = r - self._rm
                self._rm += wr * dr
                self._rv = (1.0 - wr) * (self._rv + wr * dr * dr)
                self._rn += 1
            self._pn[slot] += 1
            if self.spike_mem > 0.0 and t is not None and n >= self.grace and zx0 < 1e6:
                self._learn_routine(slot, zx0, t)
        if 0.0 < self.zq < 1.0 and n >= self.grace and zx0 < 1e6:
            self._q += self.zq_rate * (self.zq - (1.0 if zx0 <= self._q else 0.0))
            if 0.0 < self.zq_low < 1.0:
                self._q2 += self.zq_rate * (self.zq_low - (1.0 if zx0 <= self._q2 else 0.0))
        if self._quiet > 0:
            self._quiet -= 1
        elif score >= self.threshold:
            self._quiet = self.rest
            if self.ar_decay > 0.0:
                self._ar += 1.0
        self._ar *= self.ar_decay
        return score

    def _routine_scale(self, slot: int, t: float) -> float:
        """Return the factor for |z| at ``slot``: < 1 when earlier days spiked at this time of day."""
        mem = 0.0
        days = 0
        for k in range(slot - self.spike_nb, slot + self.spike_nb + 1):
            k %= self.slots
            days += self._scnt[k]
            m = self._smax[k]
            if m > mem and t - self._stime[k] > 0.5 * self.period:
                mem = m
        if days >= self.spike_days and mem > self.spike_ref:
            return self.spike_ref / mem
        return 1.0

    def _learn_routine(self, slot: int, zx: float, t: float) -> None:
        """Update the slot's decayed max |z|, its time, and its count of days with |z| > spike_ref."""
        m = self._smax[slot] * self.spike_mem
        if zx > self.spike_ref and t - self._stime[slot] > 0.5 * self.period:
            self._scnt[slot] += 1
        if zx > m:
            self._smax[slot] = zx
            self._stime[slot] = t
        else:
            self._smax[slot] = m

    def _exp_tail(self, zx: float) -> float:
        """Return P(|z| > zx) from an exponential tail through the tracked zq_low and zq quantiles of |z|."""
        return _fit_tail(zx, self._q2, self._q, self.zq_low, self.zq)

    def _learn_level(self, x: float, n: int, zx: float) -> None:
        """Update the running mean/variance, restarting them after a lasting level shift."""
        wx = 1.0 / min(n + 1, self.zlong)
        dx = x - self._xm
        self._xm += wx * dx
        self._xv = (1.0 - wx) * (self._xv + wx * dx * dx)
        wf = 1.0 / min(n + 1, max(self.zlong // 20, 2))
        df = x - self._fm
        self._fm += wf * df
        self._fv = (1.0 - wf) * (self._fv + wf * df * df)
        if zx > self.zraw:
            self._away += 1
            if self._away >= self.relearn:
                shift = self._fm - self._xm
                self._xm, self._xv, self._away = self._fm, self._fv, 0
                self._prof = [v + shift for v in self._prof]
        else:
            self._away = 0
