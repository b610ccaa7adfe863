"""Contextual-novelty detector with anomaly-likelihood post-processing (the production detector)."""

from __future__ import annotations

import inspect
import math
from typing import Any

from models.anomaly.base import (
    SCORE_DECADES,
    SQRT1_2,
    Detector,
    fit_exponential_tail,
    gauss_quantile,
    poisson_tail_score,
    tail_to_score,
)
from models.anomaly.cues import (
    WEEK,
    Excursion,
    collect,
    drift_cue,
    learn_drift,
    learn_level,
    learn_routine,
    learn_routine_rate,
    learn_week,
    nearer_week,
    routine_scale,
)
from models.anomaly.envelope import RangeCue
from models.anomaly.rate import COUNTER, COUNTER_RATIO, LEVEL, ON_OFF, PLAIN, RateCue, stream_kind

__all__ = ["ContextLikelihood"]

# While resting, scores are scaled into [0, _DAMP * threshold): visible, but never an alert.
_DAMP = 0.98


class ContextLikelihood(Detector):
    """Scores how surprising a reading is, as a tail probability, from cheap online cues.

    1. *Context novelty*: the reading is quantised into ``levels`` bins of the range seen so far;
       the last ``order`` bins form a context; a context never seen before is a surprise.
       A new extreme beyond the range by more than ``spatial`` x range is a surprise too, and so is
       a reading more than ``zraw`` standard deviations from what is expected (see 3).
    2. *Anomaly likelihood* (after Numenta): surprises (0/1) are averaged over ``short`` readings;
       that average is compared with its own long-run distribution (exponentially weighted over
       ``long`` readings, standard deviation at least ``min_std``), its mean raised to the peak
       surprise rate usual in this time-of-day bin and its ``routine_nb`` neighbours (each day's peak,
       folded in the next day with rate ``routine_rate``, from reading ``routine_warm`` on: a noisy
       shift that starts at 08:00 every day stops alerting); its upper tail probability
       ``p`` gives the score ``-log10(p) / 10`` (score 0.5 means p = 1e-5).
    3. *Gross outliers*: the two-sided Gaussian tail of the reading's z-score, scored the same way;
       the larger of the two scores wins.  z is taken against running mean and variance over
       ``zlong`` readings or, when a time-of-day profile (bins of ``period`` seconds, each an
       exponential average with rate ``slot_rate``) leaves less than ``season_gain`` of the
       variance, against that profile's residuals.  The number of bins is decided from the first time
       step: about ``slot_readings`` readings a bin, at least 48 and at most ``slots`` (6-minute bins
       at one reading a minute resolve a 15-minute daily calibration).  Streams with at least
       ``weekly_slots`` bins a day also keep a day-of-week profile (7 x the bins); a week bin counts
       from the next week on, and the reading is scored against whichever profile explains it better
       (a quiet weekend, a Monday rush), the residual spread learnt from that residual.
       z is divided by ``zscale`` or, if larger, by the
       stream's own tail scale: the tracked ``zq`` quantile of past |z| over its Gaussian value, so
       heavy-tailed streams need a larger excursion.  The tail probability is then the larger of that
       Gaussian tail and an exponential tail fitted through the tracked ``zq_low`` and ``zq`` quantiles
       of past |z| (``zq_low`` 0 disables it), so a stream whose spikes are routine must spike further.
       *Routine spikes*: each time-of-day slot keeps a max of past |z| (decayed by ``spike_mem`` per
       reading in the slot) and counts the days |z| exceeded ``spike_ref`` there.  When the slot and its
       ``spike_nb`` neighbours saw such spikes on ``spike_days`` days or more, |z| is scaled by
       ``spike_ref / max`` (max from earlier days only), so a daily cron-job spike stops alerting
       while a bigger one still does (``spike_mem`` 0 disables it).

    4. *Slow drift* (``drift_z`` 0 disables it): a short level against a long baseline of the stream's normal
       band, in deviations of that band. An excursion that keeps moving away in proportion (a ramp: a heater
       drifting, a lamp ageing) scores; one that settles (a step after calibration or maintenance) is re-learnt
       as the new level; bursty streams' excursions are left to the other cues. The rules and their
       ``drift_*`` parameters: :func:`models.anomaly.cues.drift_cue`. The drift score joins the others by the max.
    5. *Stream kinds* (``kinds`` False disables them; models/anomaly/rate.py has the rules).  An on/off point
       (values so far only 0 and 1) scores 0.  A stream that moves one way (at most one move back per
       ``counter_ratio`` moves) is scored by its rate per hour by a rhythm-aware detector of its own: a rising
       *counter* (tests run, lamp hours) alerts when it stops in working hours or races ahead, a *level* consumed
       one way (reagent left) only when consumed faster than usual.  ``unit_kind`` ("counter", "level", "")
       is what the stream's unit says and decides over the shape; ``counters`` False (a physical quantity: °C,
       kPa) rules both out, so a coarse sensor creeping one way is scored as the drift it is.  The kind is
       decided on the readings so far: moves both ways make the stream plain from then on.

    6. *Range of a bursty stream* (``range_recent`` 0 disables it; models/anomaly/envelope.py has the rules).  A
       stream whose readings leave ``drift_out`` deviations of its band often by nature (a share of at least
       ``range_bursty`` over ~10 x ``drift_long`` readings: a sample probe's pressure, idle or aspirating as the
       minute's workload goes) is also judged by its quarter-hour medians against the range they kept over the
       past week: most of the last ``range_recent`` buckets above the week's highest (a clogging probe while
       samples run) score, as a binomial tail at the stream's own rate of such buckets; one busy quarter hour at a
       new high does not.

    After a score reaches ``threshold`` the detector rests for ``rest`` readings (scores are scaled
    below the threshold) so one incident raises one alert.  Alerts also raise the bar: scores are
    lowered by ``ar_gain * log10(1 + a) / 10`` where ``a`` counts past alerts, decayed by ``ar_decay``
    per reading, so a stream that alerts often needs stronger evidence.  A lasting level shift is
    re-learned: when |z| stays above ``zraw`` for ``relearn`` readings, the running mean and variance
    restart from fast ones and the profile moves by the same shift.  A gap longer than ``gap``
    typical intervals restarts the context.  On a seasonal stream the lasting shift is measured on the
    residuals from the profile (a busy shift after a quiet night is no shift).

    Instrument context (see :class:`~models.anomaly.base.Detector`): ``maintenance=True`` readings are
    neither scored nor learnt; after ``rebaseline(t)`` the next ``rebase`` readings score 0 and their mean
    deviation from the expected level moves every level held (a reagent lot's or a new lamp's step).

    Memory is constant: ``levels ** order`` counters, ``slots`` profile bins, 3 x ``slots``
    routine-spike bins, a ring of ``short`` floats and a few floats for the drift and kind cues.

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
        slots: int = 288,
        slot_rate: float = 0.05,
        slot_readings: int = 6,
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
        drift_z: float = 6.0,
        drift_short: int = 20,
        drift_long: int = 2000,
        drift_warm: int = 300,
        drift_start: float = 2.0,
        drift_step: float = 0.5,
        drift_hold: int = 300,
        drift_fresh: int = 30,
        drift_clip: float = 3.0,
        drift_min: int = 60,
        drift_rel: float = 0.1,
        drift_freeze: float = 1.0,
        drift_pace: float = 0.3,
        drift_out: float = 4.0,
        drift_rare: float = 0.01,
        kinds: bool = True,
        counter_ratio: int = COUNTER_RATIO,
        counters: bool = True,
        unit_kind: str = "",
        rebase: int = 30,
        rebase_z: float = 3.0,
        count_window: int = 10,
        routine_rate: float = 0.5,
        routine_warm: int = 300,
        routine_nb: int = 2,
        weekly_slots: int = 48,
        range_recent: int = 8,
        range_bursty: float = 0.2,
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
        self.slot_readings = slot_readings
        self._ns = 0  # slots in use: decided from the first time step (about slot_readings readings a slot)
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
        self._zq_ref = gauss_quantile(zq) if 0.0 < zq < 1.0 else 1.0
        self._q = self._zq_ref
        self.zq_low = zq_low
        self._q2 = gauss_quantile(zq_low) if 0.0 < zq_low < 1.0 else 0.0
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
        self._rfm = 0.0  # fast mean and variance of the residuals from the time-of-day profile
        self._rfv = 0.0
        self._away = 0
        self._quiet = 0
        self.drift_z = drift_z
        self.drift_short = drift_short
        self.drift_long = drift_long
        self.drift_warm = drift_warm
        self.drift_start = drift_start
        self.drift_step = drift_step
        self.drift_hold = drift_hold
        self.drift_fresh = drift_fresh
        self.drift_clip = drift_clip
        self.drift_min = drift_min
        self.drift_rel = drift_rel
        self.drift_freeze = drift_freeze
        self.drift_pace = drift_pace
        self.drift_out = drift_out
        self.drift_rare = drift_rare
        # drift: short level, baseline mean and variance, fraction of readings far out, the excursion
        self._ds = 0.0
        self._db = 0.0
        self._dv = 0.0
        self._dout = 0.0
        self._dout_long = 0.0
        self._dx: Excursion | None = None
        self.kinds = kinds
        self.counter_ratio = counter_ratio
        self.counters = counters
        self.unit_kind = unit_kind
        self._whole = True  # every reading so far a whole number (with a mean below 0.5: a sparse event count)
        self.count_window = count_window
        self._cring = [0.0] * max(1, count_window)  # a sparse count's last readings, and their sum
        self._cpos = 0
        self._csum = 0.0
        self._cm = 0.0  # that sum's running mean and variance: Poisson-like (errors) or lumpy (a spike of 20 now
        self._cv = 0.0  # and then), which a Poisson tail would call impossible every time
        self._rate: RateCue | None = None  # counters and consumed levels: their rate's own detector
        # kinds: distinct values seen (capped at 3), the first two, the last value, increases, decreases
        self._nv = 0
        self._v0 = 0.0
        self._v1 = 0.0
        self._prev = 0.0
        self._inc = 0
        self._dec = 0
        self.rebase = rebase
        self.rebase_z = rebase_z
        # per time-of-day slot: the usual surprise rate there (a shift start is surprising every morning)
        self.routine_rate = routine_rate
        self.routine_warm = routine_warm
        self.routine_nb = routine_nb
        # the day-of-week profile (7 x the slots in use), for streams read often enough to have this many slots a day
        self.weekly_slots = weekly_slots
        self._wprof = [0.0] * (7 * slots)
        self._wn = [0] * (7 * slots)
        self._wt = [0.0] * (7 * slots)  # when each week slot's current visit began
        # each week slot's expectation as it stood at the end of its last visit (inf before one): a reading is
        # compared with last week, never with a mean this visit's readings already moved (a clog's own readings
        # made "the same time last week" 5 kPa higher within the hour and explained themselves away)
        self._wlast = [math.inf] * (7 * slots)
        self._lprof = [0.0] * slots
        self._lpeak = [0.0] * slots  # the peak surprise rate of the slot's current visit (committed at the next)
        self._ltime = [0.0] * slots  # when that visit began
        # bursty streams: their quarter-hour medians against the past week's range (0 buckets: no range cue)
        self.range_recent = range_recent
        self.range_bursty = range_bursty
        self._range = RangeCue(recent=range_recent) if range_recent > 0 else None
        # after rebaseline(): readings still to collect, and the sum of their deviations from the expected level
        self._rdev = 0.0
        self._rb_left = 0
        self._rb_sum = 0.0
        self._rb_n = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled detector; attributes missing from an older checkpoint get fresh defaults."""
        params = inspect.signature(type(self)).parameters
        merged = dict(vars(type(self)(**{k: v for k, v in state.items() if k in params})))
        merged.update(state)
        self.__dict__.update(merged)

    def rebaseline(self, t: float | None = None) -> None:  # noqa: ARG002
        """The level may step now (calibration done, reagent lot change): the next ``rebase`` readings score 0.

        They are not learnt as readings; their mean deviation from what was expected (the time-of-day
        profile, else the running mean) moves every level the detector holds, so the step is the new normal.
        A counter or a one-way level is judged by its rate, and a sparse count of events by its events, which a
        calibration or a new lot does not step: it goes on as it was (a counter held back 30 readings hid a stall
        that began then; an error count re-based after a burst expected -1.3 errors a minute).
        """
        if self._rate is not None or (self._whole and self.counters):
            return  # a counter's rate or a count of events (errors a minute): no level to step
        self._rb_left = max(1, self.rebase)
        self._rb_sum = 0.0
        self._rb_n = 0

    def _shift(self, shift: float, weekly: bool = True) -> None:
        """Move the running mean and the time-of-day profile by ``shift`` (a level step that is the new normal);
        with ``weekly`` the day-of-week profile too (a re-baseline, which knows the level stepped; a lasting shift
        the detector finds itself may be a quiet weekend in the first week, and the weekly profile would keep
        the shift on the slots learnt meanwhile: a Saturday read 10 kPa where it was 2)."""
        self._xm += shift
        self._prof = [v + shift for v in self._prof]
        if weekly:
            self._wprof = [v + shift for v in self._wprof]
            self._wlast = [v + shift for v in self._wlast]

    def _step(self, x: float, t: float | None, learn: bool) -> float:
        if x - x != 0.0:
            return 0.0
        if self._rb_left:
            if learn:
                collect(self, x, t)
            return 0.0
        n = self._n
        # stream kind (state point or counter), including the current reading
        nv = self._nv
        v1 = self._v1
        if nv == 0:
            nv = 1
            v0 = x
        else:
            v0 = self._v0
            if nv == 1:
                if x != v0:
                    nv, v1 = 2, x
            elif nv == 2 and x != v0 and x != v1:
                nv = 3
        inc = self._inc
        dec = self._dec
        if n:
            if x > self._prev:
                inc += 1
            elif x < self._prev:
                dec += 1
        kind = stream_kind(nv, v0, v1, inc, dec, ratio=self.counter_ratio, one_way=self.counters,
                           unit_kind=self.unit_kind) if self.kinds else PLAIN
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
        slot = wslot = -1
        r = rx = 0.0
        seasonal = False
        ns = self._ns
        if ns and t is not None:
            slot = int((t % self.period) / self.period * ns)
            if ns >= self.weekly_slots:
                wslot = int((t % WEEK) / WEEK * 7 * ns)
            if self._pn[slot] > 0:
                r = rx = x - self._prof[slot]
                if wslot >= 0:
                    rx = nearer_week(self, x, r, wslot, t)
                if n >= self.grace and self._rn >= self.grace and self._rv < self.season_gain * self._xv:
                    seasonal = True
                    rsd = math.sqrt(self._rv)
                    zx = abs(rx - self._rm) / rsd if rsd > 0.0 else (1e9 if rx != self._rm else 0.0)
            else:
                slot = -2 - slot
        zx0 = zx
        if self.spike_mem > 0.0 and t is not None and slot != -1 and zx > 0.0:
            zx *= routine_scale(self, slot if slot >= 0 else -2 - slot, t)
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
        base = mean
        lslot = -1
        if self.routine_rate > 0.0 and slot != -1:
            lslot = slot if slot >= 0 else -2 - slot
            lp = self._lprof
            nb = self.routine_nb
            if not nb:
                if lp[lslot] > base:
                    base = lp[lslot]
            else:
                for k in range(lslot - nb, lslot + nb + 1):
                    if lp[k % ns] > base:
                        base = lp[k % ns]
        z = (avg - base) / std
        score = 0.0
        if n >= self.grace:
            if z > 0.0:
                score = tail_to_score(0.5 * math.erfc(z * SQRT1_2))
            if zx > 0.0:
                scale = self.zscale
                if 0.0 < self.zq < 1.0:
                    qs = self._q / self._zq_ref
                    if qs > scale:
                        scale = qs
                px = math.erfc(zx / scale * SQRT1_2)
                if 0.0 < self.zq_low < self.zq < 1.0:
                    px = max(px, self._exp_tail(zx))
                sx = tail_to_score(px)
                if sx > score:
                    score = sx
        # slow drift: the short level against the long baseline of the normal band
        # a sparse event count (whole numbers, mostly 0: errors a minute) has no level to drift; its bursts are the
        # other cues' (two errors in five minutes were a "drift" of a rate of 0.02)
        sparse = self.kinds and self._whole and x == int(x) and self._xm < 0.5 and self.counters
        drift = drift_cue(self, x, n) if self.drift_z > 0.0 and not sparse else None
        if drift is not None and drift[0] > score:
            score = drift[0]
        if self._range is not None and kind == PLAIN:
            ranged = self._range.step(x, t, learn)
            # only a bursty stream's (readings often far out of the band): a steady stream's level is the other
            # cues' to judge, reading by reading
            if ranged > score and not sparse and self._dout_long >= self.range_bursty:
                score = ranged
        csum = self._csum - self._cring[self._cpos] + x if self._whole else 0.0
        if sparse and self.count_window and n >= self.grace and self._cv <= 2.0 * self._cm:
            # A sparse count is judged by how many events the last minutes hold against its usual rate (Poisson):
            # two errors in one minute are rare, not a fault (they alerted at 0.83 as a 20-sigma outlier); a burst
            # of errors minute after minute is.
            rate = self._xm
            if slot != -1:  # this hour's usual rate where the day has a rhythm (busier in the day shift)
                here = slot if slot >= 0 else -2 - slot
                near = [self._prof[k % ns] for k in range(here - 5, here + 6) if self._pn[k % ns]]
                if near and sum(near) / len(near) > rate:
                    rate = sum(near) / len(near)
            # (at least one event in the long run: a count re-learnt down to 0 must not make one error impossible)
            score = poisson_tail_score(csum, max(rate, 1.0 / self.zlong) * self.count_window)
        if kind == ON_OFF:
            score = 0.0
        elif kind != PLAIN:
            score = self._rate_cue(kind, kind == LEVEL and dec > inc, learn).step(x, t, learn)
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
        if not self._ns and dt > 0.0 and self.slots:
            self._ns = max(min(48, self.slots), min(self.slots, int(self.period / (self.slot_readings * dt))))
        if full:
            self._counts[ctx] += 1
        self._ring[pos] = raw
        self._pos = pos + 1 if pos + 1 < self.short else 0
        self._sum = total
        w = 1.0 / min(n + 1, self.long)
        d = avg - mean
        self._mean = mean + w * d
        self._var = (1.0 - w) * (var + w * d * d)
        if lslot >= 0 and t is not None and n >= self.routine_warm and (
                avg > self._lpeak[lslot] or t - self._ltime[lslot] > 0.5 * self.period):
            learn_routine_rate(self, lslot, avg, t)
        # the deviation from what was expected, lately, while normal (a re-baseline measures its step from there;
        # a fault's deviation is no baseline to measure from)
        if score < self.threshold:
            dev = rx if slot >= 0 else x - self._xm
            self._rdev += (dev - self._rdev) / min(n + 1, max(1, self.rebase))
        learn_level(self, x, n, zx0, rx if seasonal else None)
        if drift is not None:
            learn_drift(self, x, n, drift)
        if self._whole and x != int(x):
            self._whole = False
        if self._whole:  # a count's window of events (only whole-number streams can be sparse counts)
            self._cring[self._cpos] = x
            self._cpos = self._cpos + 1 if self._cpos + 1 < len(self._cring) else 0
            self._csum = csum
            wc = 1.0 / min(n + 1, self.zlong)
            dc = csum - self._cm
            self._cm += wc * dc
            self._cv = (1.0 - wc) * (self._cv + wc * dc * dc)
        self._nv, self._v0, self._v1, self._prev, self._inc, self._dec = nv, v0, v1, x, inc, dec
        if kind < COUNTER:
            self._rate = None  # no longer one-way: should it become so again, its rate starts afresh
        if slot != -1:
            if slot < -1:
                slot = -2 - slot
                self._prof[slot] = x
            else:
                self._prof[slot] += self.slot_rate * r
                wr = 1.0 / min(self._rn + 1, self.zlong)
                dr = rx - self._rm
                self._rm += wr * dr
                self._rv = (1.0 - wr) * (self._rv + wr * dr * dr)
                self._rn += 1
            self._pn[slot] += 1
            if wslot >= 0:
                k = self._wn[wslot]
                # past its first readings' plain mean and within the visit: inline
                if k and (k + 1) * self.slot_rate >= 1.0 and t is not None and t - self._wt[wslot] <= 0.5 * WEEK:
                    self._wprof[wslot] += self.slot_rate * (x - self._wprof[wslot])
                    self._wn[wslot] = k + 1
                else:
                    learn_week(self, wslot, x, t)
            if self.spike_mem > 0.0 and t is not None and n >= self.grace and zx0 < 1e6:
                learn_routine(self, slot, zx0, t)
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

    def _rate_cue(self, kind: int, falling: bool, learn: bool) -> RateCue:
        """The rate cue of a counter (kind COUNTER) or one-way level (LEVEL); a fresh one when the kind changed.

        A fresh one is kept only when learning (``score_one`` changes nothing).
        """
        cue = self._rate
        if cue is None or cue.one_sided != (kind == LEVEL) or cue.falling != falling:
            # one rate a bucket (15 min): a day of them before it scores; the outer detector rests and raises the bar
            inner = ContextLikelihood(kinds=False, grace=96, rest=0, ar_gain=0.0, range_recent=0)
            cue = RateCue(inner, falling=falling, one_sided=kind == LEVEL)
            if learn:
                self._rate = cue
        return cue

    def _exp_tail(self, zx: float) -> float:
        """Return P(|z| > zx) from an exponential tail through the tracked zq_low and zq quantiles of |z|."""
        return fit_exponential_tail(zx, self._q2, self._q, self.zq_low, self.zq)
