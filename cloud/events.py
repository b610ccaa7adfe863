"""Domain events: services record them on the session; the app's bus delivers them only after commit.

A rolled-back transaction therefore never notifies anyone, and handlers (flows) see committed state.
Each app owns one EventBus, handed to its sessions through the sessionmaker's `info`, so two apps in one
process (tests, workers) never hear each other.

Two kinds of handlers. Plain ones run on the committing thread right after commit: live pushes, cheap and
allowed to be lost with the process. Durable ones (`subscribe(..., durable=True)`: the notification flows) do
work that must happen exactly as surely as the change itself: with an outbox attached to the bus, `emit` writes
an outbox row in the event's own transaction and the outbox runs the durable handlers after commit, off the
committing thread, retrying until they succeed (cloud/notify/outbox.py). Without an outbox they run right
after the plain ones, on the committing thread, as every handler did before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger("medfix.events")

BUS_KEY = "medfix_event_bus"
_PENDING = "medfix_pending_events"
_COMMITTED = "medfix_committed_events"


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened: `name` like 'ticket.dispatched', and plain data about it."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[DomainEvent], None]


class Outbox(Protocol):
    """Where durable handlers' work waits until it is done (implemented by cloud/notify/outbox.Outbox)."""

    def stage(self, session: Session, domain_event: DomainEvent) -> object:
        """Record the event in session's transaction; the returned handle is given back to committed()."""
        ...

    def committed(self, handles: list[object]) -> None:
        """The transaction holding these staged events committed: run their durable handlers (soon)."""
        ...


class EventBus:
    """Handlers by event-name prefix; a failing handler is logged and never breaks the others."""

    def __init__(self) -> None:
        self._handlers: list[tuple[str, Handler]] = []
        self._durable: list[tuple[str, Handler]] = []
        self.outbox: Outbox | None = None

    def subscribe(self, prefix: str, handler: Handler, *, durable: bool = False) -> None:
        """Call handler for every event whose name starts with prefix ('' = all).

        durable: the handler's work must not be lost (see the module's doc); it must be idempotent, since a
        failure anywhere in it runs it again for the same event.
        """
        (self._durable if durable else self._handlers).append((prefix, handler))

    def is_durable(self, name: str) -> bool:
        """Whether an event of this name has durable handlers."""
        return any(name.startswith(prefix) for prefix, _ in self._durable)

    def deliver(self, domain_event: DomainEvent, *, with_durable: bool = True) -> None:
        """Hand an event to its handlers, in subscription order (durable ones last, unless an outbox has them)."""
        for prefix, handler in list(self._handlers):
            if domain_event.name.startswith(prefix):
                try:
                    handler(domain_event)
                except Exception:  # a side effect must never undo or block the committed change
                    log.exception("event handler %r failed for %s", handler, domain_event.name)
        if with_durable:
            for prefix, handler in list(self._durable):
                if domain_event.name.startswith(prefix):
                    try:
                        handler(domain_event)
                    except Exception:
                        log.exception("event handler %r failed for %s", handler, domain_event.name)

    def run_durable(self, domain_event: DomainEvent) -> None:
        """Run the event's durable handlers; the first failure propagates, so the outbox tries again later."""
        for prefix, handler in list(self._durable):
            if domain_event.name.startswith(prefix):
                handler(domain_event)


def emit(session: Session, name: str, **data: Any) -> None:
    """Queue an event to be delivered when session's transaction commits (durable work staged in it)."""
    domain_event = DomainEvent(name, data)
    bus: EventBus | None = session.info.get(BUS_KEY)
    handle = None
    if bus is not None and bus.outbox is not None and bus.is_durable(name):
        handle = bus.outbox.stage(session, domain_event)
    session.info.setdefault(_PENDING, []).append((domain_event, handle))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    if pending:
        session.info.setdefault(_COMMITTED, []).extend(pending)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Delivered here rather than in after_commit: by now the session has given its connection back to the pool.
    # A handler opening a session of its own while the committing one still held a connection needed two per
    # request: with every pool connection held by requests waiting for a second one, the API stood still.
    if transaction.parent is not None:  # a savepoint ended, not the transaction
        return
    pending: list[tuple[DomainEvent, object | None]] = session.info.pop(_COMMITTED, [])
    if not pending:
        return
    bus: EventBus | None = session.info.get(BUS_KEY)
    if bus is None:
        log.debug("no event bus on this session; %d event(s) not delivered", len(pending))
        return
    for domain_event, handle in pending:
        bus.deliver(domain_event, with_durable=handle is None)
    staged = [handle for _, handle in pending if handle is not None]
    if staged and bus.outbox is not None:
        bus.outbox.committed(staged)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
