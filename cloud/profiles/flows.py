"""Keeps scores, risks and the predictor current: reacts to committed ticket and alert events, and a periodic job.

Every event that changes what a device's score is made of (a new report, a resolution, a reopening, a
cancellation or merge, an alert opening or ending) recomputes that one device: two indexed queries and one
UPDATE (bench/score_recompute.py). Scores also change without events (old faults fade, devices age): a periodic
job recomputes every device; another teaches the basic/advanced predictor the tickets resolved since its last run.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from cloud.config import Settings
from cloud.events import DomainEvent, EventBus, emit
from cloud.profiles import predictor
from cloud.profiles.service import PRIORS, PriorCache, refresh_all, refresh_device
from cloud.tickets.models import Source, Ticket

log = logging.getLogger("medfix.profiles")

# Resolving actions: the ticket now has the tier it was solved at.
RESOLVING = frozenset({"ticket.answer", "ticket.complete", "ticket.precheck", "ticket.self_serve"})
# Events that change a device's faults, their state, or its open alerts.
RESCORING = RESOLVING | {"ticket.submitted", "ticket.reopen", "ticket.cancel", "ticket.merge", "alert.opened",
                         "alert.resolved"}


def quick_commit(session: Session) -> None:
    """Commit without waiting for PostgreSQL to flush its log: a score, a risk and a learned case are derived data,
    so a crash right after loses at most this recomputation, which the next event or the periodic job redoes."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    session.commit()


class ProfileFlows:
    """Recomputes the device an event concerns; the fleet's priors are cached per process."""

    def __init__(self, sessions: sessionmaker[Session], priors: PriorCache | None = None, *,
                 settings: Settings | None = None) -> None:
        self.sessions = sessions
        self.priors = priors or PRIORS
        self.settings = settings  # MEDFIX_ONSITE_AUTODISPATCH; None: never dispatch by itself

    def install(self, bus: EventBus) -> None:
        """Subscribe to the events that change a score, and to new tickets for their estimate.

        Durable (cloud/events.py): the work runs on the process's outbox thread, off the request that committed
        the change, and is retried if it fails. Both handlers may run twice for one event: a recomputation
        gives the same result, and a ticket that already has its estimate is left alone. A new ticket's device is
        recomputed by on_submitted, in the session and transaction of the estimate (one instead of two).
        """
        for name in sorted(RESCORING - {"ticket.submitted"}):
            bus.subscribe(name, self.on_event, durable=True)
        bus.subscribe("ticket.submitted", self.on_submitted, durable=True)

    def on_submitted(self, event: DomainEvent) -> None:
        """Estimate whether a new report needs an engineer on site, right after it is committed.

        The desk sees the estimate (the `ticket.estimated` push makes open consoles fetch the ticket again),
        routing follows it, and with MEDFIX_ONSITE_AUTODISPATCH a confident one dispatches an engineer at once
        (never for a predictive ticket: its pre-check in the lab comes first).
        """
        with self.sessions() as session:
            self._rescore(session, event)  # the new report changes its device's score
            ticket = session.get(Ticket, int(event.data["ticket_id"]))
            probability = None
            if ticket is not None and ticket.onsite_probability is None:
                probability = predictor.store_estimate(session, ticket=ticket)
            if ticket is None or probability is None:
                quick_commit(session)  # the score alone: derived data
                return
            emit(session, "ticket.estimated", ticket_id=ticket.id, number=ticket.number,
                 hospital_id=ticket.hospital_id, status=ticket.status.value, agent_id=ticket.agent_id,
                 engineer_id=ticket.engineer_id, onsite_probability=probability)
            if self.settings is not None and ticket.source != Source.predictive:
                predictor.autodispatch(session, ticket=ticket, settings=self.settings)
            session.commit()

    def on_event(self, event: DomainEvent) -> None:
        """Recompute the event's device; teach the predictor a resolution."""
        if event.name not in RESCORING:
            return
        with self.sessions() as session:
            self._rescore(session, event)
            quick_commit(session)

    def _rescore(self, session: Session, event: DomainEvent) -> None:
        priors = self.priors.get(session)
        if event.name.startswith("ticket."):
            refresh_device(session, ticket_id=int(event.data["ticket_id"]), priors=priors)
        elif event.data.get("device_id") is not None:
            refresh_device(session, device_id=int(event.data["device_id"]), priors=priors)

    def learn(self) -> int:
        """The periodic learner: the on-site predictor learns the tickets resolved since its last run."""
        with self.sessions() as session:
            count = predictor.learn_pending(session)
            quick_commit(session)
        if count:
            log.info("the on-site predictor learned %s resolved tickets", count)
        return count

    def refresh_everything(self) -> int:
        """The periodic job: every device in service recomputed; returns how many."""
        with self.sessions() as session:
            count, priors = refresh_all(session)
            session.commit()
            self.priors.put(session, priors)
        log.info("maintenance scores and risks refreshed for %s devices", count)
        return count
