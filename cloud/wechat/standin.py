"""A local stand-in for the WeChat APIs medfix calls, speaking their wire formats (JSON shapes, errcodes).

Runs in-process for tests (serve() starts it on a loopback port in a thread) and under `make run` for the
sandbox. It also plays WeChat's side of the callback: signed, AES-encrypted (safe mode) POSTs to medfix.
Pointing medfix at a real account needs settings only (MEDFIX_WECHAT_API_BASE back to the default).
"""

from __future__ import annotations

import contextlib
import io
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import qrcode
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

PERMANENT_QR_CAP = 100_000
OAUTH_CODE_TTL_S = 300
MEDIA_TTL_S = 3 * 24 * 3600
OLD_TOKEN_GRACE_S = 300  # after a refresh WeChat keeps the previous token alive for five minutes


def _error(errcode: int, errmsg: str) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "errmsg": errmsg})


@dataclass
class Sent:
    """A template message the stand-in accepted."""

    msgid: int
    touser: str
    template_id: str
    url: str | None
    data: dict[str, Any]
    client_msg_id: str | None
    at: float = 0.0  # when it was accepted (the sandbox lists messages as they arrive)


@dataclass
class StandIn:
    """The stand-in's account and state; app() serves it."""

    appid: str = "wxstandin000000001"
    secret: str = "standin-secret"
    token: str = "standin-token"
    encoding_aes_key: str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    token_ttl_s: int = 7200
    clock: Callable[[], float] = time.time
    templates: set[str] = field(default_factory=set)  # empty = accept any template id
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expires at
    token_grants: int = 0
    qr_tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    oauth_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, tuple[bytes, str, float]] = field(default_factory=dict)
    fail_next: dict[str, list[int]] = field(default_factory=dict)  # api path -> errcodes to answer first
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client_ids: dict[tuple[str, str], int] = field(default_factory=dict)

    # -- state helpers for tests and the sandbox -------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Make every issued token invalid (WeChat answers 40001 until the client fetches a new one)."""
        with self._lock:
            self.tokens.clear()

    def issue_oauth_code(self, openid: str) -> str:
        """The code WeChat would append to the redirect after the user opened an snsapi_base link."""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self.oauth_codes[code] = {"openid": openid, "at": self.clock(), "used": False}
        return code

    def add_media(self, content: bytes, content_type: str = "audio/amr") -> str:
        """Store an uploaded media item (what wx.uploadVoice / uploadImage leave on WeChat's side)."""
        media_id = secrets.token_urlsafe(24)
        with self._lock:
            self.media[media_id] = (content, content_type, self.clock())
        return media_id

    def _failure(self, path: str) -> int | None:
        with self._lock:
            queue = self.fail_next.get(path)
            return queue.pop(0) if queue else None

    def _token_error(self, request: Request) -> JSONResponse | None:
        token = request.query_params.get("access_token")
        if not token:
            return _error(41001, "access_token missing")
        expires_at = self.tokens.get(token)
        if expires_at is None:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        if expires_at <= self.clock():
            return _error(42001, "access_token expired")
        return None

    # -- WeChat's side of the callback ---------------------------------------------------------------------

    def event_xml(self, openid: str, fields: dict[str, str], *, create_time: int | None = None) -> str:
        """A message or event body as WeChat sends it."""
        base = {"ToUserName": "gh_standin0000", "FromUserName": openid,
                "CreateTime": str(create_time or int(self.clock()))}
        parts = [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in {**base, **fields}.items()]
        return "<xml>" + "".join(parts) + "</xml>"

    def signed(self, xml: str, *, timestamp: str | None = None, nonce: str | None = None
               ) -> tuple[dict[str, str], str]:
        """Query parameters and body of a safe-mode callback, signed as WeChat signs them."""
        timestamp = timestamp or str(int(self.clock()))
        nonce = nonce or str(secrets.randbelow(10**10))
        crypto = WeChatCrypto(self.token, self.encoding_aes_key, self.appid)
        body = crypto.encrypt_message(xml, nonce, timestamp)
        encrypt = body.split("<Encrypt><![CDATA[", 1)[1].split("]]>", 1)[0]
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce)
        msg_signer = WeChatSigner()
        msg_signer.add_data(self.token, timestamp, nonce, encrypt)
        params = {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce,
                  "openid": "", "encrypt_type": "aes", "msg_signature": msg_signer.signature}
        return params, body

    def decrypt_reply(self, body: str) -> str:
        """The plaintext of medfix's encrypted reply (checking its signature, as WeChat does)."""
        crypto = WeChatCrypto(self.token, self.encoding_aes_key, self.appid)
        sig = body.split("<MsgSignature><![CDATA[", 1)[1].split("]]>", 1)[0]
        timestamp = body.split("<TimeStamp>", 1)[1].split("</TimeStamp>", 1)[0]
        nonce = body.split("<Nonce><![CDATA[", 1)[1].split("]]>", 1)[0]
        return str(crypto.decrypt_message(body, sig, timestamp, nonce))

    def callback(self, url: str, openid: str, fields: dict[str, str], *, create_time: int | None = None,
                 timeout: float = 5.0) -> tuple[httpx.Response, str]:
        """POST one signed safe-mode callback to medfix; the response and its decrypted reply ('' if none)."""
        params, body = self.signed(self.event_xml(openid, fields, create_time=create_time))
        response = httpx.post(url, params=params, content=body.encode(), timeout=timeout)
        text = response.text
        reply = self.decrypt_reply(text) if response.status_code == 200 and "<Encrypt>" in text else ""
        return response, reply

    def scan(self, url: str, openid: str, scene: str, *, subscribe: bool = False) -> tuple[httpx.Response, str]:
        """A user scanning a parametric QR (subscribe first time, SCAN when already following)."""
        fields = ({"MsgType": "event", "Event": "subscribe", "EventKey": f"qrscene_{scene}"} if subscribe
                  else {"MsgType": "event", "Event": "SCAN", "EventKey": scene})
        return self.callback(url, openid, {**fields, "Ticket": "standin-ticket"})

    def finish_template(self, url: str, msgid: int, status: str = "success") -> tuple[httpx.Response, str]:
        """WeChat's delivery report for a template message."""
        sent = next(s for s in self.sent if s.msgid == msgid)
        return self.callback(url, sent.touser, {"MsgType": "event", "Event": "TEMPLATESENDJOBFINISH",
                                                "MsgID": str(msgid), "Status": status})

    # -- the HTTP API --------------------------------------------------------------------------------------

    def app(self) -> FastAPI:
        """The stand-in as an ASGI app."""
        api = FastAPI(title="WeChat stand-in")

        @api.get("/cgi-bin/token")
        def token(grant_type: str = "", appid: str = "", secret: str = "") -> JSONResponse:
            if grant_type != "client_credential":
                return _error(40002, "invalid grant_type")
            if appid != self.appid:
                return _error(40013, "invalid appid")
            if secret != self.secret:
                return _error(40125, "invalid appsecret")
            fresh = secrets.token_urlsafe(48)
            now = self.clock()
            with self._lock:
                for old, expires_at in list(self.tokens.items()):
                    self.tokens[old] = min(expires_at, now + OLD_TOKEN_GRACE_S)
                self.tokens[fresh] = now + self.token_ttl_s
                self.token_grants += 1
            return JSONResponse({"access_token": fresh, "expires_in": self.token_ttl_s})

        @api.post("/cgi-bin/qrcode/create")
        async def qrcode_create(request: Request) -> JSONResponse:
            if (error := self._token_error(request)) is not None:
                return error
            body = await request.json()
            if body.get("action_name") != "QR_LIMIT_STR_SCENE":
                return _error(40053, "invalid action info: only QR_LIMIT_STR_SCENE is simulated")
            scene = str(body.get("action_info", {}).get("scene", {}).get("scene_str", ""))
            if not 1 <= len(scene) <= 64:
                return _error(40053, "invalid action info: scene_str must be 1-64 characters")
            with self._lock:
                existing = next((t for t, q in self.qr_tickets.items() if q["scene"] == scene), None)
                if existing is None:
                    if len(self.qr_tickets) >= PERMANENT_QR_CAP:
                        return _error(45029, "qrcode count out of limit")
                    existing = "gQ" + secrets.token_urlsafe(60)
                    self.qr_tickets[existing] = {"scene": scene, "url": f"http://weixin.qq.com/q/{secrets.token_urlsafe(16)}"}
            return JSONResponse({"ticket": existing, "url": self.qr_tickets[existing]["url"]})

        @api.get("/cgi-bin/showqrcode")
        def showqrcode(ticket: str = "") -> Response:
            found = self.qr_tickets.get(ticket)
            if found is None:
                return Response(status_code=404)
            buffer = io.BytesIO()
            qrcode.make(found["url"]).save(buffer)
            return Response(buffer.getvalue(), media_type="image/png")

        @api.post("/cgi-bin/message/template/send")
        async def template_send(request: Request) -> JSONResponse:
            if (error := self._token_error(request)) is not None:
                return error
            if (errcode := self._failure("message/template/send")) is not None:
                return _error(errcode, "system error" if errcode == -1 else "simulated failure")
            body = await request.json()
            touser, template_id = str(body.get("touser", "")), str(body.get("template_id", ""))
            if not touser:
                return _error(40003, "invalid openid")
            if not template_id or (self.templates and template_id not in self.templates):
                return _error(40037, "invalid template_id")
            if not isinstance(body.get("data"), dict):
                return _error(47001, "data format error")
            client_msg_id = body.get("client_msg_id")
            with self._lock:
                if client_msg_id and (touser, client_msg_id) in self._client_ids:
                    return JSONResponse({"errcode": 0, "errmsg": "ok",
                                         "msgid": self._client_ids[(touser, client_msg_id)]})
                msgid = 2_000_000_000 + len(self.sent) + 1
                self.sent.append(Sent(msgid, touser, template_id, body.get("url"), body["data"], client_msg_id,
                                      self.clock()))
                if client_msg_id:
                    self._client_ids[(touser, client_msg_id)] = msgid
            return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": msgid})

        @api.get("/connect/oauth2/authorize")
        def authorize(redirect_uri: str, appid: str = "", scope: str = "snsapi_base", state: str = "",
                      openid: str = "o-standin-user") -> Response:
            # The real page runs inside WeChat and knows the user; here the sandbox says who it is.
            if appid != self.appid:
                return _error(40013, "invalid appid")
            if scope not in ("snsapi_base", "snsapi_userinfo"):
                return _error(10005, "insufficient scope")
            code = self.issue_oauth_code(openid)
            joiner = "&" if "?" in redirect_uri else "?"
            return RedirectResponse(f"{redirect_uri}{joiner}code={code}&state={state}", status_code=302)

        @api.get("/sns/oauth2/access_token")
        def oauth_token(appid: str = "", secret: str = "", code: str = "", grant_type: str = "") -> JSONResponse:
            if appid != self.appid or secret != self.secret:
                return _error(40125, "invalid appsecret")
            if grant_type != "authorization_code":
                return _error(40002, "invalid grant_type")
            with self._lock:
                entry = self.oauth_codes.get(code)
                if entry is None or self.clock() - entry["at"] > OAUTH_CODE_TTL_S:
                    return _error(40029, "invalid code")
                if entry["used"]:
                    return _error(40163, "code been used")
                entry["used"] = True
            return JSONResponse({"access_token": secrets.token_urlsafe(32), "expires_in": 7200,
                                 "refresh_token": secrets.token_urlsafe(32), "openid": entry["openid"],
                                 "scope": "snsapi_base"})

        @api.get("/cgi-bin/ticket/getticket")
        def getticket(request: Request, type: str = "jsapi") -> JSONResponse:  # noqa: A002 - WeChat's name
            if (error := self._token_error(request)) is not None:
                return error
            if type not in ("jsapi", "wx_card"):
                return _error(40097, "invalid args")
            return JSONResponse({"errcode": 0, "errmsg": "ok", "ticket": secrets.token_urlsafe(64),
                                 "expires_in": 7200})

        @api.get("/cgi-bin/media/get")
        def media_get(request: Request, media_id: str = "") -> Response:
            if (error := self._token_error(request)) is not None:
                return error
            if (errcode := self._failure("media/get")) is not None:
                return _error(errcode, "system error" if errcode == -1 else "simulated failure")
            found = self.media.get(media_id)
            if found is None or self.clock() - found[2] > MEDIA_TTL_S:
                return _error(40007, "invalid media_id")
            return Response(found[0], media_type=found[1],
                            headers={"Content-disposition": f'attachment; filename="{media_id}"'})

        # -- controls for medfix's WeChat sandbox page (no such API exists at WeChat) ---------------------------

        @api.post("/sandbox/scan")
        def sandbox_scan(scan: SandboxScan) -> JSONResponse:
            # A plain def runs in a worker thread, so the stand-in keeps serving while medfix answers.
            response, reply = self.scan(scan.callback_url, scan.openid, scan.scene, subscribe=scan.subscribe)
            return JSONResponse({"status": response.status_code, "reply": reply})

        @api.post("/sandbox/message")
        def sandbox_message(message: SandboxMessage) -> JSONResponse:
            # A text message, or a voice message carrying WeChat's speech recognition in its Recognition field.
            fields = ({"MsgType": "voice", "MediaId": f"sandbox-voice-{secrets.token_hex(4)}", "Format": "amr",
                       "Recognition": message.text} if message.voice else {"MsgType": "text", "Content": message.text})
            response, reply = self.callback(message.callback_url, message.openid,
                                            {**fields, "MsgId": str(secrets.randbelow(10**18))})
            return JSONResponse({"status": response.status_code, "reply": reply})

        @api.get("/sandbox/sent")
        def sandbox_sent(openid: str = "") -> JSONResponse:
            with self._lock:
                found = [s for s in self.sent if not openid or s.touser == openid]
            return JSONResponse([{"msgid": s.msgid, "touser": s.touser, "template_id": s.template_id, "url": s.url,
                                  "data": s.data, "at": s.at} for s in found])

        return api


class SandboxScan(BaseModel):
    """The sandbox asks the stand-in to play a user scanning a parametric QR code."""

    callback_url: str
    openid: str
    scene: str
    subscribe: bool = False


class SandboxMessage(BaseModel):
    """The sandbox asks the stand-in to play a user sending a text, or a voice message WeChat recognised as text."""

    callback_url: str
    openid: str
    text: str
    voice: bool = False


@contextlib.contextmanager
def serve(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
