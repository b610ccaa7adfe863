"""Knowledge-base entries: search, create, edit, retire, learned variants, history, the bot's documents and the
materials shown with an answer. Every change writes a kb_revision and emits `kb.changed` (the bot rebuilds)."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from cloud.audit import service as audit
from cloud.audit.service import Actor
from cloud.errors import Conflict, Invalid, NotFound
from cloud.events import emit
from cloud.kb.models import AttachmentKind, BotAsk, KbAttachment, KbEntry, KbManualSection, KbRevision, KbStatus
from cloud.kb.schemas import AttachmentIn, KbEntryIn

if TYPE_CHECKING:
    from models.bot import KbDoc

SECTION_URL = re.compile(r"^/kb/manuals/(\d+)/sections/(\d+)$")
VIDEO_URL = re.compile(r"^/kb/videos/(\d+)$")
EDITABLE = ("question", "answer", "variants", "models", "category", "codes")


# ---- reading ---------------------------------------------------------------------------------------------------

def get_entry(session: Session, *, entry_id: int) -> KbEntry:
    """The entry with this id; NotFound otherwise."""
    entry = session.get(KbEntry, entry_id)
    if entry is None:
        raise NotFound("知识条目不存在 (no such knowledge-base entry)")
    return entry


def entry_by_key(session: Session, *, key: str) -> KbEntry:
    """The entry with this stable external id; NotFound otherwise."""
    entry = session.execute(select(KbEntry).where(KbEntry.key == key)).scalar_one_or_none()
    if entry is None:
        raise NotFound(f"知识条目 {key} 不存在 (no such knowledge-base entry)")
    return entry


def _matches(entry: KbEntry, *, q: str | None, model: str | None, category: str | None, code: str | None) -> bool:
    if q:
        haystack = " ".join([entry.key, entry.question, entry.answer, *entry.variants, *entry.codes]).casefold()
        if not all(word in haystack for word in q.casefold().split()):
            return False
    if model and not any(model.casefold() in m.casefold() for m in entry.models):
        return False
    if category and entry.category != category:
        return False
    return not code or any(code.casefold() == c.casefold() for c in entry.codes)


def list_entries(
    session: Session,
    *,
    q: str | None = None,
    model: str | None = None,
    category: str | None = None,
    code: str | None = None,
    status: KbStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[KbEntry], int]:
    """Entries newest change first, filtered by words (question, answer, variants, codes), model, category, code."""
    stmt = select(KbEntry).order_by(KbEntry.updated_at.desc(), KbEntry.id.desc())
    if status is not None:
        stmt = stmt.where(KbEntry.status == status)
    if category:
        stmt = stmt.where(KbEntry.category == category)
    # The lists live in JSON columns whose text form differs by backend (escaped on one, not the other); a
    # knowledge base is a few thousand rows at most, so the word filters run here, the same on both.
    rows = [e for e in session.execute(stmt).scalars() if _matches(e, q=q, model=model, category=category, code=code)]
    return rows[offset:offset + limit], len(rows)


def categories_in_use(session: Session) -> list[str]:
    """The categories entries use, for the filter."""
    rows = session.execute(select(KbEntry.category).where(KbEntry.category != "").distinct()).scalars()
    return sorted(rows)


def snapshot(entry: KbEntry) -> dict[str, Any]:
    """The entry as the history keeps it (and as the JSONL export writes it, plus status)."""
    return {
        "id": entry.key, "question": entry.question, "answer": entry.answer, "variants": list(entry.variants),
        "models": list(entry.models), "category": entry.category, "codes": list(entry.codes),
        "status": entry.status.value,
        "attachments": [{"kind": a.kind.value, "title": a.title, "url": attachment_url(a)} for a in entry.attachments],
    }


def revisions(session: Session, *, entry_id: int) -> list[KbRevision]:
    """An entry's versions, newest first."""
    stmt = select(KbRevision).where(KbRevision.entry_id == entry_id).order_by(KbRevision.version.desc())
    return list(session.execute(stmt).scalars())


# ---- attachments -----------------------------------------------------------------------------------------------

def attachment_url(attachment: KbAttachment) -> str:
    """Where a reader opens the attachment: the section page, the video page, or the outside link."""
    if attachment.kind == AttachmentKind.manual and attachment.section is not None:
        return f"/kb/manuals/{attachment.section.manual_id}/sections/{attachment.section.number}"
    if attachment.path:
        return f"/kb/videos/{attachment.id}"
    return attachment.url or ""


def cover_url(attachment: KbAttachment) -> str | None:
    """A video's cover frame, when one was extracted."""
    return f"/kb/files/{attachment.id}/cover" if attachment.cover_path else None


