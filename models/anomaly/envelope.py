"""A bursty stream's typical level against the range it kept over the past week (the range cue).

A bursty stream (a sample probe's aspiration pressure: 2 kPa idle, 28 kPa when it aspirates, anything between
as the minute's workload goes) has no level a reading can be held to: one reading of 38 kPa is a busy minute,
not a fault. Its *typical* level over a quarter of an hour (the median of the bucket's readings) is steady,
though, and it stays inside the range the stream kept on its busiest and quietest days. A clogging probe pushes
that median above anything the past week reached, bucket after bucket while samples run; a normal busy morning
touches the top of the range now and then, one bucket at a time.

So :class:`RangeCue` flags each finished bucket whose median lies above the highest (or below the lowest)
median of the past ``window`` seconds, leaving out the last ``lag`` seconds (a slow rise must beat the week, not
its own last hour), and scores how many of the last ``recent`` buckets were flagged on the same side: a
binomial tail with the flag rate the stream has shown itself (at least ``p_floor``). Measured on
bench/analyzer_faults.py (6 devices x 14 days x seeds 1-3, probe pressure, 2 hours of buckets): normal hours
never had more than 2 of 8 buckets above the week, 7 of 8 clogs had 6 to 8.

Deterministic (it depends only on the readings and their times) and plain state, so it pickles with the detector
that holds it.
"""

from __future__ import annotations

import math
from collections import deque
from statistics import median

from models.anomaly.base import tail_to_score

__all__ = ["RangeCue", "binomial_tail"]


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(N >= k) for N ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return sum(math.comb(n, i) * p**i * (1.0 - p) ** (n - i) for i in range(k, n + 1))


class RangeCue:
    """Scores a bursty stream by how many of its recent quarter-hour medians left the past week's range.

    ``bucket`` seconds a median (of at least ``min_readings`` readings), ``window`` seconds of medians the range is
    taken over (after at least ``warm`` seconds of them), ``lag`` seconds of the latest medians left out of it,
    ``recent`` buckets counted. When a reading opens a new bucket the finished one is flagged and the score
    recomputed; the score holds for every reading until the next bucket finishes.
    """

    def __init__(self, *, bucket: float = 900.0, window: float = 7 * 86400.0, lag: float = 7200.0,
                 warm: float = 86400.0, recent: int = 8, p_floor: float = 0.01, rate_n: int = 2000,
                 min_readings: int = 3) -> None:
        self.bucket = bucket
        self.window = window
        self.lag = lag
        self.warm = warm
        self.recent = recent
        self.p_floor = p_floor
        self.rate_n = rate_n
        self.min_readings = min_readings
        self._b: int | None = None  # the current bucket and its readings
        self._vals: list[float] = []
        # The past window's medians, (bucket start, median): the latest ``lag`` seconds wait in _pending; the rest
        # are kept as the running maximum and minimum (monotonic queues: the front is the extreme, O(1) a bucket).
        self._pending: deque[tuple[float, float]] = deque()
        self._high: deque[tuple[float, float]] = deque()
        self._low: deque[tuple[float, float]] = deque()
        self._starts: deque[float] = deque()  # every bucket start in the window (the oldest says if it is warm)
        self._flags: deque[int] = deque(maxlen=recent)  # +1 above the range, -1 below, 0 inside: latest buckets
        self._rate = 0.0  # how often a bucket leaves the range (exponential average over rate_n buckets)
        self._n = 0
        self._score = 0.0

    def __eq__(self, other: object) -> bool:
        """Equal state (a checkpoint restored is the detector it was)."""
        return isinstance(other, RangeCue) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]  # mutable state: not a dict key

    def step(self, x: float, t: float | None, learn: bool) -> float:
        """Score reading ``x`` at ``t`` (the score as of the last finished bucket); when ``learn``, take it in."""
        if t is None:
            return 0.0
        b = math.floor(t / self.bucket)
        if self._b is None or b == self._b:
            if learn:
                self._b = b
                self._vals.append(x)
            return self._score
        if b < self._b:
            return self._score  # out of order: the bucket it belongs to is done
        flag, score = self._judge()
        if learn:
            self._commit(flag, score)
            self._b = b
            self._vals = [x]
        return score

    def _range(self, at: float) -> tuple[float, float] | None:
        """The highest and lowest median of the window before ``at`` less its last ``lag`` seconds (None: none)."""
        old, cut = at - self.window, at - self.lag
        high = next((m for start, m in self._high if start > old), -math.inf)
        low = next((m for start, m in self._low if start > old), math.inf)
        for start, m in self._pending:
            if start >= cut:
                break
            if start > old:
                high = max(high, m)
                low = min(low, m)
        return None if high == -math.inf else (high, low)

    def _judge(self) -> tuple[int | None, float]:
        """The finished bucket's flag (None: too few readings or too little history) and the score after it."""
        vals = self._vals
        if len(vals) < self.min_readings:
            return None, self._score
        at = self._b * self.bucket  # type: ignore[operator]
        starts = self._starts
        oldest = next((start for start in starts if start > at - self.window), None)
        span = self._range(at) if oldest is not None and at - oldest >= self.warm else None
        if span is None:
            return None, 0.0
        typical = median(vals)
        flag = 1 if typical > span[0] else -1 if typical < span[1] else 0
        flags = list(self._flags)[1 - self.recent:] if self.recent > 1 else []
        flags.append(flag)
        same = max(flags.count(1), flags.count(-1))
        if same == 0:
            return flag, 0.0
        p = max(self.p_floor, 0.5 * self._rate)
        return flag, tail_to_score(binomial_tail(same, self.recent, p))

    def _commit(self, flag: int | None, score: float) -> None:
        """Learn the finished bucket: its median joins the window, its flag the recent ones and the flag rate."""
        vals = self._vals
        if len(vals) < self.min_readings:
            return
        at = self._b * self.bucket  # type: ignore[operator]
        old, cut = at + self.bucket - self.window, at + self.bucket - self.lag  # as the next bucket will see it
        pending, high, low = self._pending, self._high, self._low
        pending.append((at, median(vals)))
        while pending and pending[0][0] < cut:
            item = pending.popleft()
            while high and high[-1][1] <= item[1]:
                high.pop()
            high.append(item)
            while low and low[-1][1] >= item[1]:
                low.pop()
            low.append(item)
        for queue in (high, low):
            while queue and queue[0][0] <= old:
                queue.popleft()
        starts = self._starts
        starts.append(at)
        while starts and starts[0] <= old:
            starts.popleft()
        self._score = score
        if flag is None:
            return
        self._flags.append(flag)
        self._n += 1
        self._rate += ((1.0 if flag else 0.0) - self._rate) / min(self._n, self.rate_n)
