"""Ticket REST API under /api/v1: uploads, submission, listing, detail, actions, engineer suggestions.

A predictive ticket's pre-check has its routes in cloud/alerts/precheck_api.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from cloud.auth.models import DESK_ROLES, Role, User
from cloud.config import Settings
from cloud.db import SessionDep
from cloud.deps import CurrentUser, OptionalUser, PaginationDep, ScopeDep, SettingsDep
from cloud.errors import Forbidden, NotFound
from cloud.i18n import DEFAULT_LANGUAGE, pick_language
from cloud.schemas import Page
from cloud.security import UPLOAD_HEADERS
from cloud.tenancy import Scope
from cloud.tickets import desk, faults, policy, queries, quota, service
from cloud.tickets.models import AttachmentKind, Ticket, TicketAttachment
from cloud.tickets.schemas import (
    ActionIn,
    AttachmentOut,
    DeskCounts,
    EngineerSuggestion,
    MergeIn,
    MergeOut,
    RelatedOut,
    SubmitOut,
    TicketOut,
    TicketSubmit,
    TierCounts,
    UploadOut,
)
from cloud.tickets.service import Viewer
from cloud.tickets.state import Status, Tier
from cloud.tickets.uploads import StoredUpload, store_upload

router = APIRouter(prefix="/api/v1", tags=["tickets"])
ReporterKey = Annotated[str | None, Header(alias="X-Reporter-Key", description="a reporter link's key")]


async def request_language(request: Request) -> str:
    """The caller's language (the pages' cookie, else Accept-Language): names from the database come in it.

    No I/O, so async: FastAPI would run a plain function on a worker thread (cloud/deps.py)."""
    from cloud.web.pages import LANGUAGE_COOKIE

    return pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


Language = Annotated[str, Depends(request_language)]


def _attachment_out(ticket_id: int | None, attachment: TicketAttachment) -> AttachmentOut:
    has_file = ticket_id is not None and bool(attachment.path)  # a pending WeChat upload has none yet
    return AttachmentOut(id=attachment.id, kind=attachment.kind, content_type=attachment.content_type,
                         size=attachment.size, duration_s=attachment.duration_s, transcript=attachment.transcript,
                         url=f"/api/v1/tickets/{ticket_id}/attachments/{attachment.id}" if has_file else "",
                         state=attachment.state)


def upload_out(stored: StoredUpload) -> UploadOut:
    """The answer to a fresh upload (here and /wechat/media): the attachment, no URL yet, and its key."""
    return UploadOut(**_attachment_out(None, stored.attachment).model_dump(), key=stored.key)


def ticket_out(
    session: Session, ticket: Ticket, viewer: Viewer, settings: Settings, *, with_timeline: bool = True,
    language: str = DEFAULT_LANGUAGE, timeline: list[dict[str, Any]] | None = None,
) -> TicketOut:
    """A ticket as this viewer may see it (listings leave the timeline out); category names in language.

    timeline: the entries when the caller has them already (a new ticket's), instead of reading them."""
    user = viewer.user
    staff = user is not None and user.is_staff
    # The reporter's phone number: the desk's, and an engineer's only on a ticket assigned to them (finding 6).
    sees_phone = user is not None and (user.role in DESK_ROLES
                                       or (user.role == Role.engineer and ticket.engineer_id == user.id))
    engineer = session.get(User, ticket.engineer_id) if ticket.engineer_id else None
    device, group = ticket.device, ticket.group
    rating = None
    if ticket.rated_at is not None:
        rating = {"overall": ticket.rating_overall, "speed": ticket.rating_speed,
                  "attitude": ticket.rating_attitude, "skill": ticket.rating_skill, "comment": ticket.rating_comment}
    hospital = device.hospital if device else group.hospital if group else None
    category = device.category if device else None
    entries = timeline if timeline is not None else (
        queries.timeline(session, ticket=ticket, internal=staff) if with_timeline else None)
    for entry in entries or []:
        if entry["details"].get("fault_category"):  # a resolution's category, by name in the timeline
            entry["details"]["fault_category_name"] = faults.fault_label(
                session, entry["details"]["fault_category"], category, language)
    return TicketOut(
        id=ticket.id, number=ticket.number, status=ticket.status, version=ticket.version, source=ticket.source,
        urgency=ticket.urgency, priority=ticket.priority, hospital_id=ticket.hospital_id,
        hospital_name=hospital.name if hospital else "", device_id=ticket.device_id,
        device_system_number=device.system_number if device else None, device_model=device.model if device else None,
        device_department=device.department.name if device and device.department else None,
        group_id=ticket.group_id, group_name=group.name if group else None, description=ticket.description,
        reporter_name=ticket.reporter_name, reporter_phone=ticket.reporter_phone if sees_phone else None,
        agent_id=ticket.agent_id, engineer_id=ticket.engineer_id,
        engineer_name=(engineer.full_name or engineer.username) if engineer else None, findings=ticket.findings,
        parts_used=ticket.parts_used, cancel_reason=ticket.cancel_reason, rating=rating, tier=ticket.tier,
        onsite_probability=ticket.onsite_probability if staff else None,
        onsite_route=policy.onsite_route(ticket.onsite_probability) if staff else None,
        fault_category=ticket.fault_category,
        fault_category_name=faults.fault_label(session, ticket.fault_category, category, language) or None,
        root_cause=ticket.root_cause, parts=ticket.parts, reopen_count=ticket.reopen_count or 0,  # type: ignore[arg-type]
        conversation=ticket.conversation, ask_ids=ticket.ask_ids,  # type: ignore[arg-type]
        first_response_due_at=ticket.first_response_due_at, resolution_due_at=ticket.resolution_due_at,
        first_responded_at=ticket.first_responded_at, resolved_at=ticket.resolved_at, closed_at=ticket.closed_at,
        created_at=ticket.created_at, updated_at=ticket.updated_at,
        attachments=[_attachment_out(ticket.id, a) for a in ticket.attachments],
        allowed_actions=service.allowed_for(viewer, ticket, settings),
        timeline=entries,  # type: ignore[arg-type]
    )


@router.post("/uploads", response_model=UploadOut, status_code=status.HTTP_201_CREATED)
async def upload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: OptionalUser,
    file: Annotated[UploadFile, File(description="a photo (JPEG/PNG/WebP/GIF) or a voice note")],
    kind: Annotated[AttachmentKind, Form()],
    duration_s: Annotated[int | None, Form(ge=0)] = None,
    transcript: Annotated[str | None, Form(max_length=5000)] = None,
) -> UploadOut:
    """Keep a photo or voice note before submission; the answer's id and key attach it to a ticket.

    429 beyond uploads_per_minute or a daily quota (cloud/tickets/quota.py); unused uploads go after a day."""
    quota.check_rate(request, settings, user)
    limit = max(settings.upload_max_photo_mb, settings.upload_max_voice_mb) * 1024 * 1024
    content = await file.read(limit + 1)
    quota.charge(request, settings, user, len(content))
    stored = store_upload(session, settings=settings, kind=kind, content=content,
                          uploaded_by=user.id if user else None, duration_s=duration_s, transcript=transcript)
    session.commit()
    return upload_out(stored)


