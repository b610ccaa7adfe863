"""The bot's service layer (db only, no HTTP): compose an answer, log the ask, feedback, and agents' resolutions.

`compose` only reads (WeChat's callback must answer within 5 s, before anything is written); `record` writes the
BotAsk row and emits `bot.handoff`; `answer` does both. Learning goes through the BotHolder so the live index and
the persisted state move together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.auth.models import User
from cloud.bot import replies
from cloud.bot.holder import BotHolder
from cloud.db import utcnow
from cloud.errors import Invalid, NotFound
from cloud.events import emit
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.registry.models import Device
from cloud.tenancy import Scope

MAX_QUESTION = 2000
CHANNELS = ("web", "wechat", "group", "report")


@dataclass
class BotAnswer:
    """The bot's reply with everything a channel shows, before and after it is logged."""

    text: str                                  # the whole zh-CN reply for a plain-text chat (answer + links)
    chat_text: str                             # the same without the material lines, for pages that show
                                               # the materials as links of their own (service groups)
    answer: str | None                         # the KB answer, None when handing over or refusing
    entry_id: int | None
    confidence: float
    handoff: bool
    urgent: bool
    reason: str
    intent: str
    alternatives: list[dict[str, Any]]
    materials: list[dict[str, Any]]
    repair_intent: bool
    repair_url: str | None
    conversation_id: str
    codes: list[str] = field(default_factory=list)
    ask_id: int | None = None
    question: str | None = None                # the answering entry's question (a title for the answer)

    def payload(self) -> dict[str, Any]:
        """The JSON of POST /api/v1/bot/ask."""
        return {"ask_id": self.ask_id, "answer": self.answer, "entry_id": self.entry_id,
                "confidence": round(self.confidence, 4), "handoff": self.handoff, "reason": self.reason,
                "alternatives": self.alternatives, "materials": self.materials, "text": self.text,
                "intent": self.intent, "urgent": self.urgent, "repair_url": self.repair_url,
                "conversation_id": self.conversation_id, "question": self.question}


def check_question(text: str | None) -> str:
    """The question stripped, or Invalid (empty, too long) with a clear message."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise Invalid(replies.EMPTY_QUESTION, errors=[{"field": "text", "message": replies.EMPTY_QUESTION}])
    if len(cleaned) > MAX_QUESTION:
        message = replies.TOO_LONG.format(limit=MAX_QUESTION)
        raise Invalid(message, errors=[{"field": "text", "message": message}])
    return cleaned


def device_for(session: Session, *, device_id: int | None, scope: Scope) -> Device | None:
    """The device asked about (None when none given); unknown or another hospital's → NotFound."""
    if device_id is None:
        return None
    device = session.get(Device, device_id)
    if device is None or not scope.allows(device.hospital_id):
        raise NotFound(replies.UNKNOWN_DEVICE.format(device_id=device_id))
    return device


def repair_link(session: Session, *, device: Device | None, public_url: str) -> str | None:
    """The device's repair page (its label's URL), or None when the device has no active label."""
    if device is None:
        return None
    code = qr_service.active_code(session, kind=TargetKind.device, target_id=device.id)
    return qr_service.url_for(code.code, public_url) if code is not None else None


def _materials(session: Session, entry_id: int | None) -> list[dict[str, Any]]:
    if entry_id is None:
        return []
    from cloud.kb import service as kb_service

    return list(kb_service.materials(session, entry_id=entry_id))


def _absolute(url: str, base: str) -> str:
    return url if "://" in url else base + (url if url.startswith("/") else "/" + url)


