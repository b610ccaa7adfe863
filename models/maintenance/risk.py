"""The 30-day risk: how likely a device is to have a fault in the next 30 days (docs/maintenance-score.md).

The device's fault rate is estimated from its own history, recent faults weighing more, and pulled towards
the fleet's rate for its category while that history is short (a gamma-Poisson estimate: PRIOR_FAULTS pseudo
faults at the fleet's rate). The rate is raised for a rising trend and for age beyond five years; each open
predictive alert adds the chance that it is a real fault (the alerts' measured precision).

>>> new = RiskInputs(fault_days_ago=(), exposure_days=365, age_years=1.0, open_alerts=0,
...                  prior_daily_rate=1 / 60, alert_precision=0.5)
>>> round(estimate_risk(new).probability, 2)
0.17
>>> busy = RiskInputs(fault_days_ago=(3, 20, 41, 70), exposure_days=365, age_years=9.0, open_alerts=1,
...                   prior_daily_rate=1 / 60, alert_precision=0.5)
>>> estimate_risk(busy).probability > 0.7
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

HORIZON_DAYS = 30
WINDOW_DAYS = 365
RISK_HALF_LIFE_DAYS = 180.0  # recent faults weigh more: a fault half a year ago counts half (as in the score)
PRIOR_FAULTS = 2.0  # how many faults' worth of evidence the fleet's rate is given
MIN_DAILY_RATE = 1e-4  # a fleet without faults still gets a small prior (one fault in ~27 years)
TREND_BOUNDS = (0.85, 1.25)  # (last 90 days + 1) / (the 90 before + 1), square-rooted, kept within these
AGE_FREE_YEARS, AGE_SLOPE, AGE_FACTOR_MAX = 5.0, 0.06, 1.6  # +6 % rate per year beyond five, at most +60 %
DEFAULT_ALERT_PRECISION = 0.5  # share of predictive alerts that turn out real, before any are judged


@dataclass(frozen=True)
class RiskInputs:
    """A device's history and state, and what the fleet says about devices like it."""

    fault_days_ago: Sequence[float]  # its faults of the last WINDOW_DAYS, by age in days
    exposure_days: float  # days of the window it was in service (installed or registered), at most WINDOW_DAYS
    age_years: float | None
    open_alerts: int  # predictive alerts not yet resolved
    prior_daily_rate: float  # the fleet's faults per device and day for this device category
    alert_precision: float  # share of judged predictive alerts that were real faults


@dataclass(frozen=True)
class RiskEstimate:
    """The probability of a fault within HORIZON_DAYS and the parts it came from."""

    probability: float
    daily_rate: float  # the history-based rate before trend and age
    trend: float  # > 1: faults came faster lately
    age_factor: float
    recent_90: int  # faults in the last 90 days
    previous_90: int  # faults in the 90 days before


def _decayed_exposure(days: float) -> float:
    """The exposure in days, weighted like the faults (the integral of the decay over the service time)."""
    decay = math.log(2) / RISK_HALF_LIFE_DAYS
    return (1.0 - math.exp(-decay * max(0.0, days))) / decay


def estimate_risk(inputs: RiskInputs) -> RiskEstimate:
    """P(at least one fault within HORIZON_DAYS) with its parts."""
    faults = [d for d in inputs.fault_days_ago if 0 <= d <= WINDOW_DAYS]
    weighted = sum(0.5 ** (d / RISK_HALF_LIFE_DAYS) for d in faults)
    prior_rate = max(MIN_DAILY_RATE, inputs.prior_daily_rate)
    exposure = _decayed_exposure(min(WINDOW_DAYS, inputs.exposure_days))
    rate = (weighted + PRIOR_FAULTS) / (exposure + PRIOR_FAULTS / prior_rate)
    recent = sum(1 for d in faults if d <= 90)
    previous = sum(1 for d in faults if 90 < d <= 180)
    low, high = TREND_BOUNDS
    trend = min(high, max(low, math.sqrt((recent + 1) / (previous + 1))))
    age = 0.0 if inputs.age_years is None else max(0.0, inputs.age_years - AGE_FREE_YEARS)
    age_factor = min(AGE_FACTOR_MAX, 1.0 + AGE_SLOPE * age)
    no_fault = math.exp(-rate * HORIZON_DAYS * trend * age_factor)
    precision = min(0.99, max(0.0, inputs.alert_precision))
    no_fault *= (1.0 - precision) ** max(0, inputs.open_alerts)
    return RiskEstimate(probability=1.0 - no_fault, daily_rate=rate, trend=trend, age_factor=age_factor,
                        recent_90=recent, previous_90=previous)
