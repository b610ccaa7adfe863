"""The drift, routine and rhythm cues and the level bookkeeping of ContextLikelihood (kept apart for size).

Each function reads (and the ``learn_*`` ones update) the private state of one ContextLikelihood; the detector
calls them from its step. See ContextLikelihood's docstring for what each cue means.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from models.anomaly.base import SQRT1_2, tail_to_score

if TYPE_CHECKING:
    from models.anomaly.context import ContextLikelihood

__all__ = ["WEEK", "Drift", "Excursion", "collect", "drift_cue", "expected_deviation", "learn_drift",
           "learn_level", "learn_routine", "learn_routine_rate", "learn_week", "nearer_week", "routine_scale"]

WEEK = 7 * 86400.0

# two-sided Gaussian quantile of tail 1e-5 (score 0.5): |D| = drift_z maps here
_Z5 = 4.417173413469

# what the drift cue computes for one reading (see drift_cue)
# the baseline's learning rate, relative, while the short level is between drift_freeze and drift_start
_FREEZE_RATE = 0.1

# an excursion: sign, record |D|, readings since it, age, drift-prone stream, proportional record, its age, paced
Excursion = tuple[int, float, int, int, bool, float, int, bool]
Drift = tuple[float, float, float, Excursion | None]


def drift_cue(det: ContextLikelihood, x: float, n: int) -> Drift:
    """Return (drift score, short level, baseline deviation, next excursion or None) after ``x`` (pure).

    The slow-drift cue of ContextLikelihood (its point 4). A short level ``S`` (exponential average over
    ``drift_short`` readings) is compared with a long baseline of the stream's normal band: mean
    ``B`` and deviation ``sd`` over ``drift_long`` readings, each update clipped to ``drift_clip``
    deviations, not learnt during an excursion and learnt ten times slower while ``S`` is more than
    ``drift_freeze`` deviations away (so a drift cannot drag the band along).  ``D = (S - B) / sd``.
    An *excursion* starts when |D| reaches ``drift_start`` and ends when it falls back below.  It
    *keeps moving away* while |D| sets new records; it has *settled* once no record (``drift_step``
    above the last) came for ``drift_hold`` readings: then the baseline is re-learnt at the new
    level (a step after calibration or maintenance, then stable) and the excursion ends.  A drift
    scores the two-sided Gaussian tail of |D| scaled so that |D| = ``drift_z`` gives 0.5 (p = 1e-5)
    while |D| keeps growing *in proportion*: a record also ``drift_rel`` x |D| above the last such
    one, set at least ``drift_min`` readings into the excursion and at most ``drift_fresh`` readings
    ago, and at a ramp's pace (it took at most ``drift_pace`` x the excursion's age since the last
    such one).  A step only converges (the short level closes the gap exponentially, so proportional
    records stop after ~``drift_short`` x ln(1 / drift_rel) readings, before ``drift_min``, and slow
    down); a ramp keeps setting them.  Streams whose readings leave ``drift_out`` deviations of the
    band more than a fraction ``drift_rare`` of the time (bursty streams, judged when the excursion
    starts) make excursions that are bursts, not drifts: the cue stays silent there.  A ramp of
    ``r`` deviations per reading is flagged after about
    ``max(drift_z / r, drift_start / r + drift_min) + drift_short`` readings; ramps slower than
    ``drift_step / drift_hold`` per reading are re-learnt. The drift score joins the others by the
    max.
    """
    ds = det._ds
    s = x if n == 0 else ds + (x - ds) / (n + 1 if n < det.drift_short else det.drift_short)
    sd = math.sqrt(det._dv)
    if n < det.drift_warm or not 0.0 < sd < math.inf:
        return 0.0, s, sd, None  # no spread learnt (yet): nothing to measure a drift in
    d = (s - det._db) / sd
    exc = det._dx
    if exc is None or d * exc[0] < det.drift_start:
        if not abs(d) >= det.drift_start:
            return 0.0, s, sd, None  # inside the normal band (or not a number)
        # a new excursion; a bursty stream (readings often far out of the band) makes excursions
        # that are bursts, not drifts: decided now, before this excursion's readings count
        return 0.0, s, sd, (1 if d > 0.0 else -1, abs(d), 0, 0, det._dout < det.drift_rare, abs(d), 0, False)
    sign, rec, since, age, ok, rel, rel_age, paced = exc
    age += 1
    a = d * sign
    if a >= rec + det.drift_step:
        rec, since = a, 0  # a new record: still moving away
        if a >= rel * (1.0 + det.drift_rel):
            # ... by a fraction of the distance too, and soon after the last such record: a ramp
            # keeps that pace (each 10 % takes ~10 % of its age), a step settling slows down
            paced = age - rel_age <= det.drift_pace * age
            rel, rel_age = a, age
    else:
        since += 1
    score = 0.0
    if ok and paced and age - rel_age < det.drift_fresh and rel_age >= det.drift_min:
        score = tail_to_score(math.erfc(a * _Z5 / det.drift_z * SQRT1_2))
    return score, s, sd, (sign, rec, since, age, ok, rel, rel_age, paced)


def learn_drift(det: ContextLikelihood, x: float, n: int, drift: Drift) -> None:
    """Commit the drift state: the short level, the excursion, the baseline (in-band readings only)."""
    _, s, sd, exc = drift
    det._ds = s
    d = x - det._db
    warm = n >= det.drift_warm and 0.0 < sd < math.inf
    if warm:
        k = n - det.drift_warm + 1
        out = 1.0 if abs(d) > det.drift_out * sd else 0.0
        det._dout += (out - det._dout) / (k if k < det.drift_long else det.drift_long)
        # the same over ten times as long: whether the stream is bursty by nature, not after a fault or a service
        det._dout_long += (out - det._dout_long) / (k if k < 10 * det.drift_long else 10 * det.drift_long)
    if exc is not None:
        if exc[2] < det.drift_hold:
            det._dx = exc
            return  # the baseline is frozen during an excursion
        # step then stable: the level settled (calibration, maintenance): re-learn the baseline there
        det._db = s
        d = x - s
    det._dx = None
    w = 1.0 / (n + 1 if n < det.drift_long else det.drift_long)
    if warm:
        if abs(s - det._db) >= det.drift_freeze * sd:
            w *= _FREEZE_RATE  # ten times slower while the short level is on its way out of the band
        lim = det.drift_clip * sd
        if d > lim:
            d = lim
        elif d < -lim:
            d = -lim
    det._db += w * d
    det._dv = (1.0 - w) * (det._dv + w * d * d)


def learn_week(det: ContextLikelihood, wslot: int, x: float, t: float | None) -> None:
    """Update the day-of-week profile: a plain mean over its first readings, then an exponential one."""
    k = det._wn[wslot]
    if k == 0:
        det._wprof[wslot] = x
        det._wt[wslot] = t or 0.0
    else:
        if t is not None and t - det._wt[wslot] > 0.5 * WEEK:  # a new visit: last week's expectation is final
            det._wlast[wslot] = det._wprof[wslot]
            det._wt[wslot] = t
        w = 1.0 / (k + 1)
        det._wprof[wslot] += (w if w > det.slot_rate else det.slot_rate) * (x - det._wprof[wslot])
    det._wn[wslot] = k + 1


def learn_routine_rate(det: ContextLikelihood, slot: int, avg: float, t: float) -> None:
    """Track the slot's peak surprise rate per day; fold the last day's into its usual rate on a new day."""
    if t - det._ltime[slot] > 0.5 * det.period:
        det._lprof[slot] += det.routine_rate * (det._lpeak[slot] - det._lprof[slot])
        det._lpeak[slot] = avg
        det._ltime[slot] = t
    elif avg > det._lpeak[slot]:
        det._lpeak[slot] = avg


def routine_scale(det: ContextLikelihood, slot: int, t: float) -> float:
    """Return the factor for |z| at ``slot``: < 1 when earlier days spiked at this time of day."""
    mem = 0.0
    days = 0
    for k in range(slot - det.spike_nb, slot + det.spike_nb + 1):
        k %= det._ns
        days += det._scnt[k]
        m = det._smax[k]
        if m > mem and t - det._stime[k] > 0.5 * det.period:
            mem = m
    if days >= det.spike_days and mem > det.spike_ref:
        return det.spike_ref / mem
    return 1.0


def learn_routine(det: ContextLikelihood, slot: int, zx: float, t: float) -> None:
    """Update the slot's decayed max |z|, its time, and its count of days with |z| > spike_ref."""
    m = det._smax[slot] * det.spike_mem
    if zx > det.spike_ref and t - det._stime[slot] > 0.5 * det.period:
        det._scnt[slot] += 1
    if zx > m:
        det._smax[slot] = zx
        det._stime[slot] = t
    else:
        det._smax[slot] = m