def _scope_for_submission(user: User | None) -> Scope:
    # Anyone may report a device they can name (QR labels carry no secret beyond the device);
    # a signed-in lab user, though, may only report their own hospital's devices.
    if user is not None and not user.is_staff:
        return Scope.of_hospital(user.hospital_id)
    return Scope.everything()


@router.post("/tickets", response_model=SubmitOut, status_code=status.HTTP_201_CREATED)
def submit(
    body: TicketSubmit,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    user: OptionalUser,
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=8, max_length=100)],
    language: Language = DEFAULT_LANGUAGE,
) -> SubmitOut:
    """Open a ticket exactly once per Idempotency-Key; a replay answers 200 with the same ticket."""
    viewer = Viewer(user=user)
    ticket, created, row = service.submit_recorded(
        session, data=body, viewer=viewer, scope=_scope_for_submission(user), idempotency_key=idempotency_key,
        settings=settings, require_contact=True)
    session.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
    key = service.reporter_key(settings, ticket.number)
    reporter_view = Viewer(user=user, reporter_key=key)
    # A new ticket's timeline is its submission's audit row, and the ticket came with what the answer shows of
    # its device: the answer is built without a query (a replay reads the ticket as it is now).
    entries = None
    if row is not None:
        names = {user.id: user.full_name} if user is not None else {}
        entries = queries.timeline_entries([row], names, internal=user is not None and user.is_staff)
    return SubmitOut(ticket=ticket_out(session, ticket, reporter_view, settings, language=language, timeline=entries),
                     reporter_key=key, reporter_url=f"{settings.public_url}/t/{ticket.number}?k={key}",
                     created=created)


