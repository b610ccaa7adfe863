"""Knowledge-base REST API under /api/v1/kb: staff read, admins edit, import, export and upload manuals/videos."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile, status
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from cloud.auth.models import Role, User
from cloud.db import SessionDep
from cloud.deps import ActorDep, AdminUser, PaginationDep, SettingsDep, require_roles
from cloud.kb import importer, manuals, media, service
from cloud.kb.models import AttachmentKind, KbEntry, KbManual, KbStatus
from cloud.kb.schemas import (
    AttachmentOut,
    ImportOut,
    KbEntryIn,
    KbEntryOut,
    ManualOut,
    RevisionOut,
    SectionOut,
)
from cloud.schemas import Page

router = APIRouter(prefix="/api/v1/kb", tags=["knowledge base"])
READERS = (Role.admin, Role.agent, Role.service_center)
Reader = Annotated[User, Depends(require_roles(*READERS))]


def entry_out(entry: KbEntry) -> KbEntryOut:
    """An entry with its attachments' links."""
    return KbEntryOut(
        id=entry.id, key=entry.key, question=entry.question, answer=entry.answer, variants=entry.variants,
        models=entry.models, category=entry.category, codes=entry.codes, status=entry.status,
        created_at=entry.created_at, updated_at=entry.updated_at,
        attachments=[AttachmentOut(id=a.id, kind=a.kind, title=a.title, url=service.attachment_url(a),
                                   cover_url=service.cover_url(a), manual_id=a.manual_id,
                                   section_number=a.section.number if a.section else None)
                     for a in entry.attachments])


def manual_out(manual: KbManual, *, with_text: bool = False) -> ManualOut:
    """A manual and its sections."""
    return ManualOut(id=manual.id, title=manual.title, models=manual.models, pages=manual.pages,
                     url=f"/kb/manuals/{manual.id}/file", created_at=manual.created_at,
                     sections=[SectionOut(id=s.id, number=s.number, title=s.title, page_start=s.page_start,
                                          page_end=s.page_end, url=f"/kb/manuals/{manual.id}/sections/{s.number}",
                                          text=s.text if with_text else None) for s in manual.sections])


