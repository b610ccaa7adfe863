"""The basic/advanced predictor in the service: estimated at submission, learned from every resolved ticket.

The estimate is made right after a new ticket commits (cloud/profiles/flows.py, on `ticket.submitted`), so the
ticket domain never calls into profiles.

The model (models/maintenance/onsite.py) lives in predictor_state as JSON, so every API process and worker
shares one. Each process keeps the model it last loaded and reloads it only when the row's version moved on.
A periodic learner (learn_pending) takes the row under a lock, learns the tickets resolved since its last run
one at a time, oldest first, and writes the model back once.

Routing (docs/maintenance-score.md, "How routing uses the estimate"; thresholds in cloud/tickets/policy.py): a
report estimated at or above ONSITE_DISPATCH is routed to dispatch (the console says so, offers "Dispatch an
engineer" first and preselects the best-matching engineer), one below ONSITE_REMOTE to a remote answer first;
between them the desk decides.
With MEDFIX_ONSITE_AUTODISPATCH set and a model that learned from ROUTING_MIN_SAMPLES cases, a report at or
above that probability is dispatched by the system at once.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from cloud.config import Settings
from cloud.db import utcnow
from cloud.profiles.models import PredictorState
from cloud.profiles.service import NOT_FAULTS, age_years
from cloud.registry.models import Device
from cloud.tickets.models import PrecheckOutcome, PrecheckTask, Source, Ticket
from cloud.tickets.state import Tier
from models.maintenance.onsite import OnsitePredictor, Report

log = logging.getLogger("medfix.profiles.predictor")

NAME = "onsite"
LEARN_MARGIN = timedelta(seconds=30)  # a resolution is learned once it is this old (see learn_pending)
LEARN_BATCH = 1000  # tickets learned per run at most (a first run on a long history takes several)
ROUTING_MIN_SAMPLES = 200  # routing trusts the model only after this many learned cases

_cache: dict[str, tuple[int, OnsitePredictor]] = {}
_cache_lock = threading.Lock()


def _key(session: Session) -> str:
    return str(session.get_bind().url)


def load(session: Session) -> OnsitePredictor:
    """The current model (the process's copy while the stored version is unchanged); never mutate it."""
    version = session.execute(select(PredictorState.version).where(PredictorState.name == NAME)).scalar()
    if version is None:
        return OnsitePredictor()
    key = _key(session)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
    state = session.execute(select(PredictorState.state).where(PredictorState.name == NAME)).scalar()
    model = OnsitePredictor.from_state(state)
    with _cache_lock:
        _cache[key] = (int(version), model)
    return model


def save(session: Session, model: OnsitePredictor, *, row: PredictorState | None = None,
         learned_until: tuple[datetime, int] | None = None) -> None:
    """Store the model (a new row, or the one the caller holds locked) with the next version.

    learned_until: the (resolved_at, id) of the last ticket it learned; the learner goes on after it.
    """
    row = row or session.get(PredictorState, NAME)
    if row is None:
        row = PredictorState(name=NAME, state={}, samples=0, version=0)
        session.add(row)
    mark = {"learned_until": learned_until[0].isoformat(), "last_ticket_id": learned_until[1]} if learned_until \
        else {k: v for k, v in (row.state or {}).items() if k in ("learned_until", "last_ticket_id")}
    row.state, row.samples = {**model.to_state(), **mark}, model.samples
    row.version, row.updated_at = row.version + 1, utcnow()
    session.flush()
    with _cache_lock:
        _cache[_key(session)] = (row.version, model)


def report_for(session: Session, *, ticket: Ticket, alert_metric: str | None = None) -> Report:
    """What was known about the ticket when it was submitted, as the predictor's input.

    The device's earlier cases are those solved before the ticket was created, so the same report comes out at
    submission and when the resolved ticket is learned later.
    """
    device = session.get(Device, ticket.device_id) if ticket.device_id is not None else None
    if alert_metric is None and ticket.source == Source.predictive:
        alert_metric = session.execute(select(PrecheckTask.metric).where(PrecheckTask.ticket_id == ticket.id)).scalar()
    prior_solved = prior_onsite = recent = 0
    created: datetime = ticket.created_at or utcnow()
    if device is not None:
        known = and_(Ticket.tier.is_not(None), Ticket.resolved_at < created)
        fault = and_(Ticket.status.not_in(list(NOT_FAULTS)),
                     or_(PrecheckTask.outcome.is_(None), PrecheckTask.outcome != PrecheckOutcome.false_alarm))
        row = session.execute(
            select(func.count(case((known, 1))), func.count(case((and_(known, Ticket.tier == Tier.on_site), 1))),
                   func.count(case((and_(fault, Ticket.created_at >= created - timedelta(days=90),
                                         Ticket.created_at < created), 1))))
            .select_from(Ticket).outerjoin(PrecheckTask, PrecheckTask.ticket_id == Ticket.id)
            .where(Ticket.device_id == device.id, Ticket.id != ticket.id)).one()
        prior_solved, prior_onsite, recent = int(row[0]), int(row[1]), int(row[2])
    return Report(
        text=ticket.description or "", device_category=device.category if device else None,
        model=device.model if device else None, manufacturer=device.manufacturer if device else None,
        age_years=age_years(device, created) if device else None, source=ticket.source.value,
        alert_metric=alert_metric, urgency=ticket.urgency.value, whole_group=device is None,
        prior_solved=prior_solved, prior_onsite=prior_onsite, recent_faults=recent)


def estimate(session: Session, *, ticket: Ticket, alert_metric: str | None = None) -> float | None:
    """P(an engineer must go on site) for a new ticket; None while the model has learned too little."""
    model = load(session)
    if not model.ready:
        return None
    return round(model.predict_one(report_for(session, ticket=ticket, alert_metric=alert_metric)), 4)


def store_estimate(session: Session, *, ticket: Ticket) -> float | None:
    """Estimate a new ticket and keep the estimate on it without making it a new version of the ticket.

    The estimate is the system's note made just after submission: a person who acts on the version they were
    shown must not be refused ("the ticket changed meanwhile") because of it. An ORM-enabled UPDATE leaves the
    version counter alone and still updates the ticket object in this session.
    """
    probability = estimate(session, ticket=ticket)
    if probability is not None:
        session.execute(update(Ticket).where(Ticket.id == ticket.id).values(onsite_probability=probability))
    return probability


def learn_pending(session: Session, *, now: datetime | None = None, limit: int = LEARN_BATCH) -> int:
    """Learn every ticket resolved since the last run, oldest first, then store the model once; returns how many.

    Online in small batches: each resolution is learned once (again if it is reopened and resolved anew), within
    a run of the periodic learner (MEDFIX_PREDICTOR_LEARN_INTERVAL_S) after it is LEARN_MARGIN old, so every
    transaction that stamped an earlier resolution has committed. Writing the model once per batch rather than
    once per ticket keeps a resolution's cost off the request path. A first run on an existing database learns
    its history, LEARN_BATCH tickets at a time. The row is locked meanwhile (one learner at a time).
    """
    now = now or utcnow()
    row = session.execute(select(PredictorState).where(PredictorState.name == NAME).with_for_update()).scalar()
    state = dict(row.state or {}) if row is not None else {}
    stmt = select(Ticket).where(Ticket.tier.is_not(None), Ticket.resolved_at.is_not(None),
                                Ticket.resolved_at <= now - LEARN_MARGIN)
    if state.get("learned_until"):
        since, last_id = datetime.fromisoformat(state["learned_until"]), int(state.get("last_ticket_id", 0))
        stmt = stmt.where(or_(Ticket.resolved_at > since, and_(Ticket.resolved_at == since, Ticket.id > last_id)))
    tickets = list(session.execute(stmt.order_by(Ticket.resolved_at, Ticket.id).limit(limit)).scalars())
    if not tickets:
        return 0
    model = OnsitePredictor.from_state(state)
    for ticket in tickets:
        model.learn_one(report_for(session, ticket=ticket), ticket.tier == Tier.on_site)
    last = tickets[-1]
    assert last.resolved_at is not None
    save(session, model, row=row, learned_until=(last.resolved_at, last.id))
    return len(tickets)


def autodispatch(session: Session, *, ticket: Ticket, settings: Settings) -> bool:
    """With MEDFIX_ONSITE_AUTODISPATCH set, a confident on-site estimate sends the best-matching engineer at once.

    Only for one device's report, a model that learned from ROUTING_MIN_SAMPLES cases, and an engineer who
    serves the hospital; the dispatch is the system's, noted with the estimate, and the desk still sees it all.
    """
    threshold = settings.onsite_autodispatch
    if not threshold or ticket.device_id is None or ticket.onsite_probability is None \
            or ticket.onsite_probability < threshold or load(session).samples < ROUTING_MIN_SAMPLES:
        return False
    from cloud.tickets.queries import suggest_engineers
    from cloud.tickets.schemas import ActionIn
    from cloud.tickets.service import Viewer, apply_action
    from cloud.tickets.state import Action

    engineers = suggest_engineers(session, ticket=ticket)
    if not engineers:
        return False
    apply_action(session, ticket=ticket, data=ActionIn(action=Action.dispatch, engineer_id=engineers[0]["id"]),
                 viewer=Viewer(user=None), settings=settings,
                 recorded={"via": "onsite_prediction", "onsite_probability": ticket.onsite_probability})
    return True
