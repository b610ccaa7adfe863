"""Knowledge-base pages: the admin list, form, entry detail (use, feedback, history), manuals and JSONL import
(desktop), and the phone pages a bot answer links to: a manual section and a training video (WeUI)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from cloud.audit.service import Actor
from cloud.auth.models import Role, User
from cloud.config import Settings
from cloud.db import SessionDep
from cloud.deps import SettingsDep
from cloud.errors import DomainError, NotFound
from cloud.kb import importer, manuals, media, service
from cloud.kb.importer import _message
from cloud.kb.models import AttachmentKind, KbAttachment, KbEntry, KbStatus
from cloud.kb.schemas import AttachmentIn, KbEntryIn
from cloud.registry.schemas import DeviceCategory
from cloud.security import UPLOAD_HEADERS
from cloud.web.pages import PAGE_SIZE, page_user, render

router = APIRouter(include_in_schema=False)
HOSPITAL_TZ = ZoneInfo("Asia/Shanghai")  # the hospitals' time zone (all are in mainland China today)
READERS = (Role.admin, Role.agent, Role.service_center)
FIELD_LABELS = {"question": "Question", "answer": "Answer", "variants": "Variants", "models": "Device models",
                "category": "Category", "codes": "Fault codes", "status": "Status", "attachments": "Attachments",
                "id": "Entry id"}


def local_time(moment: datetime | None) -> str:
    """A stored UTC time as the hospital reads it."""
    return moment.astimezone(HOSPITAL_TZ).strftime("%Y-%m-%d %H:%M") if moment else "—"


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, label=user.full_name or user.username)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]


def _items(text: str) -> list[str]:
    return [p.strip() for p in text.replace("，", ",").replace("\n", ",").split(",") if p.strip()]


FORM_NAMES = {"question": "问题", "answer": "答案", "variants": "其他问法", "models": "适用型号", "category": "类别",
              "codes": "故障代码", "id": "条目编号", "attachments": "附件"}


def _form_message(error: Any) -> str:
    # The importer names JSON fields; the form names the fields as the admin sees them.
    message = _message(error)
    first, _space, rest = message.partition(" ")
    return f"{FORM_NAMES[first]} {rest}" if first in FORM_NAMES else message


def _kb_render(request: Request, template: str, user: User, **context: Any) -> Response:
    return render(request, template, user, active="kb", local_time=local_time, can_edit=user.role == Role.admin,
                  categories=list(DeviceCategory), **context)


# ---- list -----------------------------------------------------------------------------------------------------

@router.get("/admin/kb")
def kb_list(
    request: Request,
    session: SessionDep,
    user: Annotated[User, page_user(*READERS)],
    q: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    code: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query()] = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """Entries with search and filters."""
    wanted = KbStatus(status) if status and status in KbStatus.__members__ else None
    rows, total = service.list_entries(session, q=q, model=model, category=category or None, code=code,
                                       status=wanted, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return _kb_render(request, "admin/kb_list.html", user, entries=rows, total=total, page=page,
                      pages=max(1, -(-total // PAGE_SIZE)), q=q or "", model=model or "", category=category or "",
                      code=code or "", status=wanted)


# ---- create / edit ----------------------------------------------------------------------------------------------

def _form_values(entry: KbEntry | None) -> dict[str, Any]:
    if entry is None:
        return {"key": "", "question": "", "answer": "", "variants": "", "models": "", "category": "", "codes": ""}
    return {"key": entry.key, "question": entry.question, "answer": entry.answer,
            "variants": "\n".join(entry.variants), "models": ", ".join(entry.models), "category": entry.category,
            "codes": ", ".join(entry.codes)}


def _form_page(request: Request, session: Session, user: User, entry: KbEntry | None, values: dict[str, Any],
               errors: list[str], status_code: int = 200) -> Response:
    response = _kb_render(request, "admin/kb_form.html", user, entry=entry, values=values, errors=errors,
                          sections=manuals.all_sections(session),
                          attachments=[(a, service.attachment_url(a)) for a in (entry.attachments if entry else [])])
    response.status_code = status_code
    return response


@router.get("/admin/kb/new")
def kb_new(request: Request, session: SessionDep, user: Annotated[User, page_user(Role.admin)],
           question: str = "", variants: str = "", models: str = "", answer: str = "") -> Response:
    """An empty entry form, or one prefilled from questions the bot could not answer (/admin/bot)."""
    prefill = {"question": question[:500], "variants": variants[:5000], "models": models[:500],
               "answer": answer[:20000]}
    return _form_page(request, session, user, None, _form_values(None) | prefill, [])


async def _save(request: Request, session: Session, settings: Settings, user: User,
                entry: KbEntry | None) -> Response:
    form = await request.form()
    values = {name: str(form.get(name) or "") for name in _form_values(None)}
    attachments: list[AttachmentIn] = []
    if entry is not None:
        keep = {int(str(v)) for v in form.getlist("keep_attachment") if str(v).isdigit()}
        attachments += [AttachmentIn(kind=a.kind, title=a.title, url=service.attachment_url(a))
                        for a in entry.attachments if a.id in keep]
    sections = {s.id: s for s in manuals.all_sections(session)}
    for raw in form.getlist("section_id"):
        section = sections.get(int(str(raw))) if str(raw).isdigit() else None
        if section is not None:
            title = f"{section.manual.title} · {section.title}"[:200]
            attachments.append(AttachmentIn(kind=AttachmentKind.manual, title=title,
                                            url=f"/kb/manuals/{section.manual_id}/sections/{section.number}"))
    link_url, link_title = str(form.get("link_url") or "").strip(), str(form.get("link_title") or "").strip()
    errors: list[str] = []
    try:
        if link_url:
            kind = AttachmentKind.video if form.get("link_kind") == "video" else AttachmentKind.link
            attachments.append(AttachmentIn(kind=kind, title=link_title or link_url[:200], url=link_url))
        data = KbEntryIn(key=values["key"] or (entry.key if entry else None), question=values["question"],
                         answer=values["answer"], variants=_lines(values["variants"]), models=_items(values["models"]),
                         category=values["category"], codes=_items(values["codes"]), attachments=attachments)
    except ValidationError as exc:
        errors = [_form_message(e) for e in exc.errors()]
    video = form.get("video")
    content = b""
    if not errors and isinstance(video, UploadFile) and video.filename:
        content = await video.read(media.MAX_VIDEO_MB * 1024 * 1024 + 1)
    if errors:
        return _form_page(request, session, user, entry, values, errors, 422)
    try:
        actor = _actor(user)
        if entry is None:
            saved = service.create_entry(session, data=data, actor=actor)
        else:
            saved = service.update_entry(session, entry_id=entry.id, data=data, actor=actor)
        if content:
            path, cover = media.store_video(settings.data_dir, content)
            title = str(form.get("video_title") or "").strip() or str(getattr(video, "filename", "")) or "视频"
            service.add_upload(session, entry_id=saved.id, kind=AttachmentKind.video, title=title, path=path,
                               cover_path=cover, actor=actor)
    except DomainError as error:
        session.rollback()
        details = [d.get("message", "") for d in error.extra.get("errors", [])]
        return _form_page(request, session, user, entry, values, [error.message, *details], 422)
    session.commit()
    return RedirectResponse(f"/admin/kb/{saved.id}", status_code=303)


@router.post("/admin/kb/new")
async def kb_create(request: Request, session: SessionDep, settings: SettingsDep,
                    user: Annotated[User, page_user(Role.admin)]) -> Response:
    """Save a new entry."""
    return await _save(request, session, settings, user, None)


# ---- manuals ----------------------------------------------------------------------------------------------------

@router.get("/admin/kb/manuals")
def kb_manuals(request: Request, session: SessionDep, user: Annotated[User, page_user(*READERS)]) -> Response:
    """Uploaded manuals and the upload form."""
    return _kb_render(request, "admin/kb_manuals.html", user, manuals=manuals.list_manuals(session), error=None)


@router.post("/admin/kb/manuals")
async def kb_manual_upload(request: Request, session: SessionDep, settings: SettingsDep,
                           user: Annotated[User, page_user(Role.admin)]) -> Response:
    """Upload a PDF manual; a file that is not a PDF is refused with a clear message and nothing saved."""
    form = await request.form()
    upload = form.get("file")
    content = await upload.read(manuals.MAX_MANUAL_MB * 1024 * 1024 + 1) if isinstance(upload, UploadFile) else b""
    title = str(form.get("title") or "").strip() or (upload.filename if isinstance(upload, UploadFile) else "") or ""
    try:
        manual = manuals.create_manual(session, data_dir=settings.data_dir, title=title,
                                       models=_items(str(form.get("models") or "")), content=content,
                                       actor=_actor(user))
    except DomainError as error:
        session.rollback()
        response = _kb_render(request, "admin/kb_manuals.html", user, manuals=manuals.list_manuals(session),
                              error=error.message)
        response.status_code = 422
        return response
    session.commit()
    return RedirectResponse(f"/admin/kb/manuals/{manual.id}", status_code=303)


@router.get("/admin/kb/manuals/{manual_id}")
def kb_manual(manual_id: int, request: Request, session: SessionDep,
              user: Annotated[User, page_user(*READERS)]) -> Response:
    """A manual's sections with their page ranges."""
    return _kb_render(request, "admin/kb_manual.html", user, manual=manuals.get_manual(session, manual_id=manual_id))


