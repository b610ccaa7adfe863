"""The WeChat sandbox: a desktop page with a simulated phone, driving the local WeChat stand-in.

Mounted only when WeChat is configured and its API host is a loopback stand-in (`make run`, tests), never
with a real Official Account. The panel makes the stand-in send signed SCAN callbacks to /wechat/callback,
shows the reply in the phone, opens its link through OAuth as the chosen simulated user, and lists the
template messages the stand-in recorded for each openid.

The page needs no sign-in: the phone iframe shares this browser's cookies, so opening a link in the phone
signs the browser in as the simulated WeChat user; a staff-only page would lock itself out at that moment.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
import xmltodict
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.auth.models import Role, User
from cloud.config import Settings
from cloud.db import SessionDep
from cloud.deps import SESSION_COOKIE
from cloud.i18n import pick_language, translate
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.registry.models import Device, DeviceGroup
from cloud.web.pages import LANGUAGE_COOKIE, render
from cloud.wechat import oauth
from cloud.wechat.callback import scene_for
from cloud.wechat.models import WechatBinding

log = logging.getLogger("medfix.wechat.sandbox")

router = APIRouter(prefix="/wechat/sandbox", include_in_schema=False)

# The simulated WeChat users of the sandbox (openids are opaque strings of up to 64 characters).
OPENIDS = {"reporter": "o-sandbox-reporter", "engineer": "o-sandbox-engineer"}
DEMO_ENGINEER = "engineer"  # the demo engineer's username (cloud/demo.py)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
ACTOR = Actor.system("wechat-sandbox")
STANDIN_TIMEOUT_S = 10.0

# Texts the sandbox script shows, looked up by these English keys.
JS_TEXTS = ("Scanning…", "The callback failed", "No reply", "Open", "No messages yet.", "Engineer bound",
            "Back to chat", "WeChat", "Template message", "Tap to open", "[Voice]")


def sandbox_enabled(settings: Settings) -> bool:
    """True when WeChat is on and its API is a stand-in on this machine (never a real account)."""
    return settings.wechat_enabled and urlsplit(settings.wechat_api_base).hostname in LOCAL_HOSTS


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _standin(settings: Settings, path: str) -> str:
    return settings.wechat_api_base.rstrip("/") + path


def labels(session: Session) -> list[dict[str, Any]]:
    """Every device and device group with its label code (issued on first use, like a label sheet would)."""
    devices = list(session.execute(select(Device).order_by(Device.system_number)).scalars())
    groups = list(session.execute(select(DeviceGroup).order_by(DeviceGroup.system_number)).scalars())
    device_codes = qr_service.codes_for(session, kind=TargetKind.device, targets=devices, actor=ACTOR)
    group_codes = qr_service.codes_for(session, kind=TargetKind.device_group, targets=groups, actor=ACTOR)
    session.commit()
    found = [{"kind": "device", "code": device_codes[d.id].code, "name": f"{d.system_number} {d.model}",
              "scene": scene_for(TargetKind.device, device_codes[d.id].code)} for d in devices]
    found += [{"kind": "group", "code": group_codes[g.id].code, "name": f"{g.system_number} {g.name}",
               "scene": scene_for(TargetKind.device_group, group_codes[g.id].code)} for g in groups]
    return found


def engineer_binding(session: Session) -> tuple[User | None, bool]:
    """The demo engineer and whether the sandbox's engineer openid is bound to them."""
    engineer = session.execute(select(User).where(User.username == DEMO_ENGINEER)).scalar()
    if engineer is None:
        engineer = session.execute(select(User).where(User.role == Role.engineer, User.is_active.is_(True))
                                   .order_by(User.id)).scalars().first()
    if engineer is None:
        return None, False
    bound = session.execute(select(WechatBinding).where(WechatBinding.user_id == engineer.id,
                                                        WechatBinding.openid == OPENIDS["engineer"])).scalar()
    return engineer, bound is not None


def parse_reply(xml: str) -> dict[str, Any]:
    """medfix's passive reply as the phone shows it: a news article or a text."""
    if not xml:
        return {"type": "none"}
    message = xmltodict.parse(xml)["xml"]
    if message.get("MsgType") == "news":
        items = message["Articles"]["item"]
        items = items if isinstance(items, list) else [items]
        return {"type": "news", "articles": [{"title": i.get("Title") or "", "description": i.get("Description") or "",
                                              "url": i.get("Url") or ""} for i in items]}
    return {"type": "text", "content": message.get("Content") or ""}


