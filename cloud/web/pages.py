"""Server-rendered pages: sign-in and the admin registry views."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud.auth import service as auth_service
from cloud.auth import throttle
from cloud.auth.models import Role, User
from cloud.db import SessionDep
from cloud.deps import SESSION_COOKIE, OptionalUser, SettingsDep, token_ttl
from cloud.errors import DomainError
from cloud.i18n import LANGUAGE_COOKIE, pick_language, translations
from cloud.i18n_catalogs import N_
from cloud.localtime import local_time
from cloud.web.ticket_text import short_text

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# Jinja's gettext extension: {{ _("…") }}, {% trans %}…{% endtrans %} and {% pluralize %} read the request's
# catalog, which render() puts in the context (gettext, ngettext, _); Babel extracts both forms (make messages).
TEMPLATES.env.add_extension("jinja2.ext.i18n")
# {{ ticket.created_at | localtime(hospital_tz) }}: every page shows times in the hospital's zone.
TEMPLATES.env.filters["localtime"] = local_time


def reading_value(value: float | None) -> str:
    """A reading as a person reads it: a count with thousands separators (449,600, not 4.496e+05), a measurement
    to four significant digits, exponents only where nothing else fits."""
    if value is None:
        return "—"
    size = abs(value)
    if float(value).is_integer() and size < 1e15:
        return f"{int(value):,}"
    if size >= 1e6 or size < 1e-3:
        return f"{value:.3e}"
    return f"{value:,.1f}" if size >= 1e4 else f"{value:.4g}"


TEMPLATES.env.filters["reading"] = reading_value
# {{ ticket.description | short_text(_("Alert chart")) }}: a chart link in a ticket's text reads as its label.
TEMPLATES.env.filters["short_text"] = short_text
LOGIN_CSRF_COOKIE = "medfix_login_csrf"
FORM_EXPIRED = N_("The sign-in form has expired. Please try again.")
PAGE_SIZE = 25

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """A page needs a signed-in user with one of some roles."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def install(app: FastAPI) -> None:
    """Send page visitors without a session to the sign-in page instead of a JSON 401."""

    async def to_login(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    app.add_exception_handler(LoginRequired, to_login)


def render(request: Request, template: str, user: User | None, **context: Any) -> HTMLResponse:
    """A template rendered with the user, the language and its gettext functions (`_`, gettext, ngettext)."""
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    catalog = translations(language)
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"user": user, "lang": language, "_": catalog.gettext, "gettext": catalog.gettext,
         "ngettext": catalog.ngettext, **context},
    )


def page_user(*roles: Role) -> Any:
    """A dependency for pages: the signed-in user with one of roles, else a redirect to sign in."""

    def check(request: Request, user: OptionalUser) -> User:
        if user is None:
            raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        if roles and user.role not in roles:
            # Signed in with the wrong role: say so; a bounce to an empty login form reads as a broken site.
            raise StarletteHTTPException(status_code=403)
        return user

    return Depends(check)


HOME = {Role.admin: "/admin/devices", Role.agent: "/console", Role.service_center: "/console",
        Role.engineer: "/engineer", Role.lab_user: "/my/devices"}


def _home_for(user: User) -> str:
    return HOME[user.role]


def _safe_next(next_url: str | None) -> str | None:
    # Only same-site paths: an open redirect after login would be a phishing aid.
    if next_url and next_url.startswith("/") and not next_url.startswith("//"):
        return next_url
    return None


@router.get("/")
def index(user: OptionalUser) -> Response:
    """The front door: staff go to their console, everyone else signs in."""
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(_home_for(user), status_code=303)


def render_login_form(request: Request, settings: Any, template: str, user: Any = None, **context: Any) -> Response:
    """A page holding a form that posts to /login, with the form's CSRF token (`csrf` in the template).

    Double-submit token: a page of another site can post the form, but cannot read or set this cookie, which
    travels only to /login and the pages under it (the reporter's sign-in is /login/reporter).
    """
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, template, user, csrf=token, **context)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login",
                        secure=settings.secure_cookies)
    return response


def _login_form(request: Request, settings: Any, *, next: str, error: str | None, status_code: int = 200,
                username: str = "", user: Any = None) -> Response:
    response = render_login_form(request, settings, "login.html", user, next=_safe_next(next) or "", error=error,
                                 username=username)
    response.status_code = status_code
    return response


@router.get("/login")
def login_page(request: Request, settings: SettingsDep, user: OptionalUser, next: str | None = None) -> Response:
    """The sign-in form."""
    return _login_form(request, settings, next=next or "", error=None, user=user)


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check the credentials and start a page session in an HttpOnly cookie."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf.encode()):
        return _login_form(request, settings, next=next, error=FORM_EXPIRED, status_code=403, username=username)
    try:
        throttle.check(request, username)
        user = auth_service.authenticate(session, username=username, password=password)
    except DomainError as exc:  # locked for a while, or every hashing slot busy
        return _login_form(request, settings, next=next, error=exc.message, status_code=exc.status_code,
                           username=username)
    if user is None:
        throttle.failed(request, username)
        return _login_form(request, settings, next=next, error="Wrong username or password", status_code=401,
                           username=username)
    throttle.succeeded(request, username)
    ttl = token_ttl(settings)
    token = auth_service.issue_token(session, user=user, ttl=ttl)
    session.commit()
    response = RedirectResponse(_safe_next(next) or _home_for(user), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ttl.total_seconds()), httponly=True,
                        samesite="lax", secure=settings.secure_cookies)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    """End the page session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth_service.revoke_token(session, token=token)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{language}")
def set_language(language: str, request: Request) -> Response:
    """Switch the UI language and go back."""
    back = _safe_next(request.headers.get("referer", "").split(request.headers.get("host", ""), 1)[-1]) or "/"
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(LANGUAGE_COOKIE, language if language in ("zh-CN", "en") else "zh-CN",
                        max_age=365 * 86400, samesite="lax")
    return response


STAFF = (Role.admin, Role.agent, Role.service_center, Role.engineer)
LABEL_PRINTERS = (Role.admin, Role.agent)  # the roles POST /api/v1/labels accepts


@router.get("/admin")
def admin_home() -> Response:
    """The admin area starts at the device list (cloud/web/admin_devices.py)."""
    return RedirectResponse("/admin/devices", status_code=303)