# ---- import ----------------------------------------------------------------------------------------------------

@router.get("/admin/kb/import")
def kb_import_page(request: Request, user: Annotated[User, page_user(Role.admin)]) -> Response:
    """The JSONL upload form."""
    return _kb_render(request, "admin/kb_import.html", user, report=None, errors=[], content="")


@router.post("/admin/kb/import")
async def kb_import(request: Request, session: SessionDep, user: Annotated[User, page_user(Role.admin)]) -> Response:
    """Preview (dry run) or apply a JSONL import; all lines or none."""
    # The confirm step sends the checked file back as a form field, past the 1 MB default part size.
    form = await request.form(max_part_size=21 * 1024 * 1024)
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(20 * 1024 * 1024 + 1)
    else:
        content = str(form.get("content") or "").encode()
    apply = form.get("apply") == "1"
    try:
        report = importer.run_import(session, content=content, actor=_actor(user), dry_run=not apply)
    except DomainError as error:
        session.rollback()
        response = _kb_render(request, "admin/kb_import.html", user, report=None, content="",
                              errors=[error.message, *[d["message"] for d in error.extra.get("errors", [])]])
        response.status_code = 422
        return response
    if not apply:
        session.rollback()
        return _kb_render(request, "admin/kb_import.html", user, report=report, errors=[],
                          content=content.decode("utf-8-sig"))
    session.commit()
    return _kb_render(request, "admin/kb_import.html", user, report=report, errors=[], content="", done=True)