def desk_filters(
    user: CurrentUser,
    status_filter: Annotated[list[Status] | None, Query(alias="status")] = None,
    mine: bool = False,
    open_only: Annotated[bool, Query(alias="open")] = False,
    device_id: int | None = None,
    tier: Annotated[list[Tier] | None, Query(description="basic, remote or on_site (repeatable)")] = None,
    q: Annotated[str | None, Query(max_length=100, description="ticket number, device system number or serial, "
                                                               "reporter name or phone, description text")] = None,
    hospital_id: int | None = None,
    priority: Annotated[list[int] | None, Query(description="1 (most urgent) to 4 (repeatable)")] = None,
    assignee: Annotated[int | None, Query(description="a user id: the desk owner or the engineer")] = None,
    source: Annotated[desk.Origin | None, Query(description="reported or predictive")] = None,
) -> desk.Filters:
    """The listing's filters from the query string (shared by the list and its counts)."""
    return desk.Filters(
        q=q, hospital_id=hospital_id, statuses=status_filter or [], priorities=priority or [], assignee_id=assignee,
        origin=source, tiers=tier or [], device_id=device_id, open_only=open_only,
        engineer_id=user.id if mine and user.role == Role.engineer else None)


FiltersDep = Annotated[desk.Filters, Depends(desk_filters)]


def _desk_only(user: User) -> None:
    if user.role not in DESK_ROLES:
        raise Forbidden("only the service desk may do this")


@router.get("/tickets", response_model=Page[TicketOut])
def list_tickets(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    scope: ScopeDep,
    page: PaginationDep,
    filters: FiltersDep,
    view: Annotated[desk.View, Query(description="mine, unassigned or all")] = desk.View.all,
    language: Language = DEFAULT_LANGUAGE,
) -> Page[TicketOut]:
    """Tickets the caller may see, searched and filtered; engineers with mine=true get the ones dispatched to them."""
    rows, total = desk.search(session, scope=scope, filters=filters, view=view, user_id=user.id, limit=page.limit,
                              offset=page.offset)
    viewer = Viewer(user=user)
    twins = desk.duplicates(session, rows)
    items = [ticket_out(session, t, viewer, settings, with_timeline=False, language=language) for t in rows]
    for item in items:
        item.possible_duplicates = twins.get(item.id, [])
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/tickets/counts", response_model=DeskCounts)
def desk_counts(
    session: SessionDep, user: CurrentUser, scope: ScopeDep, filters: FiltersDep,
    view: Annotated[desk.View, Query(description="mine, unassigned or all")] = desk.View.all,
) -> DeskCounts:
    """Open tickets per view (mine, unassigned, all) and tickets per status in the view, under the same filters."""
    return DeskCounts(**desk.counts(session, scope=scope, filters=filters, view=view, user_id=user.id))


@router.get("/tickets/tiers", response_model=TierCounts)
def tier_counts(session: SessionDep, scope: ScopeDep, since: datetime | None = None) -> TierCounts:
    """Solved cases by tier (basic = self-served, remote, on site) in the caller's scope, optionally since a time."""
    return TierCounts(**queries.tier_counts(session, scope=scope, since=since))


@router.get("/tickets/{ticket_id}", response_model=TicketOut)
def get_ticket(
    ticket_id: int, session: SessionDep, settings: SettingsDep, user: OptionalUser, key: ReporterKey = None,
    language: Language = DEFAULT_LANGUAGE,
) -> TicketOut:
    """One ticket with its timeline and the caller's allowed actions."""
    viewer = Viewer(user=user, reporter_key=key)
    ticket = service.get_ticket(session, ticket_id=ticket_id, viewer=viewer, settings=settings)
    return ticket_out(session, ticket, viewer, settings, language=language)


