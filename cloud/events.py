"""Domain events: services record them on the session; the app's bus delivers them only after commit.

A rolled-back transaction therefore never notifies anyone, and handlers (flows) see committed state.
Each app owns one EventBus, handed to its sessions through the sessionmaker's `info`, so two apps in one
process (tests, workers) never hear each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("medfix.events")

BUS_KEY = "medfix_event_bus"
_PENDING = "medfix_pending_events"


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened: `name` like 'ticket.dispatched', and plain data about it."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[DomainEvent], None]


class EventBus:
    """Handlers by event-name prefix; a failing handler is logged and never breaks the others."""

    def __init__(self) -> None:
        self._handlers: list[tuple[str, Handler]] = []

    def subscribe(self, prefix: str, handler: Handler) -> None:
        """Call handler for every event whose name starts with prefix ('' = all)."""
        self._handlers.append((prefix, handler))

    def deliver(self, domain_event: DomainEvent) -> None:
        """Hand an event to its handlers, in subscription order."""
        for prefix, handler in list(self._handlers):
            if domain_event.name.startswith(prefix):
                try:
                    handler(domain_event)
                except Exception:  # a side effect must never undo or block the committed change
                    log.exception("event handler %r failed for %s", handler, domain_event.name)


def emit(session: Session, name: str, **data: Any) -> None:
    """Queue an event to be delivered when session's transaction commits."""
    session.info.setdefault(_PENDING, []).append(DomainEvent(name, data))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    bus: EventBus | None = session.info.get(BUS_KEY)
    for domain_event in pending:
        if bus is None:
            log.debug("no event bus on this session; %s not delivered", domain_event.name)
            continue
        bus.deliver(domain_event)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