# ---- one entry -------------------------------------------------------------------------------------------------

def _history(session: Session, entry_id: int) -> list[dict[str, Any]]:
    revs = service.revisions(session, entry_id=entry_id)
    out = []
    for index, rev in enumerate(revs):
        older = revs[index + 1].snapshot if index + 1 < len(revs) else {}
        changed = [FIELD_LABELS[k] for k in FIELD_LABELS if older and rev.snapshot.get(k) != older.get(k)]
        added = [v for v in rev.snapshot.get("variants", []) if v not in older.get("variants", [])] \
            if rev.action == "learned" else []
        out.append({"rev": rev, "changed": changed, "added": added})
    return out


@router.get("/admin/kb/{entry_id}")
def kb_entry(entry_id: int, request: Request, session: SessionDep,
             user: Annotated[User, page_user(*READERS)]) -> Response:
    """An entry: answer, attachments, use and feedback, history."""
    entry = service.get_entry(session, entry_id=entry_id)
    return _kb_render(request, "admin/kb_entry.html", user, entry=entry,
                      usage=service.usage(session, entry_id=entry_id), history=_history(session, entry_id),
                      attachments=[(a, service.attachment_url(a), service.cover_url(a)) for a in entry.attachments])


@router.get("/admin/kb/{entry_id}/edit")
def kb_edit(entry_id: int, request: Request, session: SessionDep,
            user: Annotated[User, page_user(Role.admin)]) -> Response:
    """The form for an existing entry."""
    entry = service.get_entry(session, entry_id=entry_id)
    return _form_page(request, session, user, entry, _form_values(entry), [])


