"""Service reports follow their tickets: rendered when a ticket is resolved, again when it is rated or closed.

The bus delivers events on the thread that committed (usually a request's), so the handler only notes the
ticket; one background thread per process renders and stores the reports, so no request waits for a PDF.
A report asked for before its turn comes is rendered by the request itself (cloud/reports/service.py).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from cloud.events import DomainEvent, EventBus
from cloud.reports.service import store_service_report
from cloud.tickets.models import Ticket
from cloud.tickets.state import REPORTABLE, Status

log = logging.getLogger("medfix.reports.flows")

# Internal notes never show in a report; every other change of a resolved or closed ticket can (a rating,
# added photos, the closing itself).
IGNORED = frozenset({"ticket.note"})


class ReportFlows:
    """Keeps each resolved or closed ticket's stored service report current, off the request path."""

    def __init__(self, sessions: sessionmaker[Session], data_dir: Path) -> None:
        self.sessions = sessions
        self.data_dir = data_dir
        self._pending: OrderedDict[int, None] = OrderedDict()  # ticket ids, oldest first, each once
        self._condition = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def install(self, bus: EventBus) -> None:
        """Subscribe to ticket events."""
        bus.subscribe("ticket.", self.on_ticket_event)

    def on_ticket_event(self, event: DomainEvent) -> None:
        """Queue the ticket's report when the event leaves it resolved or closed."""
        status = event.data.get("status")
        if event.name in IGNORED or status not in {s.value for s in REPORTABLE} or "ticket_id" not in event.data:
            return
        self.enqueue(int(event.data["ticket_id"]))

    def enqueue(self, ticket_id: int) -> None:
        """Render this ticket's report soon (once, however often it is asked for meanwhile)."""
        with self._condition:
            if self._stopping:
                return
            self._pending[ticket_id] = None
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="service reports", daemon=True)
                self._thread.start()
            self._condition.notify()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is queued or rendering (tests, shutdown); False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._pending and not self._busy, timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then end the thread."""
        self.wait_idle(timeout)
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending or self._stopping)
                if not self._pending:
                    return  # stopping, and nothing left
                ticket_id, _ = self._pending.popitem(last=False)
                self._busy = True
            try:
                self.render(ticket_id)
            except Exception:  # a bad ticket must not stop the reports of the others
                log.exception("service report of ticket %s failed", ticket_id)
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()

    def render(self, ticket_id: int) -> None:
        """Render and store one ticket's report if it is (still) resolved or closed."""
        with self.sessions() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None or Status(ticket.status) not in REPORTABLE:
                return
            store_service_report(session, ticket, data_dir=self.data_dir)
            session.commit()