def compose(session: Session, *, holder: BotHolder, text: str, device: Device | None, public_url: str,
            conversation_id: str | None = None, show_repair_url: bool = True) -> BotAnswer:
    """Ask the live bot and build the reply (reads only; nothing is written)."""
    from cloud.kb.models import KbEntry

    reply, snapshot = holder.ask(text, model=device.model if device else None,
                                 category=device.category if device else None)
    intent = str(reply.intent.value if hasattr(reply.intent, "value") else reply.intent)
    base = public_url.rstrip("/")
    alternatives = [{"entry_id": snapshot.key_to_id[c.entry_id], "question": c.question,
                     "confidence": round(float(c.confidence), 4)}
                    for c in reply.alternatives if c.entry_id in snapshot.key_to_id]
    entry_id = snapshot.key_to_id.get(reply.entry_id) if reply.entry_id else None
    answer: str | None = None
    question: str | None = None
    lines: list[str] = []
    material_lines: list[str] = []
    materials: list[dict[str, Any]] = []
    handoff = urgent = False
    if intent == "safety":
        handoff = urgent = True
        entry_id = None
        lines += [reply.safety_message or replies.SAFETY_DEFAULT, replies.URGENT_HANDOFF]
    elif intent == "answer" and entry_id is not None:
        entry = session.get(KbEntry, entry_id)
        answer = entry.answer if entry is not None else None
        question = entry.question if entry is not None else None
        if answer is None:  # retired since the last rebuild: hand over rather than answer from a stale index
            entry_id, handoff = None, True
            lines.append(replies.HANDOFF)
        else:
            lines.append(answer)
            materials = _materials(session, entry_id)
            material_lines = [replies.MATERIAL_LINE.format(kind=replies.KIND_LABELS.get(str(m.get("kind")), "资料"),
                                                   title=m.get("title", ""), url=_absolute(str(m.get("url", "")), base))
                      for m in materials]
    elif intent == "out_of_scope":
        entry_id = None
        lines.append(replies.OUT_OF_SCOPE)
    elif intent == "greeting":
        entry_id = None
        lines.append(replies.GREETING)
    else:  # handoff: low confidence, no entries, anything we do not know
        entry_id, handoff = None, True
        lines.append(replies.REPAIR_HANDOFF if reply.repair_intent else replies.HANDOFF)
        if alternatives and not reply.repair_intent:
            lines.append(replies.ALTERNATIVES_INTRO + "；".join(str(a["question"]) for a in alternatives[:3]))
    repair_url = None
    if reply.repair_intent and not urgent:
        repair_url = repair_link(session, device=device, public_url=public_url) if show_repair_url else None
        if repair_url:
            lines.append(replies.REPAIR_DEVICE.format(url=repair_url))
        elif device is None:
            lines.append(replies.REPAIR_BACKUP.format(base=base))
        elif show_repair_url:  # a device without a label: report it by its system number
            lines.append(replies.REPAIR_BY_NUMBER.format(base=base, number=device.system_number))
        else:  # the anonymous repair page: the form is right below
            lines.append(replies.REPAIR_HERE)
    return BotAnswer(text="\n".join(lines + material_lines), chat_text="\n".join(lines), answer=answer,
                     entry_id=entry_id, confidence=float(reply.confidence),
                     handoff=handoff, urgent=urgent, reason=reply.reason, intent=intent, alternatives=alternatives,
                     materials=materials, repair_intent=bool(reply.repair_intent), repair_url=repair_url,
                     conversation_id=conversation_id or uuid.uuid4().hex, codes=list(reply.codes),
                     question=question)


def record(session: Session, *, result: BotAnswer, text: str, user_id: int | None, device: Device | None,
           channel: str, group_id: int | None = None, hospital_id: int | None = None) -> Any:
    """Log the ask (a BotAsk row) and emit `bot.handoff` when a person has to take over; no commit."""
    from cloud.kb.models import BotAsk

    ask = BotAsk(text=text[:MAX_QUESTION], user_id=user_id, device_id=device.id if device else None,
                 conversation_id=result.conversation_id[:64], channel=channel, intent=result.intent,
                 entry_id=result.entry_id, confidence=result.confidence, reason=result.reason[:40],
                 alternatives=result.alternatives, handoff=result.handoff)
    session.add(ask)
    session.flush()
    result.ask_id = ask.id
    # On the repair page the bot only suggests while the reporter types, and the report itself is the handover:
    # nobody is called for each draft, except for safety.
    if result.handoff and (channel != "report" or result.urgent):
        if hospital_id is None:
            hospital_id = device.hospital_id if device else _user_hospital(session, user_id)
        emit(session, "bot.handoff", ask_id=ask.id, conversation_id=ask.conversation_id, group_id=group_id,
             hospital_id=hospital_id, device_id=ask.device_id, text=text, urgent=result.urgent,
             channel=channel, user_id=user_id, reason=result.reason)
    return ask


