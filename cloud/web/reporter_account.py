"""A reporter's way in outside WeChat: sign in, register as a lab user, or bind to a hospital with its invite code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from cloud.audit.service import Actor
from cloud.auth import service as auth_service
from cloud.auth import throttle
from cloud.auth.models import Role
from cloud.auth.schemas import Registration
from cloud.db import SessionDep
from cloud.deps import SESSION_COOKIE, OptionalUser, SettingsDep, token_ttl
from cloud.errors import DomainError
from cloud.i18n import pick_language, translate
from cloud.i18n_catalogs import N_
from cloud.ratelimit import client_address, limiter_for
from cloud.registry.backup import search_hospitals
from cloud.registry.models import Hospital
from cloud.tenancy import Scope
from cloud.tickets.schemas import valid_phone
from cloud.web.pages import LANGUAGE_COOKIE, render, render_login_form

router = APIRouter(include_in_schema=False)


def _t(request: Request) -> Any:
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    return lambda text: translate(text, language)


def _safe(next_url: str) -> str:
    # Only same-site paths: an open redirect after sign-up would be a phishing aid.
    return next_url if next_url.startswith("/") and not next_url.startswith("//") else "/report/hospital"


@router.get("/login/reporter")
def sign_in_page(request: Request, settings: SettingsDep, user: OptionalUser,
                 next: str = "/report/hospital") -> Response:
    """The reporter's sign-in choices on a phone: an account, a new lab account, and what the invite code is for."""
    return render_login_form(request, settings, "h5/sign_in.html", user, next=_safe(next))


def _hospital_for(session: Any, *, name: str, invite_code: str) -> tuple[Hospital | None, str | None]:
    """The hospital named by its invite code or its (unique) name; else the reason in English (translated later)."""
    if invite_code:
        hospital = session.execute(select(Hospital).where(Hospital.invite_code == invite_code.strip())).scalar()
        return (hospital, None) if hospital else (None, "This invite code is not known. Check it with your lab.")
    hits = search_hospitals(session, query=name, scope=Scope.everything(), limit=5)
    if len(hits) == 1:
        return hits[0], None
    return None, ("Type your hospital's full name, or enter its invite code." if hits
                  else "No hospital has this name. Check it, or enter the invite code.")


TOO_MANY_TRIES = N_("Too many tries from this network. Please wait a minute and try again.")


def _guessing(request: Request, settings: Any, *, who: str) -> str | None:
    """Why this try is refused (untranslated), or None: too many tries from the address this minute (as the
    label-lost form counts them), or who or the address locked after wrong invite codes."""
    if not limiter_for(request.app.state, "invite-forms").allow(client_address(request),
                                                                settings.invite_attempts_per_minute):
        return TOO_MANY_TRIES
    try:
        throttle.check(request, who, kind="invite")
    except throttle.TooManyAttempts as exc:
        return exc.message
    return None


@router.get("/register")
def register_page(request: Request, user: OptionalUser, next: str = "/report/hospital") -> Response:
    """Self-registration of a lab user, verified at once with the hospital's invite code."""
    return render(request, "h5/register.html", user, next=_safe(next), errors={}, form={})


@router.post("/register")
def register_submit(
    request: Request, session: SessionDep, settings: SettingsDep,
    full_name: Annotated[str, Form(max_length=100)] = "", phone: Annotated[str, Form(max_length=32)] = "",
    hospital: Annotated[str, Form(max_length=100)] = "", invite_code: Annotated[str, Form(max_length=64)] = "",
    username: Annotated[str, Form(max_length=64)] = "", password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=300)] = "/report/hospital",
) -> Response:
    """Create the lab account, sign it in and continue; every field's problem is shown next to it."""
    _ = _t(request)
    form = {"full_name": full_name, "phone": phone, "hospital": hospital, "invite_code": invite_code,
            "username": username}
    errors: dict[str, str] = {}
    # An invite code proves a hospital: guesses are limited per address and minute, and wrong codes lock the
    # address out for a while, together with the other forms that take one (cloud/auth/throttle.py).
    limited = _guessing(request, settings, who=f"register:{client_address(request)}")
    if limited:
        errors["invite_code" if invite_code else "hospital"] = _(limited)
        response = render(request, "h5/register.html", None, next=_safe(next), errors=errors, form=form)
        response.status_code = 429
        return response
    if not full_name.strip():
        errors["full_name"] = _("Please enter your name.")
    if not valid_phone(phone):
        errors["phone"] = _("contact.phone_format")
    found, problem = _hospital_for(session, name=hospital, invite_code=invite_code)
    if problem:
        errors["invite_code" if invite_code else "hospital"] = _(problem)
        if invite_code:
            throttle.failed(request, f"register:{client_address(request)}", kind="invite")
    try:
        body = Registration(username=username.strip(), password=password, full_name=full_name.strip() or "-",
                            phone=phone.strip() or "00000", hospital_id=found.id if found else 0,
                            invite_code=invite_code.strip() or None)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0])
            if field in ("username", "password"):
                errors.setdefault(field, _(f"register.{field}"))
    if not errors and found is not None:
        try:
            user = auth_service.create_user(
                session, username=body.username, password=body.password, role=Role.lab_user,
                full_name=body.full_name, phone=body.phone, hospital_id=found.id,
                actor=Actor.system("self-registration"))
            if body.invite_code:
                auth_service.verify_with_invite_code(session, user=user, invite_code=body.invite_code)
        except DomainError as exc:
            session.rollback()
            field = "invite_code" if "invite" in exc.message else "username"
            errors[field] = _("register.invite_code") if field == "invite_code" else _("register.taken")
    if errors:
        response = render(request, "h5/register.html", None, next=_safe(next), errors=errors, form=form)
        response.status_code = 422
        return response
    ttl = token_ttl(settings)
    token = auth_service.issue_token(session, user=user, ttl=ttl)
    session.commit()
    response = RedirectResponse(_safe(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ttl.total_seconds()), httponly=True, samesite="lax",
                        secure=settings.secure_cookies)
    return response


@router.post("/report/bind")
def bind_submit(
    request: Request, session: SessionDep, settings: SettingsDep, user: OptionalUser,
    invite_code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A signed-in, unverified lab user binds to their hospital with its invite code (guesses limited as on
    /register)."""
    _ = _t(request)
    if user is None:
        return RedirectResponse("/report/hospital", status_code=303)

    def again(error: str, status_code: int) -> Response:
        response = render(request, "h5/by_hospital.html", user, verified=False, texts={}, wechat_sdk=None,
                          bind_error=error)
        response.status_code = status_code
        return response

    who = f"user:{user.id}"  # the account, as /api/v1/auth/verify counts it
    limited = _guessing(request, settings, who=who)
    if limited:
        return again(_(limited), 429)
    try:
        auth_service.verify_with_invite_code(session, user=user, invite_code=invite_code)
    except DomainError as exc:
        session.rollback()
        if exc.extra.get("code") != "invite_code_expired":  # a guess, not yesterday's right code
            throttle.failed(request, who, kind="invite")
        return again(_("register.invite_code"), 403)
    throttle.succeeded(request, who, kind="invite")
    session.commit()
    return RedirectResponse("/report/hospital", status_code=303)
