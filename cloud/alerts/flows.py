"""Side effects of alert events: a live push to the consoles; the alert's explanation; and a message to everyone
who should hear of it: the engineer of its predictive ticket, the device's owners and the hospital's lab managers.

The push is plain (it may be lost with the process); the rest is durable (the outbox runs it after commit and
again after a failure, and `notify_many` tells each person once per event).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import explain
from cloud.alerts.models import Alert, AlertStatus
from cloud.alerts.service import chart_link
from cloud.auth.models import AlertNotice, User
from cloud.auth.people import device_owners, lab_managers
from cloud.config import Settings
from cloud.console.hub import Hub
from cloud.db import utcnow
from cloud.events import DomainEvent, EventBus
from cloud.notify.channels import Channel
from cloud.notify.messages import ALERT_NO_READINGS, ALERT_TEXTS, render
from cloud.notify.service import Recipient, notify_many
from cloud.registry.models import Device
from cloud.telemetry.catalog import metric_label, severity_label
from cloud.telemetry.store import timeseries_store
from cloud.tickets.models import Ticket

IN_APP = "in_app"  # the channel name of the in-app notifications (cloud/notify/channels.InAppChannel)


def refresh_explanation(session: Session, settings: Settings, alert: Alert) -> str:
    """Explain the alert as of its newest abnormal reading, keep it on the alert and say it (zh-CN); the kept
    explanation when the store has no readings to say it with (pruned, or a signal alert: cloud/alerts/signals)."""
    found = explain.explain(timeseries_store(session, settings), device_id=alert.device_id, metric=alert.metric,
                            started_at=alert.started_at, at=alert.last_abnormal_at)
    if found is not None:
        alert.explanation = found.as_dict()
    return explain.describe(alert.explanation)


def listeners(session: Session, device: Device) -> list[User]:
    """Who looks after the device besides its engineer: its owners, then the hospital's lab managers."""
    seen: dict[int, User] = {}
    for user in [*device_owners(session, device), *lab_managers(session, device.hospital_id)]:
        seen.setdefault(user.id, user)
    return list(seen.values())


class AlertFlows:
    """Reacts to committed alert events; the ticket's own events notify the desk and dispatch as usual."""

    def __init__(self, sessions: sessionmaker[Session], hub: Hub, channels: Sequence[Channel],
                 settings: Settings) -> None:
        self.sessions = sessions
        self.hub = hub
        self.channels = list(channels)
        self.in_app = [c for c in self.channels if c.name == IN_APP]
        self.settings = settings

    def install(self, bus: EventBus) -> None:
        """Subscribe to every alert event."""
        bus.subscribe("alert.", self.on_alert_live)
        bus.subscribe("alert.", self.on_alert_event, durable=True)

    def on_alert_live(self, event: DomainEvent) -> None:
        """Push the change to the open consoles at once."""
        self.hub.publish({"type": "alert", "event": event.name, "at": utcnow().isoformat(), **event.data})

    def on_alert_event(self, event: DomainEvent) -> None:
        """Explain the alert anew, then tell its engineer (every channel) and its listeners (by their choice)."""
        data = event.data
        texts = ALERT_TEXTS.get(f"{event.name}:{data.get('resolution')}") or ALERT_TEXTS.get(event.name)
        if not texts:
            return
        with self.sessions() as session:
            alert = session.get(Alert, data["alert_id"])
            device = session.get(Device, data["device_id"])
            if alert is None or device is None:
                return
            why = refresh_explanation(session, self.settings, alert)
            session.commit()
            ticket = session.get(Ticket, alert.ticket_id) if alert.ticket_id else None
            values = {"number": ticket.number if ticket else "", "device": f"{device.system_number} {device.model}",
                      "metric": metric_label(alert.metric), "severity": severity_label(data["severity"]),
                      "score": f"{data['score']:.2f}", "why": why or ALERT_NO_READINGS}
            chart = chart_link(alert.device_id, alert.metric, alert.started_at,
                               alert.last_abnormal_at if alert.status == AlertStatus.resolved else None)
            key, kind = f"{event.name}:{alert.id}", event.name
            engineer = texts.get("engineer")
            if engineer is not None and ticket is not None and ticket.engineer_id is not None:
                notify_many(session, event_key=key, kind=kind, channels=self.channels, ticket_id=ticket.id,
                            subject=ticket.number,
                            recipients=[Recipient(ticket.engineer_id, render(engineer, **values), chart)])
            listener = texts.get("listener")
            if listener is None:
                return
            text = render(listener, **values)
            everyone = [u for u in listeners(session, device) if ticket is None or u.id != ticket.engineer_id]
            by_channels = {AlertNotice.instant: self.channels, AlertNotice.in_app: self.in_app}
            for notice, channels in by_channels.items():
                chosen = [Recipient(u.id, text, chart) for u in everyone if u.alert_notice == notice]
                if chosen and channels:
                    notify_many(session, event_key=key, kind=kind, channels=channels, subject=device.system_number,
                                recipients=chosen)
