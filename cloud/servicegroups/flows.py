"""Side effects of service group events: live chat pushes, auto-join, offline notices, bot handovers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.auth.models import Role, User
from cloud.console.hub import Hub
from cloud.db import utcnow
from cloud.events import DomainEvent, EventBus
from cloud.notify.channels import Channel
from cloud.notify.messages import Text, render
from cloud.notify.service import notify
from cloud.servicegroups import service, views
from cloud.servicegroups.models import (
    MemberKind,
    MessageKind,
    ServiceGroup,
    ServiceGroupMember,
    ServiceGroupMessage,
)

log = logging.getLogger("medfix.servicegroups.flows")

NOTICE_EVERY = timedelta(minutes=10)  # at most one offline notice per member per group in this time
ONLINE_FOR = timedelta(seconds=75)  # a chat page pings every 25 s; a missed ping or two still counts as online
MESSAGE_TEXT = Text("服务群有新消息", "{group}：{author}：{text}")
HANDOFF_TEXT = Text("机器人转人工", "{group}：{text}")
URGENT_TEXT = Text("紧急：安全问题转人工", "{group}：{text}")
DESK_KINDS = frozenset({MemberKind.agent, MemberKind.service_center})


def link_for(kind: MemberKind, group_id: int) -> str:
    """Where a member reads the group: the desk in the console, everyone else on the phone page."""
    return f"/console?group={group_id}" if kind in DESK_KINDS else f"/groups/{group_id}"


class GroupFlows:
    """Reacts to committed events; owns nothing but references to the app's parts."""

    def __init__(self, sessions: sessionmaker[Session], hub: Hub, channels: Sequence[Channel]) -> None:
        self.sessions = sessions
        self.hub = hub
        self.channels = list(channels)

    def install(self, bus: EventBus) -> None:
        """Subscribe to the events service groups react to."""
        bus.subscribe("servicegroup.message_posted", self.on_message)
        bus.subscribe("servicegroup.message_updated", self.on_message_updated)
        bus.subscribe("servicegroup.read", self.on_read)
        bus.subscribe("user.verified", self.on_user_event)
        bus.subscribe("device.claimed", self.on_user_event)
        bus.subscribe("bot.handoff", self.on_handoff)

    def _push(self, session: Session, message_id: int, event: str) -> ServiceGroupMessage | None:
        message = session.get(ServiceGroupMessage, message_id)
        if message is None:
            return None
        out = views.message_out(session, message)
        group = session.get(ServiceGroup, message.group_id)
        self.hub.publish({"type": "group.message", "event": event, "group_id": message.group_id,
                          "hospital_id": group.hospital_id if group else None,
                          "message": out.model_dump(mode="json")})
        return message

    def on_message(self, event: DomainEvent) -> None:
        """Push the message to open chats, then tell offline members (rate-limited)."""
        with self.sessions() as session:
            message = self._push(session, int(event.data["message_id"]), "posted")
            if message is None:
                return
            self._notify_offline(session, message, as_bot=bool(event.data.get("as_bot")))
            session.commit()

    def on_message_updated(self, event: DomainEvent) -> None:
        """A message changed (e.g. it became a ticket): open chats replace it."""
        with self.sessions() as session:
            self._push(session, int(event.data["message_id"]), "updated")

    def on_read(self, event: DomainEvent) -> None:
        """Other tabs of the same person clear their unread badge."""
        self.hub.publish({"type": "group.read", **event.data})

    def _notify_offline(self, session: Session, message: ServiceGroupMessage, *, as_bot: bool) -> None:
        group = session.get(ServiceGroup, message.group_id)
        if group is None:
            return
        now = utcnow()
        author = views._author(session, message.author)
        text = message.text or message.transcript or ("[照片]" if message.attachment_ids else "")
        values = {"group": group.name, "author": author.name if author else "系统", "text": text[:80]}
        members = session.execute(select(ServiceGroupMember).where(
            ServiceGroupMember.group_id == group.id, ServiceGroupMember.user_id.is_not(None))).scalars()
        for member in members:
            if member.id == message.author_id:
                continue
            if as_bot and member.kind != MemberKind.lab_user:  # the bot's answers are for the asker, not the staff
                continue
            if member.seen_at is not None and now - member.seen_at < ONLINE_FOR:
                continue
            if member.notified_at is not None and now - member.notified_at < NOTICE_EVERY:
                continue
            user = session.get(User, member.user_id)
            if user is None or not user.is_active or not service.may_see(user, group, member=True):
                continue  # e.g. an engineer who no longer serves the hospital keeps the row, not the news
            member.notified_at = now
            notify(session, user_id=user.id, event_key=f"servicegroup:{group.id}:{message.id}",
                   kind="servicegroup.message", text=render(MESSAGE_TEXT, **values),
                   link=link_for(member.kind, group.id), channels=self.channels, subject=group.name)

    def on_user_event(self, event: DomainEvent) -> None:
        """A lab user verified or claiming a device joins the hospital's (and the device's) groups."""
        user_id = event.data.get("user_id")
        if user_id is None:
            return
        with self.sessions() as session:
            service.auto_join(session, user_id=int(user_id))
            session.commit()

    def _mark_handed_over(self, session: Session, group_id: int, ask_id: object) -> None:
        """The bot answer the handover is about (e.g. after "没解决") stays highlighted for the desk."""
        if ask_id is None:
            return
        recent = session.execute(select(ServiceGroupMessage).where(
            ServiceGroupMessage.group_id == group_id, ServiceGroupMessage.kind == MessageKind.bot)
            .order_by(ServiceGroupMessage.id.desc()).limit(100)).scalars()
        for message in recent:
            meta = message.meta or {}
            if str(meta.get("ask_id")) == str(ask_id):
                if not meta.get("handoff"):
                    message.meta = {**meta, "handoff": True}
                    session.flush()
                    self._push(session, message.id, "updated")
                return

    def on_handoff(self, event: DomainEvent) -> None:
        """The bot handed a question over: highlight it in the console and tell the on-duty desk at once."""
        data = event.data
        group_id = data.get("group_id")
        self.hub.publish({"type": "group.handoff", **data})
        if not group_id:
            return
        with self.sessions() as session:
            group = session.get(ServiceGroup, int(group_id))
            if group is None:
                return
            self._mark_handed_over(session, group.id, data.get("ask_id"))
            template = URGENT_TEXT if data.get("urgent") else HANDOFF_TEXT
            text = render(template, group=group.name, text=str(data.get("text") or "")[:120])
            desk = session.execute(select(User).where(User.is_active.is_(True), User.role.in_(
                [Role.agent, Role.service_center]))).scalars()
            for user in desk:
                notify(session, user_id=user.id, event_key=f"bot.handoff:{data.get('ask_id')}", kind="bot.handoff",
                       text=text, link=f"/console?group={group.id}", channels=self.channels, subject=group.name)
            session.commit()