def nearer_week(det: ContextLikelihood, x: float, r: float, wslot: int, t: float) -> float:
    """``r`` (``x`` less the time-of-day profile) or, where the same time last week explains ``x`` better (a quiet
    weekend, a Monday rush), ``x`` less that. Last week's value is the slot's as of its last visit: all it learnt
    when ``x`` opens a new visit."""
    week = det._wprof[wslot] if det._wn[wslot] and t - det._wt[wslot] > 0.5 * WEEK else det._wlast[wslot]
    if week < math.inf:
        rw = x - week
        if abs(rw - det._rm) < abs(r - det._rm):
            return rw
    return r


def expected_deviation(det: ContextLikelihood, x: float, t: float | None) -> float:
    """``x`` less what the detector expects at ``t``: the time-of-day profile or, where it explains ``x`` better,
    the same time last week (``x`` less the running mean before a profile has the slot)."""
    if det._ns and t is not None:
        slot = int((t % det.period) / det.period * det._ns)
        if det._pn[slot] > 0:
            residual = x - det._prof[slot]
            if det._ns >= det.weekly_slots:
                residual = nearer_week(det, x, residual, int((t % WEEK) / WEEK * 7 * det._ns), t)
            return residual
    return x - det._xm


def collect(det: ContextLikelihood, x: float, t: float | None) -> None:
    """One reading after rebaseline(): add its deviation; after the last one, shift the levels by the mean."""
    # The step is the readings' deviation from what was expected, less the deviation the stream showed just
    # before (``_rdev``): a service on a quiet Sunday morning is no step even where the profiles, pulled by the
    # weekdays, expect more then (they moved every level 6-16 kPa down and alarmed that evening).
    deviation = expected_deviation(det, x, t) - det._rdev
    det._rb_sum += deviation
    det._rb_n += 1
    det._rb_left -= 1
    if det._rb_left:
        return
    shift = det._rb_sum / det._rb_n
    # A step within the stream's noise is no step: the analyzer reports a calibration or a new lot for the whole
    # device, and most of its streams do not move; re-basing them daily reset their drift and context memory
    # (a clog or a stall building over the day was forgotten every morning).
    seasonal = det._rn >= det.grace and det._rv < det._xv
    if abs(shift) <= det.rebase_z * math.sqrt(det._rv if seasonal else det._xv):
        return
    det._shift(shift)
    det._fm += shift
    det._ds += shift
    det._db += shift
    det._dx = None
    det._lo += shift  # the context grid moves with the level: the new normal makes the old contexts
    det._hi += shift
    det._ring = [0.0] * det.short
    det._sum = 0.0
    det._away = 0
    if t is not None and (det._last_t is None or t > det._last_t):
        det._last_t = t


