"""Sign in with WeChat: OAuth2 snsapi_base gives the openid once; a bound openid signs in, a new one binds.

/wechat/oauth/start?next=… → WeChat's authorize page → /wechat/oauth/callback?code&state. The state is
signed, tied to this browser by a cookie and single use; the code is exchanged once (WeChat's codes are
single use for 5 minutes anyway). A first visit shows the binding page (name, phone, and the hospital's
invite code for an account verified at once, or a hospital to be approved by an admin).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatOAuthException

from cloud.audit.service import Actor
from cloud.auth import service as auth_service
from cloud.auth import throttle
from cloud.auth.models import Role, User
from cloud.config import secret_key_bytes
from cloud.db import SessionDep
from cloud.deps import SESSION_COOKIE, token_ttl
from cloud.errors import DomainError, NotFound
from cloud.i18n import pick_language, translate
from cloud.qr import service as qr_service
from cloud.registry import service as registry_service
from cloud.registry.models import Hospital
from cloud.web.pages import LANGUAGE_COOKIE, render
from cloud.wechat.client import make_oauth
from cloud.wechat.models import WechatBinding
from cloud.wechat.runtime import WeChat

log = logging.getLogger("medfix.wechat.oauth")

router = APIRouter(include_in_schema=False)  # mounted under /wechat by cloud/wechat/api.py

STATE_COOKIE = "medfix_wx_oauth"
BIND_COOKIE = "medfix_wx_bind"
STATE_TTL_S = 600
BIND_TTL_S = 1800
CODE_TTL_S = 600  # WeChat's codes live 5 minutes; remembering them a little longer covers the whole window
_STATE = re.compile(r"^([0-9a-f]{16})([0-9a-f]{32})$")  # WeChat allows a-zA-Z0-9 only, up to 128 bytes
ACTOR = Actor.system("wechat-signin")


def _wechat(request: Request) -> WeChat | None:
    return getattr(request.app.state, "wechat", None)


def _safe_next(next_url: str | None) -> str:
    # Only same-site paths: an open redirect after sign-in would be a phishing aid.
    if next_url and next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url:
        return next_url
    return "/my/devices"


def _sign(key: bytes, nonce: str) -> str:
    return hmac.new(key, f"wechat-oauth:{nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def sign_state(key: bytes, nonce: str) -> str:
    """The OAuth state for nonce: the nonce and its HMAC (letters and digits, as WeChat requires)."""
    return nonce + _sign(key, nonce)


def check_state(key: bytes, state: str) -> str | None:
    """The nonce inside a state we signed, or None."""
    match = _STATE.match(state)
    if match is None or not hmac.compare_digest(match.group(2), _sign(key, match.group(1))):
        return None
    return match.group(1)


def _problem(request: Request, title: str, text: str, status: int = 400, *, retry: str | None = None) -> Response:
    """A WeUI message page (never a stack trace)."""
    _ = _translator(request)
    response = render(request, "h5/message.html", None, icon="warn", title=_(title), text=_(text),
                      link=f"/wechat/oauth/start?next={retry}" if retry else None, link_text=_("Try again"))
    response.status_code = status
    return response


def _translator(request: Request) -> Any:
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    return lambda text: translate(text, language)


def _sign_in(session: Session, request: Request, user: User, next_url: str) -> Response:
    ttl = token_ttl(request.app.state.settings)
    token = auth_service.issue_token(session, user=user, ttl=ttl)
    session.commit()
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ttl.total_seconds()), httponly=True, samesite="lax",
                        secure=request.app.state.settings.secure_cookies)
    response.delete_cookie(BIND_COOKIE, path="/wechat")
    return response


@router.get("/oauth/start")
def start(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query parameter's name
    """Send the browser to WeChat's snsapi_base authorize page, remembering where to continue."""
    wechat = _wechat(request)
    if wechat is None:
        return RedirectResponse(_safe_next(next), status_code=303)
    nonce = secrets.token_hex(8)
    wechat.store.set(f"oauth-state:{nonce}", _safe_next(next), STATE_TTL_S)
    redirect_uri = wechat.settings.public_url.rstrip("/") + "/wechat/oauth/callback"
    oauth = make_oauth(wechat.settings, redirect_uri, sign_state(secret_key_bytes(wechat.settings), nonce))
    response = RedirectResponse(oauth.authorize_url, status_code=302)
    # Ties the state to this browser: a callback URL forwarded to someone else cannot sign them in.
    response.set_cookie(STATE_COOKIE, nonce, max_age=STATE_TTL_S, httponly=True, samesite="lax", path="/wechat",
                        secure=wechat.settings.secure_cookies)
    return response


