"""One-way streams scored by their rate: counters (tests run, lamp hours, cycles) and consumed levels (reagent left).

A counter's value says nothing (it only grows); how fast it grows does: an analyzer whose test counter stops rising
in working hours has stopped running samples (a jammed sample handler), one that races ahead is re-running or
miscounting. :class:`RateCue` turns the readings into a rate per hour over fixed time buckets and scores that rate
with a rhythm-aware detector of its own, so a counter that rises fast in the day shift and not at night is normal.

A level that only moves one way between refills (reagent left in %, tests left in a pack) is consumed, not
counted: consumption follows the workload too, but only *faster* consumption than usual at that hour is worth an
alert (a sudden drop: a leak, a spilt or wrongly loaded bottle, reagent drawn at night). Slower consumption means
fewer tests were run, which the test counter already says; alerting on it twice would double every stall alert.
A refill (a move the other way) is the level's nature: the consumption restarts from it.

How a stream is told apart (:func:`one_way_kind`): by its unit first (cloud/alerts/streams.py classifies units),
its shape only when no unit says otherwise. A unit of a physical quantity (°C, kPa) rules both kinds out.
"""

from __future__ import annotations

import math
from typing import Any

from models.anomaly.base import SQRT1_2, Detector, tail_to_score

__all__ = ["COUNTER", "COUNTER_RATIO", "LEVEL", "ON_OFF", "PLAIN", "RateCue", "stream_kind"]

# Stream kinds (ContextLikelihood docstring, point 5).
PLAIN, ON_OFF, COUNTER, LEVEL = 0, 1, 2, 3
# One-way: at most one move back (a reset, a refill) per this many moves.
COUNTER_RATIO = 100
HOUR = 3600.0
WEEK = 7 * 86400.0
# The least dispersion the week comparison assumes: a counter as regular as a clock (lamp hours) would otherwise
# call the smallest wobble impossible.
PHI_MIN = 0.25


def stream_kind(nv: int, v0: float, v1: float, inc: int, dec: int, *, ratio: int, one_way: bool,
                unit_kind: str) -> int:
    """The kind of a stream from its values so far: PLAIN, ON_OFF, COUNTER or LEVEL.

    ``nv`` distinct values (capped at 3), the first two ``v0`` and ``v1``, ``inc`` moves up and ``dec`` down;
    one way = at most one move back per ``ratio`` moves. ``one_way`` False (a physical quantity) rules out
    COUNTER and LEVEL. A stream that moves both ways more often is PLAIN whatever its unit: a "count" that goes
    up and down is a per-minute tally (errors this minute) or a queue length, a "%" that does is a humidity.
    Values only 0 and 1 so far make an on/off point whatever the unit (a per-minute tally of 0 or 1 error too).
    """
    if nv <= 2 and (v0 == 0.0 or v0 == 1.0) and (nv == 1 or v1 == 0.0 or v1 == 1.0):
        return ON_OFF
    if not one_way:
        return PLAIN
    rising = dec * ratio <= inc
    falling = inc * ratio <= dec
    if not inc and not dec:
        # Flat so far: a counter unit makes it a counter at rate 0 (a quiet night is learnt); otherwise it is a
        # constant until its first move, which decides.
        return COUNTER if unit_kind == "counter" else PLAIN
    if rising:
        # A level that fills one way (a waste container) is a level: its unit decides over its counter shape.
        return LEVEL if unit_kind == "level" else COUNTER
    if falling:
        return LEVEL  # reagent left, tests left in a pack: consumed, whatever its unit
    return PLAIN


