"""Risk ranking and preventive-maintenance suggestions: the devices most likely to fail in the next 30 days.

The ranking reads the risk stored on each device (refreshed with its score), then explains the first ones: why
(recent faults and their trend, open alerts, age) and what to check (by the device's most frequent kind of fault
this year and the alerts' metrics). Texts are English msgids translated for the page (cloud/i18n.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from cloud.auth.models import Role, User
from cloud.dashboards.aggregates import fault_label_of, fault_names
from cloud.db import utcnow
from cloud.i18n import translate
from cloud.i18n_catalogs import N_
from cloud.profiles.service import (
    PRIORS,
    Assessment,
    FleetPriors,
    TicketFacts,
    assess,
    open_alert_metrics,
    refresh_all,
    ticket_facts,
)
from cloud.registry.models import Device, DeviceStatus
from cloud.telemetry.catalog import metric_label
from cloud.tickets.checklists import family_of
from cloud.tickets.models import Source
from models.maintenance.score import WINDOW_DAYS

# What to check before the next fault, by the kind of fault the device has had most (English msgids).
SUGGESTIONS = {
    "temperature_control": N_("Check the incubator and reaction-disk temperatures against a reference thermometer; "
                              "clean the cooling fans and air filters."),
    "optics_lamp": N_("Check the photometer lamp's hours and energy and replace it before its limit; clean the "
                      "cuvettes and the optical path."),
    "sample_probe": N_("Inspect and clean the sample probe and its wash station; check the liquid-level detection."),
    "reagent_fluidics": N_("Check tubing, valves and pump diaphragms for wear and leaks; prime the fluidics and "
                           "watch for bubbles."),
    "ise": N_("Check the electrodes' slopes and service life; replace ageing electrodes and clean the ISE module."),
    "mechanical": N_("Check and lubricate the moving parts (arms, mixers, belts, rails); listen for unusual noise."),
    "communication_software": N_("Check the LIS link, cables and logs; apply pending software updates."),
    "operator_error": N_("Refresh the operators' training on daily maintenance and the common alarms."),
    "other": N_("Run the manufacturer's preventive maintenance schedule."),
}
GENERAL_SUGGESTION = N_("Run the manufacturer's preventive maintenance schedule.")
# An open alert's metric family points at the same checks as a fault of that kind.
FAMILY_CATEGORY = {"temperature": "temperature_control", "optics": "optics_lamp", "pressure": "reagent_fluidics",
                   "water": "reagent_fluidics"}


@dataclass
class RiskRow:
    """One device of the ranking, explained."""

    device: Device
    risk: float
    score: int
    reasons: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    top_category: str | None = None
    repair_open: bool = False  # a reported fault is being handled right now


def engineer_scope(user: User) -> tuple[set[int] | None, set[str] | None]:
    """(hospital ids, device categories) an engineer serves; None: all. Other staff see everything."""
    if user.role != Role.engineer:
        return None, None
    return (set(user.service_hospital_ids) or None), (set(user.categories) or None)


def ranking_for(session: Session, user: User, *, language: str, hospital_id: int | None = None,
                category: str | None = None, limit: int = 20) -> list[RiskRow]:
    """The ranking as this person may see it (an engineer: the hospitals and categories they serve), narrowed to
    one hospital or category when asked; callers commit, as for ranking()."""
    hospitals, categories = engineer_scope(user)
    if hospital_id is not None:
        hospitals = {hospital_id} & hospitals if hospitals is not None else {hospital_id}
    if category:
        categories = {category} & categories if categories is not None else {category}
    return ranking(session, priors=PRIORS.get(session), language=language, hospital_ids=hospitals,
                   categories=categories, limit=limit)


def explain(assessment: Assessment, categories: Counter[str], *, language: str,
            label: Callable[[str], str]) -> tuple[list[str], list[str], str | None]:
    """(reasons, suggestions, the most frequent fault kind) for a device's risk, in language."""
    def t(text: str) -> str:
        return translate(text, language)

    reasons: list[str] = []
    risk = assessment.risk
    if risk.recent_90 or risk.previous_90:
        reasons.append(t("Faults in the last 90 days: {recent} (the 90 days before: {previous})").format(
            recent=risk.recent_90, previous=risk.previous_90))
    for metric in dict.fromkeys(assessment.open_alerts):
        reasons.append(t("Open alert: {metric}").format(metric=metric_label(metric, language)))
    if assessment.age_years is not None and assessment.age_years >= 5:
        reasons.append(t("In service for {years} years").format(years=int(assessment.age_years)))
    top = categories.most_common(1)[0][0] if categories else None
    if top is not None:
        reasons.append(t("Most frequent fault this year: {category} ({count})").format(
            category=label(top), count=categories[top]))
    if not reasons:
        reasons.append(t("No faults this year; the risk is the fleet's rate for this kind of device"))
    kinds = [FAMILY_CATEGORY.get(family_of(m)) for m in assessment.open_alerts]
    ordered = list(dict.fromkeys([k for k in kinds if k] + ([top] if top else [])))
    suggestions = [t(SUGGESTIONS.get(kind, GENERAL_SUGGESTION)) for kind in ordered[:2]] or [t(GENERAL_SUGGESTION)]
    return reasons, suggestions, top


def ranking(session: Session, *, priors: FleetPriors, language: str, hospital_ids: set[int] | None = None,
            categories: set[str] | None = None, limit: int = 20, now: datetime | None = None) -> list[RiskRow]:
    """The devices most likely to fail within 30 days (highest stored risk first), each explained; callers commit
    (devices assessed for the first time are stored)."""
    now = now or utcnow()
    # Devices never assessed (new, or before the first periodic run) are assessed now, so none is left out.
    refresh_all(session, now=now, priors=priors, only_new=True)
    stmt = (select(Device).options(joinedload(Device.hospital), joinedload(Device.department))
            .where(Device.status != DeviceStatus.retired, Device.risk_30d.is_not(None)))
    if hospital_ids is not None:
        stmt = stmt.where(Device.hospital_id.in_(hospital_ids))
    if categories is not None:
        stmt = stmt.where(Device.category.in_(categories))
    devices = list(session.execute(stmt.order_by(Device.risk_30d.desc(), Device.id).limit(limit)).scalars())
    if not devices:
        return []
    ids = [d.id for d in devices]
    facts_by: dict[int, list[TicketFacts]] = defaultdict(list)
    for fact in ticket_facts(session, device_ids=ids, since=now - timedelta(days=WINDOW_DAYS)):
        facts_by[fact.device_id].append(fact)
    alerts = open_alert_metrics(session, device_ids=ids)
    names = fault_names(session, language)
    rows = []
    for device in devices:
        facts = facts_by[device.id]
        assessment = assess(device, facts, alerts[device.id], now=now, priors=priors)
        kinds = Counter(f.fault_category for f in facts if f.is_fault and f.fault_category)
        reasons, suggestions, top = explain(
            assessment, kinds, language=language,
            label=lambda code, category=device.category: fault_label_of(names, code, category, language)[0])
        rows.append(RiskRow(device=device, risk=float(device.risk_30d or 0.0), score=device.maintenance_score,
                            reasons=reasons, suggestions=suggestions, top_category=top,
                            repair_open=any(f.is_open and f.is_fault and f.source != Source.predictive
                                            for f in facts)))
    return rows
