"""What the admin's WeChat status page shows: permanent QR codes used against the cap, failed template deliveries,
and a resend through the same template channel. Keyword-only, no HTTP; callers commit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from cloud.audit.service import Actor, record
from cloud.auth.models import User
from cloud.errors import Conflict, NotFound
from cloud.notify.channels import Channel, Outgoing
from cloud.notify.models import Delivery, Notification
from cloud.registry.models import Device, DeviceGroup
from cloud.tickets.models import Ticket
from cloud.wechat.models import WechatPermanentQr

CHANNEL = "wechat"
NOT_BOUND = "no WeChat binding for this user"  # WeChatTemplateChannel's answer for a person not on WeChat


@dataclass(frozen=True)
class QrUsage:
    """Permanent parametric QR codes on the account: issued, the cap, and how many labels want one."""

    used: int
    cap: int
    wanted: int  # device groups + key devices: the labels that get a permanent code when printed

    @property
    def fraction(self) -> float:
        """used / cap (0 when the cap is 0)."""
        return self.used / self.cap if self.cap else 0.0


def qr_usage(session: Session, *, appid: str, cap: int) -> QrUsage:
    """How many permanent codes the account holds, against its cap and the labels that want one."""
    used = session.execute(select(func.count()).select_from(WechatPermanentQr)
                           .where(WechatPermanentQr.appid == appid)).scalar_one()
    groups = session.execute(select(func.count()).select_from(DeviceGroup)).scalar_one()
    keys = session.execute(select(func.count()).select_from(Device).where(Device.is_key.is_(True))).scalar_one()
    return QrUsage(used=int(used), cap=cap, wanted=int(groups) + int(keys))


def failed_deliveries(session: Session, *, limit: int = 100) -> tuple[list[Delivery], int]:
    """WeChat template deliveries that failed, newest first, with their notification; and the total."""
    where = (Delivery.channel == CHANNEL, Delivery.status == "failed")
    total = session.execute(select(func.count()).select_from(Delivery).where(*where)).scalar_one()
    stmt = (select(Delivery).where(*where).options(selectinload(Delivery.notification))
            .order_by(Delivery.updated_at.desc(), Delivery.id.desc()).limit(limit))
    return list(session.execute(stmt).scalars()), int(total)


def recipients(session: Session, deliveries: list[Delivery]) -> dict[int, User]:
    """The users the deliveries were for, by id."""
    ids = {d.notification.user_id for d in deliveries}
    return {u.id: u for u in session.execute(select(User).where(User.id.in_(ids))).scalars()} if ids else {}


def resend(session: Session, *, delivery_id: int, channel: Channel, actor: Actor) -> Delivery:
    """Send a failed delivery's notification again through the channel; the row records the new outcome."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.channel != CHANNEL:
        raise NotFound(f"WeChat delivery {delivery_id} not found")
    if delivery.status != "failed":
        raise Conflict("this message was delivered already")
    note: Notification = delivery.notification
    subject = ""
    if note.ticket_id is not None:
        subject = session.execute(select(Ticket.number).where(Ticket.id == note.ticket_id)).scalar() or ""
    result = channel.send(Outgoing(user_id=note.user_id, notification_id=note.id, event_key=note.event_key,
                                   kind=note.kind, title=note.title, body=note.body, link=note.link, subject=subject))
    delivery.attempts += 1
    delivery.status = "sent" if result.ok else "failed"
    delivery.error = None if result.ok else (result.error or "")[:500]
    delivery.external_id = result.external_id or delivery.external_id
    session.flush()
    record(session, actor=actor, action="resend", entity="delivery", entity_id=delivery.id,
           after={"status": delivery.status, "attempts": delivery.attempts, "kind": note.kind})
    return delivery