@router.get("/entries", response_model=Page[KbEntryOut])
def list_entries(
    session: SessionDep,
    _user: Reader,
    page: PaginationDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    code: Annotated[str | None, Query(max_length=40)] = None,
    entry_status: Annotated[KbStatus | None, Query(alias="status")] = None,
) -> Page[KbEntryOut]:
    """Entries filtered by words, device model, category, fault code and status."""
    rows, total = service.list_entries(session, q=q, model=model, category=category, code=code, status=entry_status,
                                       limit=page.limit, offset=page.offset)
    return Page(items=[entry_out(e) for e in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/entries/{entry_id}", response_model=KbEntryOut)
def get_entry(entry_id: int, session: SessionDep, _user: Reader) -> KbEntryOut:
    """One entry."""
    return entry_out(service.get_entry(session, entry_id=entry_id))


@router.post("/entries", response_model=KbEntryOut, status_code=status.HTTP_201_CREATED)
def create_entry(body: KbEntryIn, session: SessionDep, _user: AdminUser, actor: ActorDep) -> KbEntryOut:
    """A new entry."""
    entry = service.create_entry(session, data=body, actor=actor)
    session.commit()
    return entry_out(entry)


@router.put("/entries/{entry_id}", response_model=KbEntryOut)
def update_entry(entry_id: int, body: KbEntryIn, session: SessionDep, _user: AdminUser,
                 actor: ActorDep) -> KbEntryOut:
    """Edit an entry (attachments replaced when the body lists them)."""
    entry = service.update_entry(session, entry_id=entry_id, data=body, actor=actor)
    session.commit()
    return entry_out(entry)


@router.post("/entries/{entry_id}/retire", response_model=KbEntryOut)
def retire_entry(entry_id: int, session: SessionDep, _user: AdminUser, actor: ActorDep) -> KbEntryOut:
    """Retire an entry: the bot stops answering with it."""
    entry = service.set_status(session, entry_id=entry_id, status=KbStatus.retired, actor=actor)
    session.commit()
    return entry_out(entry)


@router.post("/entries/{entry_id}/reactivate", response_model=KbEntryOut)
def reactivate_entry(entry_id: int, session: SessionDep, _user: AdminUser, actor: ActorDep) -> KbEntryOut:
    """Bring a retired entry back."""
    entry = service.set_status(session, entry_id=entry_id, status=KbStatus.active, actor=actor)
    session.commit()
    return entry_out(entry)


@router.get("/entries/{entry_id}/revisions", response_model=list[RevisionOut])
def entry_revisions(entry_id: int, session: SessionDep, _user: Reader) -> list[RevisionOut]:
    """An entry's history, newest first."""
    service.get_entry(session, entry_id=entry_id)
    return [RevisionOut(version=r.version, action=r.action, actor=r.actor, created_at=r.created_at,
                        snapshot=r.snapshot) for r in service.revisions(session, entry_id=entry_id)]


@router.get("/entries/{entry_id}/materials")
def entry_materials(entry_id: int, session: SessionDep, _user: Reader) -> list[dict[str, str | None]]:
    """The manual sections, videos and links shown with the entry's answer."""
    return service.materials(session, entry_id=entry_id)


async def _read_capped(upload: UploadFile, limit_mb: int) -> bytes:
    # One byte over the cap is enough to say "too large" without reading a huge body into memory.
    return await upload.read(limit_mb * 1024 * 1024 + 1)


@router.post("/entries/{entry_id}/videos", response_model=KbEntryOut, status_code=status.HTTP_201_CREATED)
async def upload_video(
    entry_id: int,
    session: SessionDep,
    settings: SettingsDep,
    _user: AdminUser,
    actor: ActorDep,
    video: Annotated[UploadFile, File(description="an MP4 video")],
    title: Annotated[str, Form(max_length=200)] = "",
) -> KbEntryOut:
    """Attach an uploaded MP4 (a cover frame is taken from it)."""
    service.get_entry(session, entry_id=entry_id)
    path, cover = media.store_video(settings.data_dir, await _read_capped(video, media.MAX_VIDEO_MB))
    service.add_upload(session, entry_id=entry_id, kind=AttachmentKind.video, title=title or (video.filename or ""),
                       path=path, cover_path=cover, actor=actor)
    session.commit()
    return entry_out(service.get_entry(session, entry_id=entry_id))


@router.post("/import", response_model=ImportOut)
async def import_jsonl(
    session: SessionDep,
    _user: AdminUser,
    actor: ActorDep,
    file: Annotated[UploadFile, File(description="a JSONL file, one entry a line")],
    dry_run: Annotated[bool, Query()] = False,
) -> ImportOut:
    """Import every line or none (422 lists each bad line); dry_run says what would change."""
    report = importer.run_import(session, content=await _read_capped(file, 20), actor=actor, dry_run=dry_run)
    _finish(session, dry_run)
    return ImportOut(dry_run=dry_run, created=report.created, updated=report.updated, unchanged=report.unchanged)


def _finish(session: Session, dry_run: bool) -> None:
    if dry_run:
        session.rollback()
    else:
        session.commit()


@router.get("/export", response_class=PlainTextResponse)
def export_jsonl(session: SessionDep, _user: Reader) -> PlainTextResponse:
    """The knowledge base as JSONL, the import's format."""
    body = "".join(line + "\n" for line in importer.export_lines(session))
    return PlainTextResponse(body, media_type="application/x-ndjson",
                             headers={"Content-Disposition": 'attachment; filename="kb.jsonl"'})


@router.get("/manuals", response_model=list[ManualOut])
def list_manuals(session: SessionDep, _user: Reader) -> list[ManualOut]:
    """Uploaded manuals with their sections."""
    return [manual_out(m) for m in manuals.list_manuals(session)]


@router.get("/manuals/{manual_id}", response_model=ManualOut)
def get_manual(manual_id: int, session: SessionDep, _user: Reader) -> ManualOut:
    """One manual with its sections' text."""
    return manual_out(manuals.get_manual(session, manual_id=manual_id), with_text=True)


@router.post("/manuals", response_model=ManualOut, status_code=status.HTTP_201_CREATED)
async def upload_manual(
    session: SessionDep,
    settings: SettingsDep,
    _user: AdminUser,
    actor: ActorDep,
    file: Annotated[UploadFile, File(description="a PDF manual")],
    title: Annotated[str, Form(max_length=200)] = "",
    models: Annotated[str, Form(max_length=500, description="device models, comma separated")] = "",
) -> ManualOut:
    """Upload a PDF manual; it is split into sections at once."""
    content = await _read_capped(file, manuals.MAX_MANUAL_MB)
    manual = manuals.create_manual(session, data_dir=settings.data_dir, title=title or (file.filename or ""),
                                   models=models.replace("，", ",").split(","), content=content, actor=actor)
    session.commit()
    return manual_out(manual)