@router.post("/tickets/{ticket_id}/actions", response_model=TicketOut)
def act(
    ticket_id: int, body: ActionIn, session: SessionDep, settings: SettingsDep, user: OptionalUser,
    key: ReporterKey = None, language: Language = DEFAULT_LANGUAGE,
) -> TicketOut:
    """Take an action; 409 names the allowed actions when it is not possible now or the version is stale."""
    viewer = Viewer(user=user, reporter_key=key)
    if user is None and key is None:
        raise Forbidden("sign in or use your ticket link")
    ticket = service.get_ticket(session, ticket_id=ticket_id, viewer=viewer, settings=settings)
    service.apply_action(session, ticket=ticket, data=body, viewer=viewer, settings=settings)
    session.commit()
    return ticket_out(session, ticket, viewer, settings, language=language)


@router.get("/tickets/{ticket_id}/related", response_model=RelatedOut)
def related(
    ticket_id: int, session: SessionDep, settings: SettingsDep, user: CurrentUser, scope: ScopeDep
) -> RelatedOut:
    """The reporter's other tickets and the other open tickets of the same device (the desk)."""
    _desk_only(user)
    viewer = Viewer(user=user)
    ticket = service.get_ticket(session, ticket_id=ticket_id, viewer=viewer, settings=settings)
    others = desk.reporter_tickets(session, ticket=ticket, scope=scope)
    twins = desk.duplicates(session, [ticket]).get(ticket.id, [])
    same_device = [t for t in (session.get(Ticket, i) for i in twins) if t is not None]
    return RelatedOut(reporter=[ticket_out(session, t, viewer, settings, with_timeline=False) for t in others],
                      duplicates=[ticket_out(session, t, viewer, settings, with_timeline=False) for t in same_device])


@router.post("/tickets/{ticket_id}/merge", response_model=MergeOut)
def merge(
    ticket_id: int, body: MergeIn, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> MergeOut:
    """Merge two open tickets of the same device: the newer goes into the older (desk and service centre)."""
    _desk_only(user)
    viewer = Viewer(user=user)
    first = service.get_ticket(session, ticket_id=ticket_id, viewer=viewer, settings=settings)
    second = service.get_ticket(session, ticket_id=body.other_id, viewer=viewer, settings=settings)
    kept, merged = desk.merge(session, first=first, second=second, viewer=viewer, settings=settings)
    session.commit()
    return MergeOut(kept=ticket_out(session, kept, viewer, settings),
                    merged=ticket_out(session, merged, viewer, settings))


@router.get("/tickets/{ticket_id}/engineers", response_model=list[EngineerSuggestion])
def engineers(
    ticket_id: int, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> list[EngineerSuggestion]:
    """Engineers to dispatch, best match first (desk and service centre)."""
    if user.role not in DESK_ROLES:
        raise Forbidden("only the service desk dispatches engineers")
    ticket = service.get_ticket(session, ticket_id=ticket_id, viewer=Viewer(user=user), settings=settings)
    return [EngineerSuggestion(**s) for s in queries.suggest_engineers(session, ticket=ticket)]


@router.get("/tickets/{ticket_id}/attachments/{attachment_id}")
def attachment_file(
    ticket_id: int, attachment_id: int, session: SessionDep, settings: SettingsDep, user: OptionalUser,
    key: ReporterKey = None, k: str | None = None,
) -> FileResponse:
    """The stored photo or voice note of a ticket the caller may see."""
    viewer = Viewer(user=user, reporter_key=key or k)
    ticket = service.get_ticket(session, ticket_id=ticket_id, viewer=viewer, settings=settings)
    attachment = session.get(TicketAttachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket.id:
        raise NotFound(f"attachment {attachment_id} not found")
    path = (settings.data_dir / attachment.path).resolve()
    if not path.is_file() or settings.data_dir.resolve() not in path.parents:
        raise NotFound("the file is missing")
    return FileResponse(path, media_type=attachment.content_type, headers=UPLOAD_HEADERS)