def phone_path(settings: Settings, url: str) -> str | None:
    """The same-site path of a link in a reply or template message (None for another site's link)."""
    parts, base = urlsplit(url), urlsplit(settings.public_url)
    if parts.netloc and (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        return None
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@router.get("")
def sandbox_page(request: Request, session: SessionDep) -> Response:
    """The desktop page: the phone and the control panel."""
    settings = _settings(request)
    public = urlsplit(settings.public_url)
    if request.url.netloc != public.netloc:
        # OAuth returns to the public URL: the phone must live on that host for its cookies to match.
        return RedirectResponse(settings.public_url.rstrip("/") + "/wechat/sandbox", status_code=303)
    engineer, bound = engineer_binding(session)
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    return render(request, "wechat/sandbox.html", None, labels=labels(session), openids=OPENIDS,
                  engineer=engineer, engineer_bound=bound, standin=settings.wechat_api_base,
                  js_texts={key: translate(key, language) for key in JS_TEXTS})


class Scan(BaseModel):
    """A simulated user scanning one label."""

    scene: str
    openid: str
    subscribe: bool = False


def _through_standin(request: Request, path: str, what: str, payload: dict[str, Any]) -> dict[str, Any] | JSONResponse:
    """Have the stand-in send a signed callback to /wechat/callback; its answer, or a 502 page answer."""
    settings = _settings(request)
    callback_url = settings.public_url.rstrip("/") + "/wechat/callback"
    try:
        # A plain def: this worker thread waits while the event loop serves the callback the stand-in sends.
        answer = httpx.post(_standin(settings, path), timeout=STANDIN_TIMEOUT_S,
                            json={"callback_url": callback_url, **payload})
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("the WeChat stand-in did not deliver the %s: %s", what, exc)
        return JSONResponse({"detail": f"the WeChat stand-in is unreachable: {exc}"}, status_code=502)
    return dict(answer.json())


@router.post("/scan")
def scan(request: Request, body: Scan) -> JSONResponse:
    """Make the stand-in send a signed SCAN (or subscribe) callback to /wechat/callback; the decoded reply."""
    data = _through_standin(request, "/sandbox/scan", "scan",
                            {"openid": body.openid, "scene": body.scene, "subscribe": body.subscribe})
    if isinstance(data, JSONResponse):
        return data
    reply: dict[str, Any] = parse_reply(data["reply"]) if data["status"] == 200 else {"type": "error"}
    for article in reply.get("articles", []):
        article["open"] = phone_path(_settings(request), article["url"])
    return JSONResponse({"status": data["status"], "reply": reply})


class Message(BaseModel):
    """A simulated user sending a text (or a voice message whose recognition is text)."""

    openid: str
    text: str
    voice: bool = False


@router.post("/message")
def message(request: Request, body: Message) -> JSONResponse:
    """Make the stand-in send a signed text or voice (Recognition) message to /wechat/callback; the decoded reply."""
    data = _through_standin(request, "/sandbox/message", "message",
                            {"openid": body.openid, "text": body.text, "voice": body.voice})
    if isinstance(data, JSONResponse):
        return data
    reply: dict[str, Any] = parse_reply(data["reply"]) if data["status"] == 200 and data["reply"] else {"type": "none"}
    return JSONResponse({"status": data["status"], "reply": reply})


@router.get("/open")
def open_in_phone(request: Request, openid: str, next: str = "/") -> Response:  # noqa: A002 - query name
    """Open a link as the simulated user: WeChat's OAuth as that openid, whatever this browser was signed in as."""
    if openid not in OPENIDS.values():
        return JSONResponse({"detail": "unknown sandbox user"}, status_code=400)
    # The iframe cannot send a MicroMessenger User-Agent, so the landing page would not start OAuth by itself:
    # start it here, and tell the stand-in's authorize page who is signing in (inside WeChat it knows).
    response = oauth.start(request, next=next)
    location = response.headers["location"]
    url, hash_mark, fragment = location.partition("#")
    response.headers["location"] = f"{url}&openid={openid}{hash_mark}{fragment}"
    response.delete_cookie(SESSION_COOKIE)  # the phone is another person: drop whoever this browser was
    return response


@router.get("/messages")
def messages(request: Request) -> JSONResponse:
    """The template messages the stand-in accepted, per sandbox user, oldest first."""
    settings = _settings(request)
    try:
        answer = httpx.get(_standin(settings, "/sandbox/sent"), timeout=STANDIN_TIMEOUT_S)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        return JSONResponse({"detail": f"the WeChat stand-in is unreachable: {exc}"}, status_code=502)
    by_user: dict[str, list[dict[str, Any]]] = {name: [] for name in OPENIDS}
    names = {openid: name for name, openid in OPENIDS.items()}
    for sent in answer.json():
        name = names.get(sent["touser"])
        if name is not None:
            fields = {key: str(value.get("value", "")) for key, value in sent["data"].items()}
            by_user[name].append({"msgid": sent["msgid"], "template_id": sent["template_id"], "fields": fields,
                                  "url": sent["url"], "open": phone_path(settings, sent["url"] or ""),
                                  "at": sent["at"]})
    return JSONResponse(by_user)


@router.post("/bind-engineer")
def bind_engineer(session: SessionDep) -> JSONResponse:
    """Bind the sandbox's engineer openid to the demo engineer, so dispatches reach them in WeChat."""
    engineer, bound = engineer_binding(session)
    if engineer is None:
        return JSONResponse({"detail": "no engineer account; seed the demo data first"}, status_code=404)
    if not bound:
        # One binding each way: free the engineer and the openid from any earlier binding first.
        for row in session.execute(select(WechatBinding).where(
                (WechatBinding.user_id == engineer.id) | (WechatBinding.openid == OPENIDS["engineer"]))).scalars():
            session.delete(row)
        session.flush()
        session.add(WechatBinding(openid=OPENIDS["engineer"], user_id=engineer.id))
        session.commit()
    return JSONResponse({"bound": True, "engineer": engineer.full_name or engineer.username,
                         "openid": OPENIDS["engineer"]})
