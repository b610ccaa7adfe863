"""Side effects of ticket events: live pushes to consoles and notifications to the people concerned.

The push goes out on the committing thread right after commit (one Redis PUBLISH, serialized once for every
console). The notifications (rows, in-app pushes, WeChat template messages) are durable work: the app's outbox
runs them off the request path and retries them until they are done (cloud/notify/outbox.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from cloud.auth.models import Role, User
from cloud.console.hub import Hub
from cloud.db import utcnow
from cloud.events import DomainEvent, EventBus
from cloud.notify.channels import Channel
from cloud.notify.messages import TICKET_TEXTS, render
from cloud.notify.service import Recipient, notify_many
from cloud.tickets.links import service_report_url, ticket_page_url
from cloud.tickets.models import Ticket
from cloud.tickets.state import REPORTABLE

log = logging.getLogger("medfix.tickets.flows")



# A predictive ticket's description ends in its chart's path; a message carries its own link, so the path goes.
_CHART_LINK = re.compile(r"[。.]?\s*(?:告警)?曲线[:：]\s*/devices/\d+/chart\?\S*")


def without_chart_path(text: str) -> str:
    """A text for a message, chart paths left out."""
    return _CHART_LINK.sub("", text)


def preview(description: str, length: int = 80) -> str:
    """The start of a ticket's description for a message, chart paths left out."""
    return without_chart_path(description)[:length]


class TicketFlows:
    """Reacts to committed ticket events; owns nothing but references to the app's parts."""

    def __init__(self, sessions: sessionmaker[Session], hub: Hub, channels: Sequence[Channel],
                 public_url: str = "") -> None:
        self.sessions = sessions
        self.hub = hub
        self.channels = list(channels)
        self.public_url = public_url.rstrip("/")  # messages carry absolute links (the service report's)

    def install(self, bus: EventBus) -> None:
        """Subscribe to every ticket event: the live push at once, the notifications as durable work."""
        bus.subscribe("ticket.", self.on_ticket_event)
        for name in TICKET_TEXTS:  # only events someone is told about leave outbox work behind
            bus.subscribe(name, self.notify_people, durable=True)

    def on_ticket_event(self, event: DomainEvent) -> None:
        """Push the change live to the consoles and ticket pages of every worker."""
        self.hub.publish({"type": "ticket", "event": event.name, "at": utcnow().isoformat(), **event.data})

    def notify_people(self, event: DomainEvent) -> None:
        """Notify the people the change concerns (idempotent: a second run for the same event tells nobody)."""
        data = event.data
        texts = TICKET_TEXTS.get(event.name)
        if not texts:
            return
        with self.sessions() as session:
            # The device (or group) comes with the ticket: one query, not one per relation.
            ticket = session.get(Ticket, data["ticket_id"], options=[joinedload(Ticket.device),
                                                                     joinedload(Ticket.group)])
            if ticket is None:
                return
            device = ticket.device.system_number + " " + ticket.device.model if ticket.device else (
                ticket.group.name if ticket.group else "")
            # The engineer and status as they were at the event (the ticket may have moved on since).
            engineer_id = data["engineer_id"] if "engineer_id" in data else ticket.engineer_id
            engineer = session.get(User, engineer_id) if engineer_id else None
            values = {"number": ticket.number, "device": device, "status": data.get("status") or ticket.status.value,
                      "engineer": (engineer.full_name or engineer.username) if engineer else "",
                      "text": without_chart_path(str(data.get("text") or "")) or preview(ticket.description),
                      "priority": ticket.priority,
                      # the closing messages carry the service report (cloud/reports), served at this address
                      "report": f"{self.public_url}{service_report_url(ticket.number)}"
                      if (data.get("status") or ticket.status.value) in {s.value for s in REPORTABLE} else ""}
            recipients = [Recipient(user_id, render(template, **values), link)
                          for role, template in texts.items()
                          for user_id, link in self._recipients(session, role, ticket, data)]
            notify_many(session, event_key=f"{event.name}:{ticket.id}:{data.get('seq', '')}", kind=event.name,
                        recipients=recipients, channels=self.channels, ticket_id=ticket.id, subject=ticket.number)

    def _recipients(
        self, session: Session, role: str, ticket: Ticket, data: dict[str, object]
    ) -> list[tuple[int, str]]:
        desk_link = f"/console?ticket={ticket.id}"
        if role == "reporter":
            return [(ticket.reporter_user_id, ticket_page_url(ticket.number))] if ticket.reporter_user_id else []
        if role == "engineer":
            engineer_id = ticket.engineer_id or data.get("previous_engineer_id")
            return [(int(engineer_id), f"/engineer/tickets/{ticket.id}")] if engineer_id else []  # type: ignore[arg-type]
        if role == "previous_engineer":  # the one a reassignment took the ticket from
            previous = data.get("previous_engineer_id")
            return [(int(previous), "/engineer")] if previous and previous != ticket.engineer_id else []  # type: ignore[call-overload]
        if role == "agent":
            if ticket.agent_id:
                return [(ticket.agent_id, desk_link)]
            agents = session.execute(select(User.id).where(User.role == Role.agent, User.is_active.is_(True)))
            return [(int(agent_id), desk_link) for agent_id in agents.scalars()]
        if role == "center":  # the remote service centre: everyone on it (escalations, bot handovers)
            centre = session.execute(select(User.id).where(User.role == Role.service_center, User.is_active.is_(True)))
            return [(int(user_id), desk_link) for user_id in centre.scalars()]
        if role == "supervisor":
            admins = session.execute(select(User.id).where(User.role == Role.admin, User.is_active.is_(True)))
            return [(int(admin_id), desk_link) for admin_id in admins.scalars()]
        return []
