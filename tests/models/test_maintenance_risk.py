"""The 30-day risk (docs/maintenance-score.md): the device's own history pulled towards its fleet's rate, raised
by a rising trend, age and open alerts."""

from __future__ import annotations

import math

from models.maintenance.risk import RiskInputs, estimate_risk

FLEET = 1 / 60  # a fault every two months


def risk(days: tuple[float, ...] = (), *, exposure: float = 365, age: float | None = 3, alerts: int = 0,
         prior: float = FLEET, precision: float = 0.5) -> float:
    return estimate_risk(RiskInputs(fault_days_ago=days, exposure_days=exposure, age_years=age, open_alerts=alerts,
                                    prior_daily_rate=prior, alert_precision=precision)).probability


def test_a_new_device_without_history_gets_the_fleets_rate() -> None:
    expected = 1 - math.exp(-FLEET * 30)
    assert abs(risk(exposure=1) - expected) < 0.01


def test_a_quiet_year_lowers_the_risk_below_the_fleets_and_recent_faults_raise_it() -> None:
    fleet = 1 - math.exp(-FLEET * 30)
    assert risk() < fleet < risk((5, 20, 40))


def test_the_same_faults_weigh_more_when_recent() -> None:
    assert risk((10, 20, 30)) > risk((200, 220, 240))


def test_a_rising_trend_raises_the_risk() -> None:
    rising = estimate_risk(RiskInputs(fault_days_ago=(10, 30, 60), exposure_days=365, age_years=3, open_alerts=0,
                                      prior_daily_rate=FLEET, alert_precision=0.5))
    assert rising.recent_90 == 3 and rising.previous_90 == 0 and rising.trend == 1.25  # sqrt(4 / 1) = 2, capped
    steady = estimate_risk(RiskInputs(fault_days_ago=(10, 100), exposure_days=365, age_years=3, open_alerts=0,
                                      prior_daily_rate=FLEET, alert_precision=0.5))
    assert steady.trend == 1.0


def test_age_beyond_five_years_raises_the_risk_and_an_unknown_age_does_not() -> None:
    assert risk(age=12) > risk(age=5) == risk(age=None)


def test_each_open_alert_adds_the_chance_that_it_is_real() -> None:
    base = risk()
    assert abs(risk(alerts=1, precision=0.5) - (1 - (1 - base) * 0.5)) < 1e-9
    assert risk(alerts=2) > risk(alerts=1) > base and risk(alerts=1, precision=0.0) == base


def test_the_probability_stays_a_probability() -> None:
    assert 0.99 < risk(tuple(range(0, 365, 3)), age=30, alerts=10, precision=1.0) <= 1
    assert 0 < risk(prior=0.0) < 0.01