@router.get("/oauth/callback")
def callback(request: Request, session: SessionDep, code: str = "", state: str = "") -> Response:
    """WeChat's redirect back: check the state, exchange the code once, then sign in or show the binding page."""
    wechat = _wechat(request)
    if wechat is None:
        return _problem(request, "WeChat sign-in is not available", "This server has no WeChat account.", 404)
    try:
        return _callback(request, session, wechat, code=code, state=state)
    except Exception:  # a page for people: whatever broke, they see a message, the log gets the trace
        log.exception("WeChat sign-in failed")
        return _problem(request, "Sign-in failed", "Something went wrong on our side. Please try again.", 500,
                        retry="/")


def _callback(request: Request, session: Session, wechat: WeChat, *, code: str, state: str) -> Response:
    nonce = check_state(secret_key_bytes(wechat.settings), state)
    if nonce is None or request.cookies.get(STATE_COOKIE) != nonce:
        return _problem(request, "Sign-in link not valid",
                        "This sign-in link was not started on this phone. Open the page again.")
    next_url = wechat.store.get(f"oauth-state:{nonce}")
    if next_url is None or not wechat.store.claim(f"oauth-state-used:{nonce}", STATE_TTL_S):
        return _problem(request, "Sign-in link expired", "This sign-in link was already used or has expired.",
                        retry="/")
    if not code:
        return _problem(request, "Sign-in cancelled", "WeChat did not confirm who you are.", retry=next_url)
    if not wechat.store.claim(f"oauth-code:{code}", CODE_TTL_S):
        return _problem(request, "Sign-in link expired", "This sign-in link was already used or has expired.",
                        retry=next_url)
    redirect_uri = wechat.settings.public_url.rstrip("/") + "/wechat/oauth/callback"
    try:
        openid = str(make_oauth(wechat.settings, redirect_uri).fetch_access_token(code)["openid"])
    except WeChatOAuthException as exc:
        log.warning("WeChat refused the OAuth code: %s", exc)
        return _problem(request, "Sign-in link expired", "This sign-in link was already used or has expired.",
                        retry=next_url)
    binding = session.execute(select(WechatBinding).where(WechatBinding.openid == openid)).scalar()
    if binding is not None:
        user = session.get(User, binding.user_id)
        if user is None or not user.is_active:
            return _problem(request, "Account disabled", "Your account is disabled. Please contact an admin.", 403)
        return _sign_in(session, request, user, next_url)
    token = secrets.token_urlsafe(24)
    wechat.store.set(f"oauth-bind:{token}", json.dumps({"openid": openid, "next": next_url}), BIND_TTL_S)
    response = RedirectResponse("/wechat/bind", status_code=303)
    response.set_cookie(BIND_COOKIE, token, max_age=BIND_TTL_S, httponly=True, samesite="lax", path="/wechat",
                        secure=wechat.settings.secure_cookies)
    response.delete_cookie(STATE_COOKIE, path="/wechat")
    return response


def _pending(request: Request, wechat: WeChat | None) -> dict[str, str] | None:
    token = request.cookies.get(BIND_COOKIE)
    raw = wechat.store.get(f"oauth-bind:{token}") if wechat is not None and token else None
    return json.loads(raw) if raw else None


def _hospital_of(session: Session, next_url: str) -> int | None:
    """The hospital of the label the user scanned, to preselect it."""
    if not next_url.startswith("/r/"):
        return None
    try:
        return qr_service.resolve(session, code=next_url[3:].split("?", 1)[0]).target.hospital_id
    except NotFound:
        return None


