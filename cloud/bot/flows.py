"""Side effects around the bot: it answers lab users in service groups, and handovers reach the on-duty agents.

Events are delivered on the thread that committed (often a request's), so the bot's group answer runs on this
flow's own small pool: the poster's request never waits for the bot, and the answer is its own transaction.
cloud.servicegroups is imported inside the handlers: P4 never imports cloud.bot, and neither side needs the other
to exist for the app to start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.auth.models import Role, User
from cloud.bot import replies, service
from cloud.bot.holder import BotHolder
from cloud.config import Settings
from cloud.events import DomainEvent, EventBus
from cloud.notify.channels import Channel
from cloud.notify.messages import Text
from cloud.notify.service import notify
from cloud.registry.models import Device
from cloud.tickets.presence import may_skip_label

log = logging.getLogger("medfix.bot.flows")

ANSWERED_KINDS = ("text", "voice")


class BotFlows:
    """Reacts to committed events; owns a two-thread pool for the bot's answers in groups."""

    def __init__(self, sessions: sessionmaker[Session], holder: BotHolder, channels: Sequence[Channel],
                 settings: Settings) -> None:
        self.sessions = sessions
        self.holder = holder
        self.channels = list(channels)
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bot-flow")
        self._futures: list[Future[None]] = []

    def install(self, bus: EventBus) -> None:
        """Subscribe to handovers and to service-group messages; rebuild the index on KB changes."""
        self.holder.install(bus)
        bus.subscribe("bot.handoff", self.on_handoff)
        bus.subscribe("servicegroup.message_posted", self.on_group_message)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait for the answers in flight (tests and shutdown)."""
        futures, self._futures = self._futures, []
        wait(futures, timeout=timeout)

    def stop(self) -> None:
        """Finish what is queued, then stop the pool and any pending index rebuild."""
        self._pool.shutdown(wait=True)
        self.holder.stop()

    # ---- handovers ------------------------------------------------------------------------------------------

    def on_handoff(self, event: DomainEvent) -> None:
        """Tell the on-duty agents. In a service group P4's flow does it, except safety cases: those always go
        out from here too, as an urgent notification (one per ask per agent: the event key dedupes).

        "Not solved" about a known device, from a signed-in user, also opens a ticket with the remote service
        centre carrying the conversation (tier 2), off the feedback request's thread; for an unverified user, who may
        not bind a device without its label, the agents and the centre get the named device as text instead."""
        data = event.data
        if data.get("reason") == "not_solved" and data.get("device_id") and data.get("user_id"):
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(self._pool.submit(self._escalate, dict(data)))
        if data.get("group_id") is not None and not data.get("urgent"):
            return
        urgent = bool(data.get("urgent"))
        with self.sessions() as session:
            roles = [Role.agent, Role.service_center] if urgent else [Role.agent]
            agents = session.execute(select(User.id).where(User.role.in_(roles), User.is_active.is_(True)))
            where = {"wechat": "微信", "group": "服务群", "report": "报修页", "web": "网页"}.get(
                str(data.get("channel") or ""), "")
            text = Text(replies.URGENT_TITLE if urgent else replies.HANDOFF_TITLE,
                        replies.HANDOFF_BODY.format(where=where, text=str(data.get("text") or "")[:120]))
            link = "/console" if urgent else f"/admin/bot?ask={data.get('ask_id')}"
            # The repair page asks again at every pause in typing: one alarm per reporter's page, not per draft.
            key = (f"bot.urgent:{data.get('conversation_id')}" if data.get("channel") == "report"
                   else f"bot.handoff:{data.get('ask_id')}")
            for agent_id in agents.scalars():
                notify(session, user_id=int(agent_id), event_key=key,
                       kind="bot.urgent" if urgent else "bot.handoff", text=text, link=link,
                       channels=self.channels, subject=text.title)
            session.commit()

    def _escalate(self, data: dict[str, Any]) -> None:
        try:
            self.escalate(data)
        except Exception:  # a failed escalation must not lose the handover, which the notification carries
            log.exception("could not open the escalated ticket for ask %s", data.get("ask_id"))

    def escalate(self, data: dict[str, Any]) -> None:
        """Open (once per conversation's asks) the centre's ticket with the conversation; tell the group."""
        from cloud.tickets import service as ticket_service
        from cloud.tickets.schemas import ActionIn
        from cloud.tickets.state import Action

        with self.sessions() as session:
            reporter = session.get(User, int(data["user_id"]))
            asks = service.conversation_asks(session, conversation_id=str(data.get("conversation_id") or ""),
                                             up_to_ask_id=int(data["ask_id"]))
            if reporter is None or not asks:
                return
            if not may_skip_label(reporter):
                # Finding 2: a ticket binds the device only for who may vouch for it (staff, verified users)
                # or holds its label. The desk gets the named device as text and reaches the user instead.
                self._tell_desk_unverified(session, reporter=reporter, data=data,
                                           question=service.conversation_turns(session, asks))
                session.commit()
                return
            turns = service.conversation_turns(session, asks)
            ask_ids = [ask.id for ask in asks]
            ticket = ticket_service.newest_open(session, device_id=int(data["device_id"]))
            if ticket is not None and set(ask_ids) <= set(ticket.ask_ids or []):
                return  # "not solved" said again on asks this ticket already carries
            if ticket is not None:
                # The device's fault is being handled already: what the bot could not answer goes onto that
                # ticket, as another reporter's at the label page does, not into a second one the desk must merge.
                said = [str(turn.get("text") or "") for turn in turns if turn.get("who") == "user"]
                who = reporter.full_name or reporter.username
                text = replies.ADDED_FROM_CHAT.format(text=(said[-1] if said else str(data.get("text") or "")),
                                                      name=who)
                ticket_service.apply_action(
                    session, ticket=ticket, data=ActionIn(action=Action.add_info, text=text[:5000],
                                                          version=ticket.version),
                    viewer=ticket_service.Viewer(user=reporter, reporter_key=ticket_service.reporter_key(
                        self.settings, ticket.number)),
                    settings=self.settings, recorded={"via": "bot", "ask_ids": ask_ids})
                ticket.ask_ids = sorted({*(ticket.ask_ids or []), *ask_ids})
                told = replies.ADDED_TO_OPEN.format(number=ticket.number)
            else:
                ticket = ticket_service.open_escalated(
                    session, settings=self.settings, device_id=int(data["device_id"]), reporter=reporter, text="",
                    ask_ids=ask_ids, conversation=turns)
                told = replies.ESCALATED.format(number=ticket.number)
            group_id = data.get("group_id")
            if group_id is not None:
                from cloud.servicegroups import service as group_service

                group_service.post_message(
                    session, group_id=int(group_id), author_user_id=None, kind="system", text=told,
                    meta={"ticket_id": ticket.id, "ticket_number": ticket.number})
            session.commit()

    def _tell_desk_unverified(self, session: Session, *, reporter: User, data: dict[str, Any],
                              question: list[dict[str, Any]]) -> None:
        """Tell the agents and the service centre about an unverified user's unsolved question on a device they
        named (not proven): a person checks the device with the user and opens the ticket."""
        device = session.get(Device, int(data["device_id"]))
        named = device.system_number if device is not None else f"#{data['device_id']}"
        said = [str(turn.get("text") or "") for turn in question if turn.get("who") == "user"]
        text = Text(replies.UNVERIFIED_TITLE, replies.UNVERIFIED_BODY.format(
            name=reporter.full_name or reporter.username, phone=reporter.phone or "-", device=named,
            text=(said[-1] if said else str(data.get("text") or ""))[:120]))
        desk = session.execute(select(User.id).where(User.role.in_([Role.agent, Role.service_center]),
                                                     User.is_active.is_(True))).scalars().all()
        for user_id in desk:
            notify(session, user_id=int(user_id), event_key=f"bot.unverified:{data.get('ask_id')}",
                   kind="bot.unverified", text=text, link=f"/admin/bot?ask={data.get('ask_id')}",
                   channels=self.channels, subject=text.title)
        log.info("ask %s: unverified user %s named device %s; the desk was told instead of opening a ticket",
                 data.get("ask_id"), reporter.id, named)
        if not desk:
            log.warning("ask %s: no active agent or service centre user to hand the unverified user over to",
                        data.get("ask_id"))

    # ---- service groups -------------------------------------------------------------------------------------

    def on_group_message(self, event: DomainEvent) -> None:
        """A lab user's question in a group: answer it on the pool (never on the poster's request)."""
        data = event.data
        if data.get("as_bot") or data.get("author_kind") != "lab_user" or data.get("kind") not in ANSWERED_KINDS:
            return
        self._futures = [f for f in self._futures if not f.done()]
        self._futures.append(self._pool.submit(self._answer_in_group, dict(data)))

    def _answer_in_group(self, data: dict[str, Any]) -> None:
        try:
            self.answer_in_group(data)
        except Exception:
            log.exception("the bot could not answer group message %s", data.get("message_id"))

    def answer_in_group(self, data: dict[str, Any]) -> None:
        """Answer one group message as the bot (its own transaction)."""
        from cloud.servicegroups import service as group_service

        text = str(data.get("text") or "").strip()
        if data.get("kind") == "voice" and not text:
            text = self._transcript(data)
        group_id = int(data["group_id"])
        with self.sessions() as session:
            if not text:
                if data.get("kind") == "voice":
                    group_service.post_message(session, group_id=group_id, author_user_id=None, kind="bot",
                                               text=replies.VOICE_UNHEARD, meta={"handoff": False}, as_bot=True,
                                               reply_to_id=data.get("message_id"))
                    session.commit()
                return
            if len(text) > service.MAX_QUESTION:
                text = text[:service.MAX_QUESTION]
            user_id = data.get("author_user_id")
            device_id = data.get("device_id")
            result = service.answer(session, bot=self.holder, text=text, user_id=user_id,
                                    device_id=int(device_id) if device_id else None,
                                    conversation_id=service.conversation_in_group(group_id, user_id),
                                    channel="group",
                                    public_url=self.settings.public_url, group_id=group_id,
                                    hospital_id=data.get("hospital_id"))
            meta = {"ask_id": result.ask_id, "entry_id": result.entry_id, "materials": result.materials,
                    "handoff": result.handoff, "confidence": round(result.confidence, 4), "urgent": result.urgent,
                    "alternatives": result.alternatives}
            group_service.post_message(session, group_id=group_id, author_user_id=None, kind="bot",
                                       text=result.chat_text[:group_service.MAX_TEXT], meta=meta, as_bot=True,
                                       reply_to_id=data.get("message_id"))
            session.commit()

    def _transcript(self, data: dict[str, Any]) -> str:
        try:
            from cloud.servicegroups.models import ServiceGroupMessage
        except ImportError:
            return ""
        with self.sessions() as session:
            message = session.get(ServiceGroupMessage, data.get("message_id"))
            return str(getattr(message, "transcript", "") or "").strip() if message else ""


def install_bot(settings: Settings, sessions: sessionmaker[Session], bus: EventBus, channels: Sequence[Channel],
                wechat: Any = None) -> BotFlows:
    """The process's BotHolder and BotFlows, installed on bus (and on the WeChat callback when configured)."""
    holder = BotHolder(sessions)
    flows = BotFlows(sessions, holder, channels, settings)
    flows.install(bus)
    if wechat is not None:
        wechat.handler.bot = holder
    return flows