def _resolve_attachments(session: Session, entry: KbEntry | None, items: list[AttachmentIn]) -> list[KbAttachment]:
    """New attachment rows for items; raises Invalid naming each item that points nowhere."""
    kept = {a.id: a for a in entry.attachments} if entry is not None else {}
    out: list[KbAttachment] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        section_ref = SECTION_URL.match(item.url)
        video_ref = VIDEO_URL.match(item.url)
        if section_ref:
            section = session.execute(select(KbManualSection).where(
                KbManualSection.manual_id == int(section_ref[1]),
                KbManualSection.number == int(section_ref[2]))).scalar_one_or_none()
            if section is None:
                errors.append({"field": f"attachments[{index}]",
                               "message": f"附件“{item.title}”指向的手册章节不存在"})
                continue
            out.append(KbAttachment(kind=AttachmentKind.manual, title=item.title, manual_id=section.manual_id,
                                    section_id=section.id, section=section))
        elif video_ref:
            old = kept.get(int(video_ref[1]))
            if old is None or not old.path:
                errors.append({"field": f"attachments[{index}]",
                               "message": f"附件“{item.title}”指向的视频不属于这个条目"})
                continue
            out.append(KbAttachment(kind=old.kind, title=item.title, path=old.path, cover_path=old.cover_path))
        elif item.url.startswith(("http://", "https://", "/")):
            out.append(KbAttachment(kind=item.kind, title=item.title, url=item.url))
        else:
            errors.append({"field": f"attachments[{index}]",
                           "message": f"附件“{item.title}”的地址应以 http://、https:// 或 / 开头"})
    if errors:
        raise Invalid("附件有误 (an attachment is wrong)", errors)
    for position, attachment in enumerate(out):
        attachment.position = position
    return out


def _set_attachments(entry: KbEntry, attachments: list[KbAttachment]) -> None:
    # Reused uploads keep their stored file; the old rows go (delete-orphan), the new ones take their place.
    entry.attachments.clear()
    entry.attachments.extend(attachments)


# ---- writing ---------------------------------------------------------------------------------------------------

def _record(session: Session, *, entry: KbEntry, action: str, actor: Actor,
            before: dict[str, Any] | None, announce: bool = True) -> KbRevision:
    session.flush()
    session.refresh(entry, ["attachments"])
    last = session.execute(select(func.max(KbRevision.version)).where(KbRevision.entry_id == entry.id)).scalar()
    after = snapshot(entry)
    revision = KbRevision(entry_id=entry.id, version=(last or 0) + 1, snapshot=after, actor_id=actor.user_id,
                          actor=actor.label, action=action)
    session.add(revision)
    audit.record(session, actor=actor, action=f"kb.{action}", entity="kb_entry", entity_id=entry.id,
                 before=before, after=after)
    if announce:  # a bulk import announces itself once, after its last entry
        emit(session, "kb.changed", entry_id=entry.id, key=entry.key, action=action)
    session.flush()
    return revision


def _check_key_free(session: Session, key: str, entry_id: int | None) -> None:
    other = session.execute(select(KbEntry.id).where(KbEntry.key == key)).scalar_one_or_none()
    if other is not None and other != entry_id:
        raise Conflict(f"编号 {key} 已被另一个条目使用 (the id is taken)")


def create_entry(session: Session, *, data: KbEntryIn, actor: Actor, action: str = "created",
                 announce: bool = True) -> KbEntry:
    """A new active entry (its first revision recorded); the caller commits."""
    key = data.key or f"kb-{secrets.token_hex(4)}"
    _check_key_free(session, key, None)
    entry = KbEntry(key=key, question=data.question, answer=data.answer, variants=data.variants,
                    models=data.models, category=data.category, codes=data.codes, status=KbStatus.active,
                    updated_by_id=actor.user_id)
    if data.attachments:
        entry.attachments = _resolve_attachments(session, None, data.attachments)
    session.add(entry)
    _record(session, entry=entry, action=action, actor=actor, before=None, announce=announce)
    return entry