@router.post("/admin/kb/{entry_id}/edit")
async def kb_update(entry_id: int, request: Request, session: SessionDep, settings: SettingsDep,
                    user: Annotated[User, page_user(Role.admin)]) -> Response:
    """Save an edited entry."""
    return await _save(request, session, settings, user, service.get_entry(session, entry_id=entry_id))


@router.post("/admin/kb/{entry_id}/{action}")
def kb_status(entry_id: int, action: str, session: SessionDep, user: Annotated[User, page_user(Role.admin)],
              confirm: Annotated[str, Form()] = "") -> Response:
    """Retire or reactivate an entry (the form asks for confirmation first)."""
    if action not in ("retire", "reactivate") or confirm != "yes":
        raise NotFound("没有这个操作 (no such action)")
    target = KbStatus.retired if action == "retire" else KbStatus.active
    service.set_status(session, entry_id=entry_id, status=target, actor=_actor(user))
    session.commit()
    return RedirectResponse(f"/admin/kb/{entry_id}", status_code=303)


# ---- phone pages and files -------------------------------------------------------------------------------------

@router.get("/kb/manuals/{manual_id}/sections/{number}")
def section_page(manual_id: int, number: int, request: Request, session: SessionDep) -> Response:
    """A manual section, readable on a phone, with a link to its pages in the PDF."""
    section = manuals.get_section(session, manual_id=manual_id, number=number)
    manual = section.manual
    count = len(manual.sections)
    return render(request, "h5/kb_section.html", None, manual=manual, section=section, count=count,
                  paragraphs=[p for p in section.text.split("\n") if p.strip()])


@router.get("/kb/manuals/{manual_id}/file")
def manual_file(manual_id: int, session: SessionDep, settings: SettingsDep) -> Response:
    """The manual's PDF (add #page=N to open at a page)."""
    manual = manuals.get_manual(session, manual_id=manual_id)
    return _file(settings.data_dir, manual.path, "application/pdf")


def _attachment(session: Session, attachment_id: int) -> KbAttachment:
    attachment = session.get(KbAttachment, attachment_id)
    if attachment is None or not attachment.path:
        raise NotFound("视频不存在 (no such video)")
    return attachment


@router.get("/kb/videos/{attachment_id}")
def video_page(attachment_id: int, request: Request, session: SessionDep) -> Response:
    """A training video that plays on a phone."""
    attachment = _attachment(session, attachment_id)
    return render(request, "h5/kb_video.html", None, attachment=attachment, entry=attachment.entry,
                  cover=service.cover_url(attachment))


@router.get("/kb/files/{attachment_id}/{part}")
def attachment_file(attachment_id: int, part: str, session: SessionDep, settings: SettingsDep) -> Response:
    """An uploaded video or its cover frame."""
    attachment = _attachment(session, attachment_id)
    if part == "video":
        return _file(settings.data_dir, attachment.path or "", "video/mp4")
    if part == "cover" and attachment.cover_path:
        return _file(settings.data_dir, attachment.cover_path, "image/jpeg")
    raise NotFound("文件不存在 (no such file)")


def _file(data_dir: Path, relative: str, media_type: str) -> Response:
    path = (data_dir / relative).resolve()
    if not relative or not path.is_file() or data_dir.resolve() not in path.parents:
        raise NotFound("文件不存在 (no such file)")
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "private, max-age=86400", **UPLOAD_HEADERS})
