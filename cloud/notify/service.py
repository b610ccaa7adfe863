"""Creating notifications and delivering them through every channel, recording each attempt."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.db import utcnow
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
    message = Outgoing(user_id=user_id, notification_id=notification.id, event_key=event_key, kind=kind,
                       title=text.title, body=text.body, link=link, subject=subject)
    for channel in channels:
        try:
            result = channel.send(message)
        except Exception as exc:  # a broken channel is recorded, never allowed to break the flow
            log.exception("channel %s failed", channel.name)
            session.add(Delivery(notification_id=notification.id, channel=channel.name, status="failed",
                                 error=str(exc)[:500]))
            continue
        session.add(Delivery(notification_id=notification.id, channel=channel.name,
                             status="sent" if result.ok else "failed", error=result.error,
                             external_id=result.external_id))
        if not result.ok:
            log.log(logging.DEBUG if result.not_set_up else logging.WARNING,
                    "channel %s could not deliver %s to user %s: %s", channel.name, kind, user_id, result.error)
    return notification


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
