"""The maintenance score formula (docs/maintenance-score.md): 100 minus five capped penalties, each pinned here."""

from __future__ import annotations

import pytest

from models.maintenance.score import Fault, ScoreInputs, compute_score, merged_hours, recency_weight


def score(faults: tuple[Fault, ...] = (), *, down: float = 0, open_faults: int = 0, open_alerts: int = 0,
          age: float | None = 2.0):  # noqa: ANN201
    return compute_score(ScoreInputs(faults=faults, downtime_hours=down, open_faults=open_faults,
                                     open_alerts=open_alerts, age_years=age))


def fault(days_ago: float = 0, tier: str | None = "remote", reopened: int = 0) -> Fault:
    return Fault(days_ago=days_ago, tier=tier, reopened=reopened)


def test_a_young_device_without_faults_scores_100() -> None:
    result = score()
    assert result.score == 100 and result.as_dict() == {"frequency": 0, "downtime": 0, "repeats": 0,
                                                         "open_issues": 0, "age": 0}


@pytest.mark.parametrize(("tier", "points"), [("basic", 2.0), ("remote", 4.0), ("on_site", 6.0), (None, 4.0)])
def test_a_fault_today_costs_four_points_weighted_by_the_tier_that_solved_it(tier: str | None, points: float) -> None:
    assert score((fault(tier=tier),)).frequency == points


def test_a_fault_weighs_half_after_half_a_year_and_nothing_after_a_year() -> None:
    assert recency_weight(0) == 1 and recency_weight(180) == 0.5 and recency_weight(366) == 0
    assert score((fault(180),)).frequency == 2.0
    assert score((fault(400),)).score == 100


def test_frequency_stops_at_40_points() -> None:
    assert score(tuple(fault(tier="on_site") for _ in range(20))).frequency == 40


def test_two_weeks_down_in_a_year_costs_the_whole_20_points() -> None:
    assert score(down=168).downtime == 10 and score(down=336).downtime == 20 and score(down=2000).downtime == 20


def test_each_reopening_costs_four_points_up_to_ten() -> None:
    assert score((fault(reopened=1),)).repeats == 4
    assert score((fault(reopened=1), fault(reopened=2))).repeats == 10


def test_open_faults_cost_eight_and_open_alerts_four_up_to_fifteen() -> None:
    assert score(open_faults=1).open_issues == 8 and score(open_alerts=1).open_issues == 4
    assert score(open_faults=1, open_alerts=1).open_issues == 12
    assert score(open_faults=2, open_alerts=3).open_issues == 15


@pytest.mark.parametrize(("years", "points"), [(None, 0), (3, 0), (5, 0), (7, 3), (9, 6), (30, 10)])
def test_age_costs_a_point_and_a_half_a_year_beyond_five_up_to_ten(years: float | None, points: float) -> None:
    assert score(age=years).age == points


def test_the_score_is_rounded_and_never_below_zero() -> None:
    # 100 - 4 (one remote fault today) - 20 * 24 / 336 (a day down) = 94.57
    assert score((fault(),), down=24).score == 95
    worst = score(tuple(fault(tier="on_site", reopened=3) for _ in range(30)), down=5000, open_faults=5,
                  open_alerts=5, age=40)
    assert worst.score == 100 - 40 - 20 - 10 - 15 - 10 == 5
    assert worst.frequency + worst.downtime + worst.repeats + worst.open_issues + worst.age == 95


def test_more_or_fresher_faults_never_raise_the_score() -> None:
    base = (fault(30), fault(90, "on_site"))
    assert score((*base, fault(10, "basic"))).score <= score(base).score
    assert score((fault(10),)).score <= score((fault(200),)).score


def test_overlapping_downtime_counts_once() -> None:
    assert merged_hours([(0, 10), (5, 12), (20, 21)]) == 13
    assert merged_hours([(0, 5), (0, 5)]) == 5 and merged_hours([]) == 0 and merged_hours([(3, 2)]) == 0


def test_the_worked_example_of_the_documentation() -> None:
    # docs/maintenance-score.md: seven years old, a remote fault open today, an on-site repair half a year ago
    # that was reopened once; 32 hours down in all.
    result = score((fault(0, None), fault(180, "on_site", reopened=1)), down=32, open_faults=1, age=7)
    assert result.as_dict() == {"frequency": 7.0, "downtime": 1.9, "repeats": 4.0, "open_issues": 8.0, "age": 3.0}
    assert result.score == 76