def _user_hospital(session: Session, user_id: int | None) -> int | None:
    user = session.get(User, user_id) if user_id else None
    return user.hospital_id if user else None


def answer(session: Session, *, bot: BotHolder, text: str, user_id: int | None, device_id: int | None,
           conversation_id: str | None, channel: str, public_url: str = "", scope: Scope | None = None,
           group_id: int | None = None, hospital_id: int | None = None, show_repair_url: bool = True) -> BotAnswer:
    """Answer one question and log it (flushes; the caller commits)."""
    cleaned = check_question(text)
    device = device_for(session, device_id=device_id, scope=scope or Scope.everything())
    result = compose(session, holder=bot, text=cleaned, device=device, public_url=public_url,
                     conversation_id=conversation_id, show_repair_url=show_repair_url)
    record(session, result=result, text=cleaned, user_id=user_id, device=device, channel=channel,
           group_id=group_id, hospital_id=hospital_id)
    return result


def get_ask(session: Session, *, ask_id: int) -> Any:
    """A logged ask, or NotFound."""
    from cloud.kb.models import BotAsk

    ask = session.get(BotAsk, ask_id)
    if ask is None:
        raise NotFound(replies.NOT_YOUR_ASK)
    return ask


def feedback(session: Session, *, bot: BotHolder, ask_id: int, helpful: bool, entry_id: int | None,
             user_id: int | None, conversation_id: str | None, group_id: int | None = None) -> dict[str, Any]:
    """Record "solved / not solved" for the asker's own ask; a second feedback replaces the first.

    Signed-in askers must be the same user; anonymous asks need the conversation_id the ask returned. Someone
    else's ask reads as 404. helpful=False hands the conversation over (once, on the change to "not solved").
    """
    ask = get_ask(session, ask_id=ask_id)
    if ask.user_id is not None:
        if ask.user_id != user_id:
            raise NotFound(replies.NOT_YOUR_ASK)
    elif user_id is not None or not conversation_id or conversation_id != ask.conversation_id:
        raise NotFound(replies.NOT_YOUR_ASK)
    chosen = entry_id if entry_id is not None else ask.entry_id
    if entry_id is not None:
        _check_entry(session, entry_id)
    was = ask.helpful
    ask.helpful, ask.feedback_at = helpful, utcnow()
    shown = [int(a["entry_id"]) for a in (ask.alternatives or []) if a.get("entry_id") is not None]
    model = ask.device.model if getattr(ask, "device", None) is not None else _device_model(session, ask.device_id)
    if chosen is not None and was != helpful:
        bot.learn(session, text=ask.text, entry_id=int(chosen), helpful=helpful, shown=shown, model=model)
    handoff = False
    if group_id is None and ask.channel == "group":  # only the bot's own group asks carry a group
        group_id = group_of_conversation(ask.conversation_id)
    if not helpful and was is not False:
        handoff = True
        hospital_id = _device_hospital(session, ask.device_id) or _user_hospital(session, ask.user_id)
        emit(session, "bot.handoff", ask_id=ask.id, conversation_id=ask.conversation_id, group_id=group_id,
             hospital_id=hospital_id, device_id=ask.device_id, text=ask.text, urgent=False, channel=ask.channel,
             user_id=ask.user_id, reason="not_solved")
        ask.handoff = True
    return {"ask_id": ask.id, "helpful": helpful, "handoff": handoff or (not helpful),
            "text": replies.FEEDBACK_THANKS if helpful else replies.FEEDBACK_HANDOFF}


def conversation_asks(session: Session, *, conversation_id: str, up_to_ask_id: int, limit: int = 10) -> list[Any]:
    """The last asks of a conversation up to one ask, oldest first (what an escalation carries)."""
    from cloud.kb.models import BotAsk

    if not conversation_id:
        return []
    stmt = (select(BotAsk).where(BotAsk.conversation_id == conversation_id, BotAsk.id <= up_to_ask_id)
            .order_by(BotAsk.id.desc()).limit(limit))
    return list(reversed(session.execute(stmt).scalars().all()))