def _bind_page(request: Request, session: Session, pending: dict[str, str], *, error: str | None = None,
               form: dict[str, Any] | None = None, status: int = 200) -> Response:
    hospitals = session.execute(select(Hospital.id, Hospital.name).order_by(Hospital.name)).all()
    form = form or {"hospital_id": _hospital_of(session, pending["next"])}
    skip = pending["next"] + ("&" if "?" in pending["next"] else "?") + "wx=0"
    response = render(request, "h5/wechat_bind.html", None, hospitals=hospitals, error=error, form=form, skip=skip)
    response.status_code = status
    return response


@router.get("/bind")
def bind_page(request: Request, session: SessionDep) -> Response:
    """The first-visit form: who you are and which hospital."""
    pending = _pending(request, _wechat(request))
    if pending is None:
        return _problem(request, "Sign-in link expired", "Open the page again from WeChat.", retry="/")
    return _bind_page(request, session, pending)


@router.post("/bind")
def bind_submit(
    request: Request, session: SessionDep, full_name: Annotated[str, Form(max_length=100)] = "",
    phone: Annotated[str, Form(max_length=32)] = "", invite_code: Annotated[str, Form(max_length=64)] = "",
    hospital_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Create the lab user for this openid (verified with an invite code, else awaiting an admin) and sign in."""
    wechat = _wechat(request)
    pending = _pending(request, wechat)
    if pending is None or wechat is None:
        return _problem(request, "Sign-in link expired", "Open the page again from WeChat.", retry="/")
    _ = _translator(request)
    name, phone, invite = full_name.strip(), phone.strip(), invite_code.strip()
    chosen = int(hospital_id) if hospital_id.isdigit() else None
    form: dict[str, Any] = {"full_name": name, "phone": phone, "invite_code": invite, "hospital_id": chosen}
    if not name or len(phone) < 5:
        return _bind_page(request, session, pending, error=_("Please give your name and phone number."),
                          form=form, status=422)
    if invite:
        who = f"openid:{pending['openid']}"
        try:
            throttle.check(request, who, kind="invite")
        except DomainError as exc:
            return _bind_page(request, session, pending, error=_(exc.message), form=form, status=exc.status_code)
        hospital = session.execute(select(Hospital).where(Hospital.invite_code == invite)).scalar()
        if hospital is not None and chosen is not None and hospital.id != chosen:
            hospital = None  # the hospital the user picked is known: only its own code counts
        if hospital is None:
            throttle.failed(request, who, kind="invite")
            return _bind_page(request, session, pending, error=_("This invite code is not known. Check it, or ask "
                                                                  "an admin to approve you instead."),
                              form=form, status=422)
        if registry_service.invite_code_expired(hospital):
            return _bind_page(request, session, pending, error=_("This invite code has expired. Ask your hospital "
                                                                  "for the new one, or ask an admin to approve you."),
                              form=form, status=422)
        throttle.succeeded(request, who, kind="invite")
        verified = True
    else:
        hospital = session.get(Hospital, chosen) if chosen else None
        if hospital is None:
            return _bind_page(request, session, pending, error=_("Choose your hospital."), form=form, status=422)
        verified = False
    openid = pending["openid"]
    try:
        user = auth_service.create_user(
            session, username="wx-" + hashlib.sha256(openid.encode()).hexdigest()[:16],
            password=secrets.token_urlsafe(24), role=Role.lab_user, actor=ACTOR, full_name=name,
            phone=phone, hospital_id=hospital.id, verified=verified)
        session.add(WechatBinding(openid=openid, user_id=user.id))
        session.flush()
    except (IntegrityError, DomainError):
        # A double submit (or two tabs) bound this openid already: sign in as that account.
        session.rollback()
        binding = session.execute(select(WechatBinding).where(WechatBinding.openid == openid)).scalar()
        existing = session.get(User, binding.user_id) if binding else None
        if existing is None:
            raise
        user = existing
    response = _sign_in(session, request, user, pending["next"])
    wechat.store.delete_if(f"oauth-bind:{request.cookies.get(BIND_COOKIE)}", json.dumps(pending))
    return response
