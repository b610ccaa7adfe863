"""The maintenance score: 100 minus five capped penalties from a device's last year (docs/maintenance-score.md).

Every constant of the formula is here and only here; the document quotes them and the tests pin them.

>>> compute_score(ScoreInputs(faults=(), downtime_hours=0, open_faults=0, open_alerts=0, age_years=2.0)).score
100
>>> compute_score(ScoreInputs(faults=(Fault(days_ago=0, tier="on_site", reopened=0),), downtime_hours=24,
...                           open_faults=0, open_alerts=0, age_years=2.0)).score
93
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WINDOW_DAYS = 365  # faults older than this do not count
HALF_LIFE_DAYS = 180.0  # a fault's weight halves every half year
# Weight of one fault by the tier that solved it: an on-site repair says more about the device than a remote
# answer or self-service; a fault still open (no tier yet) counts as a remote one.
TIER_WEIGHT = {"basic": 0.5, "remote": 1.0, "on_site": 1.5, None: 1.0}
FREQUENCY_POINTS, FREQUENCY_CAP = 4.0, 40.0  # per weighted fault
DOWNTIME_FULL_HOURS, DOWNTIME_CAP = 336.0, 20.0  # two weeks down in a year costs the whole 20 points
REPEAT_POINTS, REPEAT_CAP = 4.0, 10.0  # per reopening (not fixed the first time)
OPEN_FAULT_POINTS, OPEN_ALERT_POINTS, OPEN_CAP = 8.0, 4.0, 15.0  # per open fault ticket / open predictive alert
AGE_FREE_YEARS, AGE_POINTS, AGE_CAP = 5.0, 1.5, 10.0  # per year of service beyond the first five


@dataclass(frozen=True)
class Fault:
    """One fault of the device within the window."""

    days_ago: float  # since it was reported
    tier: str | None  # basic / remote / on_site; None while it is open
    reopened: int  # how often it was reopened (0 = fixed the first time)


@dataclass(frozen=True)
class ScoreInputs:
    """What the score is computed from: the faults of the last WINDOW_DAYS and the device's state now."""

    faults: Sequence[Fault]
    # Hours the device was down in the window: faults from report to resolution (or now), overlaps counted once
    # (merged_hours).
    downtime_hours: float
    open_faults: int  # fault tickets of the device not yet resolved
    open_alerts: int  # predictive alerts not yet resolved
    age_years: float | None  # since installation; None when the install date is unknown


@dataclass(frozen=True)
class ScoreBreakdown:
    """The score and the points each part of the formula took off (all >= 0)."""

    score: int
    frequency: float
    downtime: float
    repeats: float
    open_issues: float
    age: float

    def as_dict(self) -> dict[str, float]:
        """The parts by name, for pages and the API."""
        return {"frequency": self.frequency, "downtime": self.downtime, "repeats": self.repeats,
                "open_issues": self.open_issues, "age": self.age}


def recency_weight(days_ago: float) -> float:
    """1 for a fault today, 0.5 half a year ago, 0 outside the window."""
    if days_ago > WINDOW_DAYS:
        return 0.0
    return float(0.5 ** (max(0.0, days_ago) / HALF_LIFE_DAYS))


def compute_score(inputs: ScoreInputs) -> ScoreBreakdown:
    """The maintenance score (0 = worst, 100 = best) with the points each part took off."""
    counted = [f for f in inputs.faults if f.days_ago <= WINDOW_DAYS]
    weighted = sum(TIER_WEIGHT.get(f.tier, 1.0) * recency_weight(f.days_ago) for f in counted)
    frequency = min(FREQUENCY_CAP, FREQUENCY_POINTS * weighted)
    downtime = min(DOWNTIME_CAP, DOWNTIME_CAP * max(0.0, inputs.downtime_hours) / DOWNTIME_FULL_HOURS)
    repeats = min(REPEAT_CAP, REPEAT_POINTS * sum(max(0, f.reopened) for f in counted))
    open_issues = min(OPEN_CAP, OPEN_FAULT_POINTS * max(0, inputs.open_faults)
                      + OPEN_ALERT_POINTS * max(0, inputs.open_alerts))
    age = 0.0 if inputs.age_years is None else min(AGE_CAP, AGE_POINTS * max(0.0, inputs.age_years - AGE_FREE_YEARS))
    score = 100.0 - frequency - downtime - repeats - open_issues - age
    return ScoreBreakdown(score=int(max(0, min(100, round(score)))), frequency=round(frequency, 2),
                          downtime=round(downtime, 2), repeats=round(repeats, 2), open_issues=round(open_issues, 2),
                          age=round(age, 2))


def merged_hours(intervals: Sequence[tuple[float, float]]) -> float:
    """The hours covered by (start, end) intervals given in hours, overlaps counted once.

    Two faults open at the same time keep the device down once, not twice.

    >>> merged_hours([(0, 10), (5, 12), (20, 21)])
    13.0
    """
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted((s, e) for s, e in intervals if e > s):
        if current_end is None or start > current_end:
            if current_end is not None and current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None and current_start is not None:
        total += current_end - current_start
    return float(total)
