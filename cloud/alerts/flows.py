"""Side effects of alert events: a live push to the consoles, and a message with the chart to the engineer."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from cloud.console.hub import Hub
from cloud.db import utcnow
from cloud.events import DomainEvent, EventBus
from cloud.notify.channels import Channel
from cloud.notify.messages import ALERT_TEXTS, render
from cloud.notify.service import notify
from cloud.registry.models import Device
from cloud.telemetry.catalog import metric_label, severity_label
from cloud.tickets.models import Ticket


class AlertFlows:
    """Reacts to committed alert events; the ticket's own events notify the desk and dispatch as usual."""

    def __init__(self, sessions: sessionmaker[Session], hub: Hub, channels: Sequence[Channel]) -> None:
        self.sessions = sessions
        self.hub = hub
        self.channels = list(channels)

    def install(self, bus: EventBus) -> None:
        """Subscribe to every alert event."""
        bus.subscribe("alert.", self.on_alert_event)

    def on_alert_event(self, event: DomainEvent) -> None:
        """Push the change live; tell the engineer of the alert's ticket, with the link to the metric's chart."""
        data = event.data
        self.hub.publish({"type": "alert", "event": event.name, "at": utcnow().isoformat(), **data})
        texts = ALERT_TEXTS.get(f"{event.name}:{data.get('resolution')}") or ALERT_TEXTS.get(event.name)
        if not texts or not data.get("ticket_id"):
            return
        with self.sessions() as session:
            ticket = session.get(Ticket, data["ticket_id"])
            device = session.get(Device, data["device_id"])
            if ticket is None or device is None or ticket.engineer_id is None:
                return
            values = {"number": ticket.number, "device": f"{device.system_number} {device.model}",
                      "metric": metric_label(data["metric"]),
                      "severity": severity_label(data["severity"]), "score": f"{data['score']:.2f}"}
            link = str(data.get("link") or f"/engineer/tickets/{ticket.id}")
            for role, template in texts.items():
                if role == "engineer":
                    notify(session, user_id=ticket.engineer_id, event_key=f"{event.name}:{data['alert_id']}",
                           kind=event.name, text=render(template, **values), link=link, channels=self.channels,
                           ticket_id=ticket.id, subject=ticket.number)
            session.commit()