def conversation_turns(session: Session, asks: list[Any]) -> list[dict[str, Any]]:
    """Each ask as the user's turn and the bot's (the answering entry's question, or that it handed over)."""
    from cloud.kb.models import KbEntry

    turns: list[dict[str, Any]] = []
    for ask in asks:
        at = ask.created_at.isoformat()
        turns.append({"who": "user", "text": ask.text, "at": at})
        entry = session.get(KbEntry, ask.entry_id) if ask.entry_id else None
        bot_text = entry.question if entry is not None else replies.CONVERSATION_HANDOFF
        if ask.helpful is False:
            bot_text += " —— 用户反馈：没解决"
        turns.append({"who": "bot", "text": bot_text, "at": at, "entry_id": ask.entry_id})
    return turns


def conversation_in_group(group_id: int, user_id: int | None) -> str:
    """The conversation id of a user's questions in a service group."""
    return f"g{group_id}-u{user_id or 0}"


def group_of_conversation(conversation_id: str | None) -> int | None:
    """The service group a conversation id belongs to, if it is a group's."""
    head, _, rest = (conversation_id or "").partition("-u")
    return int(head[1:]) if head.startswith("g") and head[1:].isdigit() and rest.isdigit() else None


def _device_model(session: Session, device_id: int | None) -> str | None:
    device = session.get(Device, device_id) if device_id else None
    return device.model if device else None


def _device_hospital(session: Session, device_id: int | None) -> int | None:
    device = session.get(Device, device_id) if device_id else None
    return device.hospital_id if device else None


def _check_entry(session: Session, entry_id: int) -> Any:
    from cloud.kb.models import KbEntry

    entry = session.get(KbEntry, entry_id)
    if entry is None:
        raise NotFound(f"知识库条目 {entry_id} 不存在")
    return entry


def resolve(session: Session, *, bot: BotHolder, ask_id: int, entry_id: int | None, answer_text: str | None,
            new_entry: Any | None, actor: Actor, user_id: int) -> Any:
    """An agent's final word on an ask: the right entry (learned as a paraphrase) or a new entry written from it."""
    from cloud.kb import service as kb_service

    ask = get_ask(session, ask_id=ask_id)
    if entry_id is None and new_entry is None and not (answer_text or "").strip():
        raise Invalid("请选择正确的知识库条目，或填写答复/新条目",
                      errors=[{"field": "entry_id", "message": "entry_id, answer or new_entry is required"}])
    if new_entry is not None:
        created = kb_service.create_entry(session, data=new_entry, actor=actor)
        session.flush()
        entry_id = int(created.id)
    if answer_text is not None and answer_text.strip():
        ask.answer_text = answer_text.strip()
    ask.resolved_by_id = user_id
    if entry_id is not None:
        entry = _check_entry(session, entry_id)
        ask.resolved_entry_id = entry_id
        already = ask.text.strip() == entry.question.strip() or ask.text.strip() in (entry.variants or [])
        if not already:
            kb_service.add_variant(session, entry_id=entry_id, text=ask.text, actor=actor)
        shown = [int(a["entry_id"]) for a in (ask.alternatives or []) if a.get("entry_id") is not None]
        bot.learn(session, text=ask.text, entry_id=entry_id, helpful=True, shown=shown,
                  model=_device_model(session, ask.device_id))
        if ask.entry_id is not None and ask.entry_id != entry_id and ask.intent == "answer":
            bot.learn(session, text=ask.text, entry_id=int(ask.entry_id), helpful=False, shown=shown,
                      model=_device_model(session, ask.device_id))
    emit(session, "bot.resolved", ask_id=ask.id, entry_id=entry_id, conversation_id=ask.conversation_id)
    return ask


def public_entry(session: Session, *, entry_id: int) -> dict[str, Any]:
    """An active entry's question, answer and materials (what a suggestion expands to); retired → NotFound."""
    from cloud.kb.models import KbEntry, KbStatus

    entry = session.get(KbEntry, entry_id)
    if entry is None or entry.status != KbStatus.active:
        raise NotFound(f"知识库条目 {entry_id} 不存在")
    return {"entry_id": entry.id, "question": entry.question, "answer": entry.answer,
            "materials": _materials(session, entry.id)}