def learn_level(det: ContextLikelihood, x: float, n: int, zx: float, rx: float | None) -> None:
    """Update the running mean/variance, restarting them after a lasting level shift.

    ``rx`` is the reading's residual from the time-of-day profile when the profile scored it (else None):
    a lasting shift is then measured on the residuals (a busy shift after a quiet night is no shift).
    """
    wx = 1.0 / min(n + 1, det.zlong)
    dx = x - det._xm
    det._xm += wx * dx
    det._xv = (1.0 - wx) * (det._xv + wx * dx * dx)
    wf = 1.0 / min(n + 1, max(det.zlong // 20, 2))
    df = x - det._fm
    det._fm += wf * df
    det._fv = (1.0 - wf) * (det._fv + wf * df * df)
    if rx is not None:
        dr = rx - det._rfm
        det._rfm += wf * dr
        det._rfv = (1.0 - wf) * (det._rfv + wf * dr * dr)
    if zx > det.zraw:
        det._away += 1
        if det._away >= det.relearn:
            if rx is None:
                det._shift(det._fm - det._xm, weekly=False)
            else:
                det._shift(det._rfm - det._rm, weekly=False)
                det._xm, det._rfm = det._fm, det._rm
            det._xv, det._away = det._fv, 0
    else:
        det._away = 0
