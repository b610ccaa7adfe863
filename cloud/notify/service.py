"""Creating notifications and delivering them through every channel, recording each attempt."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.db import utcnow
from cloud.metrics import record_delivery
from cloud.notify.channels import Channel, Outgoing
from cloud.notify.messages import Text
from cloud.notify.models import Delivery, Notification

log = logging.getLogger("medfix.notify")


def notify(
    session: Session,
    *,
    user_id: int,
    event_key: str,
    kind: str,
    text: Text,
    link: str,
    channels: Sequence[Channel],
    ticket_id: int | None = None,
    subject: str = "",
) -> Notification | None:
    """Tell one user about one event through every channel; the same event twice notifies once."""
    notification = Notification(user_id=user_id, ticket_id=ticket_id, event_key=event_key, kind=kind,
                                title=text.title, body=text.body, link=link)
    try:
        with session.begin_nested():
            session.add(notification)
            session.flush()
    except IntegrityError:
        return None  # already told
    session.add_all(_send(notification, subject, channels))
    return notification


@dataclass(frozen=True)
class Recipient:
    """One person to tell about an event, in their words and with their link."""

    user_id: int
    text: Text
    link: str


def notify_many(
    session: Session,
    *,
    event_key: str,
    kind: str,
    recipients: Sequence[Recipient],
    channels: Sequence[Channel],
    ticket_id: int | None = None,
    subject: str = "",
) -> list[Notification]:
    """Tell several people about one event through every channel, in the same few statements however many.

    A person listed twice is told once (the first entry wins). Commits session twice: the notification rows
    first, then how each channel delivered them. A channel may write to the database itself (WeChat's token
    lock), which SQLite refuses while another transaction holds its write lock.

    Safe to run again for the same event (the outbox does after a failure): a person already told is not told
    twice, except one whose notification has no delivery at all (the run before died between the two commits),
    who is sent it now. Two processes on the same event at once collide on (event_key, user_id): the flush
    raises and the outbox tries again later. Returns the notifications handed to the channels.
    """
    wanted: dict[int, Recipient] = {}
    for recipient in recipients:
        wanted.setdefault(recipient.user_id, recipient)
    if not wanted:
        return []
    told = list(session.execute(select(Notification).where(
        Notification.event_key == event_key, Notification.user_id.in_(list(wanted)))).scalars())
    known = {notification.user_id for notification in told}
    created = [Notification(user_id=user_id, ticket_id=ticket_id, event_key=event_key, kind=kind,
                            title=r.text.title, body=r.text.body, link=r.link)
               for user_id, r in wanted.items() if user_id not in known]
    session.add_all(created)
    session.commit()  # one multi-row INSERT for all of them
    undelivered: list[Notification] = []
    if told:
        delivered = set(session.execute(select(Delivery.notification_id).where(
            Delivery.notification_id.in_([n.id for n in told]))).scalars())
        undelivered = [n for n in told if n.id not in delivered]
    pending = created + undelivered
    session.add_all([delivery for notification in pending for delivery in _send(notification, subject, channels)])
    session.commit()
    return pending


def _send(notification: Notification, subject: str, channels: Sequence[Channel]) -> list[Delivery]:
    """Hand one notification to every channel; how each went, as delivery rows to add."""
    message = Outgoing(user_id=notification.user_id, notification_id=notification.id,
                       event_key=notification.event_key, kind=notification.kind, title=notification.title,
                       body=notification.body, link=notification.link, subject=subject)
    deliveries = []
    for channel in channels:
        try:
            result = channel.send(message)
        except Exception as exc:  # a broken channel is recorded, never allowed to break the flow
            log.exception("channel %s failed", channel.name)
            record_delivery(channel.name, ok=False)
            deliveries.append(Delivery(notification_id=notification.id, channel=channel.name, status="failed",
                                       error=str(exc)[:500]))
            continue
        deliveries.append(Delivery(notification_id=notification.id, channel=channel.name,
                                   status="sent" if result.ok else "failed", error=result.error,
                                   external_id=result.external_id))
        record_delivery(channel.name, ok=result.ok, not_set_up=result.not_set_up)
        if not result.ok:
            log.log(logging.DEBUG if result.not_set_up else logging.WARNING, "channel %s could not deliver %s "
                    "to user %s: %s", channel.name, notification.kind, notification.user_id, result.error)
    return deliveries


def unread(session: Session, *, user_id: int, limit: int = 50) -> list[Notification]:
    """A user's newest unread notifications."""
    return list(session.execute(select(Notification).where(Notification.user_id == user_id,
                                                           Notification.read_at.is_(None))
                                .order_by(Notification.id.desc()).limit(limit)).scalars())


def mark_read(session: Session, *, user_id: int, ids: list[int]) -> int:
    """Mark a user's notifications read; others' ids are ignored."""
    rows = session.execute(select(Notification).where(Notification.user_id == user_id,
                                                      Notification.id.in_(ids))).scalars()
    count = 0
    for row in rows:
        if row.read_at is None:
            row.read_at = utcnow()
            count += 1
    return count


def deliveries_for_ticket(session: Session, *, ticket_id: int) -> list[dict[str, object]]:
    """Each (notification, channel) attempt of a ticket, newest first, with the recipient's name."""
    from cloud.auth.models import User

    rows = session.execute(
        select(Notification, Delivery, User).join(Delivery, Delivery.notification_id == Notification.id)
        .join(User, User.id == Notification.user_id).where(Notification.ticket_id == ticket_id)
        .order_by(Delivery.id.desc())).all()
    return [{"notification_id": n.id, "user_id": u.id, "recipient": u.full_name or u.username, "kind": n.kind,
             "title": n.title, "channel": d.channel, "status": d.status, "error": d.error, "at": d.updated_at}
            for n, d, u in rows]