def update_entry(session: Session, *, entry_id: int, data: KbEntryIn, actor: Actor, action: str = "edited",
                 status: KbStatus | None = None, announce: bool = True) -> KbEntry:
    """Change an entry's text, lists and (when given) attachments; a change that changes nothing records nothing."""
    entry = get_entry(session, entry_id=entry_id)
    before = snapshot(entry)
    if data.key and data.key != entry.key:
        _check_key_free(session, data.key, entry.id)
        entry.key = data.key
    for name in EDITABLE:
        value = getattr(data, name)
        if getattr(entry, name) != value:
            setattr(entry, name, value)
    if data.attachments is not None:
        _set_attachments(entry, _resolve_attachments(session, entry, data.attachments))
    if status is not None:
        entry.status = status
    session.flush()
    session.refresh(entry, ["attachments"])
    if snapshot(entry) == before:
        return entry
    entry.updated_by_id = actor.user_id
    _record(session, entry=entry, action=action, actor=actor, before=before, announce=announce)
    return entry


def set_status(session: Session, *, entry_id: int, status: KbStatus, actor: Actor) -> KbEntry:
    """Retire an entry (the bot stops using it) or bring it back."""
    entry = get_entry(session, entry_id=entry_id)
    if entry.status == status:
        return entry
    before = snapshot(entry)
    entry.status = status
    entry.updated_by_id = actor.user_id
    _record(session, entry=entry, action="retired" if status == KbStatus.retired else "reactivated", actor=actor,
            before=before)
    return entry


def add_variant(session: Session, *, entry_id: int, text: str, actor: Actor) -> None:
    """Keep a paraphrase learned from feedback as a variant (history action 'learned'); repeats are ignored."""
    entry = get_entry(session, entry_id=entry_id)
    phrase = " ".join(text.split())[:500]
    if not phrase:
        raise Invalid("变体不能为空 (the paraphrase is empty)")
    known = {v.casefold() for v in [entry.question, *entry.variants]}
    if phrase.casefold() in known:
        return
    before = snapshot(entry)
    entry.variants = [*entry.variants, phrase]
    entry.updated_by_id = actor.user_id
    _record(session, entry=entry, action="learned", actor=actor, before=before)


def add_upload(session: Session, *, entry_id: int, kind: AttachmentKind, title: str, path: str,
               cover_path: str | None, actor: Actor) -> KbAttachment:
    """Attach a stored upload (a video or an image) at the end of an entry's attachments."""
    entry = get_entry(session, entry_id=entry_id)
    before = snapshot(entry)
    attachment = KbAttachment(kind=kind, title=title[:200] or kind.value, path=path, cover_path=cover_path,
                              position=len(entry.attachments))
    entry.attachments.append(attachment)
    entry.updated_by_id = actor.user_id
    _record(session, entry=entry, action="edited", actor=actor, before=before)
    return attachment


# ---- for the bot -----------------------------------------------------------------------------------------------

def active_docs(session: Session) -> list[KbDoc]:
    """Every active entry as the bot's document, with the text of its attached manual sections."""
    from models.bot import KbDoc  # here, not at the top: cloud must import even while the bot model is absent

    stmt = (select(KbEntry).where(KbEntry.status == KbStatus.active)
            .options(selectinload(KbEntry.attachments).selectinload(KbAttachment.section)).order_by(KbEntry.id))
    docs = []
    for entry in session.execute(stmt).scalars():
        sections = tuple(f"{a.section.title}\n{a.section.text}" for a in entry.attachments if a.section is not None)
        docs.append(KbDoc(entry_id=entry.key, question=entry.question, answer=entry.answer,
                          variants=tuple(entry.variants), models=tuple(entry.models), category=entry.category,
                          codes=tuple(entry.codes), sections=sections))
    return docs


def materials(session: Session, *, entry_id: int) -> list[dict[str, Any]]:
    """What to show with an entry's answer: [{"kind", "title", "url", "cover_url"}] in the entry's order."""
    entry = get_entry(session, entry_id=entry_id)
    return [{"kind": a.kind.value, "title": a.title, "url": attachment_url(a), "cover_url": cover_url(a)}
            for a in entry.attachments]


def usage(session: Session, *, entry_id: int, recent: int = 20) -> dict[str, Any]:
    """How an entry is used: times it answered, helpful / not helpful, times agents named it, recent questions."""
    answered = BotAsk.entry_id == entry_id

    def count(*where: Any) -> int:
        return int(session.execute(select(func.count(BotAsk.id)).where(*where)).scalar_one())

    rows = session.execute(select(BotAsk).where(answered | (BotAsk.resolved_entry_id == entry_id))
                           .order_by(BotAsk.id.desc()).limit(recent)).scalars().all()
    return {
        "answered": count(answered, BotAsk.handoff.is_(False)),
        "suggested": count(answered),
        "helpful": count(answered, BotAsk.helpful.is_(True)),
        "not_helpful": count(answered, BotAsk.helpful.is_(False)),
        "resolved_to": count(BotAsk.resolved_entry_id == entry_id),
        "recent": list(rows),
    }