class RateCue:
    """Scores a one-way stream by its rate per hour, one rate per ``bucket`` seconds of reading time.

    Each step between two readings adds its move (in the stream's one direction: up, or down when ``falling``)
    and its duration to the bucket of its later reading; the bucket's rate is move / duration x 3600. A move the
    other way (a counter reset or rollover, a refill) and a step longer than ``gap`` typical steps (readings
    missing: when the counting happened is unknown) add nothing: the rate restarts after them, so neither gives
    a negative or a spread-out rate. A counter that stays flat has rate 0.

    When a reading opens a new bucket, the finished one's rate is scored (and learnt) by ``inner``, a
    rhythm-aware detector stamped with the bucket's start; that score holds for every reading until the next
    bucket finishes, so an alert stays abnormal while its bucket is current. ``one_sided``: a rate at or below
    the usual rate of its half hour of the day (an exponential average per slot, else overall) scores 0.

    *Against the same quarter hour last week* (a counter's, not a consumed level's; ``week_warm`` 0 disables it):
    a rate far below that one week earlier scores, in Poisson units: z = (rate - last week) / sqrt(phi x (rate +
    last week + 1)), phi the stream's learnt dispersion (4 for a pure Poisson count at 15-minute buckets; clipped
    learning, so a stall does not teach it), counted from ``week_warm`` compared buckets on. Two buckets in a row
    must be low (the less extreme z counts), so one quiet quarter hour never alarms. Why: the rhythm detector
    learns its spread from its first week, when nothing yet says that Saturday afternoon and Sunday are quiet;
    those residuals (rate 0 where weekdays run 700 an hour) tripled that spread for a month, and every stall after
    the first weekend looked usual (bench/analyzer_faults.py: 0 of 9 found, 4 of 4 before it). Last week's
    quarter hour knows the weekend; only the low side scores (a stall last week would otherwise make this week's
    normal rate look like a race).

    A rate asks for stronger evidence than a reading: its score counts only above ``floor`` (rescaled to 0..1), as
    if its threshold were 0.7 where a reading's is 0.5. A rate is one point per bucket (96 a day, not 1,440), so
    its usual spread rests on far fewer points, and the first occurrence of a weekly pattern (the first Saturday
    whose shift ends at noon) looks exactly like a stall in a day-only profile. Measured on
    bench/analyzer_faults.py (6 devices x 14 days x 3 seeds): the first Saturday's shift end scored 0.50-0.63 on
    16 of 18 test counters, the stalls it caught 0.87 and 0.95; 0.4 keeps both sides of that gap apart.

    Deterministic (it depends only on the readings and their times) and plain state, so it pickles with the
    detector that holds it.
    """

    def __init__(self, inner: Detector, *, falling: bool = False, one_sided: bool = False, bucket: float = 900.0,
                 gap: float = 10.0, slots: int = 48, usual_rate: float = 0.2, floor: float = 0.4,
                 week_warm: int = 32, week_rate: float = 0.02) -> None:
        self.inner = inner
        self.falling = falling
        self.one_sided = one_sided
        self.bucket = bucket
        self.gap = gap
        self.slots = slots
        self.usual_rate = usual_rate
        self.floor = floor
        self._x = 0.0  # the previous reading and its time
        self._t: float | None = None
        self._dt = 0.0  # typical step between readings
        self._b: int | None = None  # the current bucket, what it moved and over how long
        self._moved = 0.0
        self._span = 0.0
        self._score = 0.0  # the last finished bucket's score
        self._usual = [0.0] * slots  # one-sided: usual rate per slot of the day, how often learnt, overall
        self._un = [0] * slots
        self._mean = 0.0
        self._n = 0
        self.week_warm = week_warm
        self.week_rate = week_rate
        per_week = round(WEEK / bucket)
        self._wk_rate = [0.0] * per_week  # the past week's bucket rates, by bucket number modulo a week
        self._wk_b = [-1] * per_week  # which bucket each holds (-1: none yet)
        self._phi = 0.0  # dispersion: mean of (rate - last week)^2 / (rate + last week + 1), and buckets learnt
        self._phin = 0
        self._wz: tuple[int, float] | None = None  # the last compared bucket and its z

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled cue; state it did not have yet (a checkpoint from an older release) starts fresh."""
        self.__dict__.update(vars(type(self)(state["inner"], bucket=state.get("bucket", 900.0))))
        self.__dict__.update(state)

    def step(self, x: float, t: float | None, learn: bool) -> float:
        """Score reading ``x`` at ``t`` (the last finished bucket's score); when ``learn``, also take it in."""
        last = self._t
        if t is None or (last is not None and t <= last):
            return self._score  # no time, or not after the previous reading: no rate to be had from it
        moved = span = 0.0
        if last is not None:
            step = t - last
            move = self._x - x if self.falling else x - self._x
            if move >= 0.0 and not (self._dt > 0.0 and step > self.gap * self._dt):
                moved, span = move, step
        b = math.floor(t / self.bucket)
        score = self._score
        done = self._b is not None and b > self._b
        rate = 0.0
        if done and self._span > 0.0:
            rate = self._moved / self._span * HOUR
            at = self._b * self.bucket  # type: ignore[operator]
            score = self.inner.score_learn_one(rate, at) if learn else self.inner.score_one(rate, at)
            score = max(0.0, (score - self.floor) / (1.0 - self.floor))
            if self.one_sided and rate <= self._usual_at(at):
                score = 0.0
            score = max(score, self._week_score(self._b, rate, learn))  # type: ignore[arg-type]
        if not learn:
            return score
        if done:
            if self._span > 0.0 and self.one_sided:
                self._learn_usual(rate, self._b * self.bucket)  # type: ignore[operator]
            self._b, self._moved, self._span = b, moved, span
        else:
            if self._b is None:
                self._b = b
            self._moved += moved
            self._span += span
        if last is not None:
            step = t - last
            self._dt = step if self._dt == 0.0 else self._dt + 0.01 * (step - self._dt)
        self._x, self._t, self._score = x, t, score
        return score

    def _slot(self, at: float) -> int:
        return int((at % 86400.0) / 86400.0 * self.slots)

    def _usual_at(self, at: float) -> float:
        k = self._slot(at)
        return self._usual[k] if self._un[k] else self._mean

    def _learn_usual(self, rate: float, at: float) -> None:
        k = self._slot(at)
        self._usual[k] = rate if not self._un[k] else self._usual[k] + self.usual_rate * (rate - self._usual[k])
        self._un[k] += 1
        self._n += 1
        self._mean += (rate - self._mean) / min(self._n, 1000)

    def _week_score(self, b: int, rate: float, learn: bool) -> float:
        """Bucket ``b``'s rate against the same bucket last week (see the class description); learns when asked."""
        if self.one_sided or self.week_warm <= 0:
            return 0.0
        per_week = len(self._wk_b)
        k = b % per_week
        last = self._wk_rate[k] if self._wk_b[k] == b - per_week else None
        score = 0.0
        if last is not None:
            spread = rate + last + 1.0
            phi = self._phi
            z = (rate - last) / math.sqrt(max(phi, PHI_MIN) * spread)
            prev = self._wz
            if self._phin >= self.week_warm and z < 0.0 and prev is not None and prev[0] == b - 1 and prev[1] < 0.0:
                worst = max(z, prev[1])  # the less extreme of the two: both buckets must be low
                score = tail_to_score(0.5 * math.erfc(-worst * SQRT1_2))
                score = max(0.0, (score - self.floor) / (1.0 - self.floor))
            if learn:
                term = (rate - last) ** 2 / spread
                if self._phin:
                    term = min(term, 25.0 * max(phi, PHI_MIN))  # beyond 5 deviations: a fault, not the stream's spread
                self._phi = term if not self._phin else phi + self.week_rate * (term - phi)
                self._phin += 1
                self._wz = (b, z)
        if learn:
            self._wk_rate[k], self._wk_b[k] = rate, b
        return score
