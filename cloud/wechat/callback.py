"""The callback's logic without HTTP: check freshness and signatures, decrypt, build the reply, act once."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.replies import ArticlesReply, BaseReply, TextReply

from cloud.config import Settings
from cloud.errors import NotFound
from cloud.notify.models import Delivery
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.registry.models import Device
from cloud.wechat.models import WechatInbound
from cloud.wechat.store import SharedStore

log = logging.getLogger("medfix.wechat.callback")

SCENE_KINDS = {"d": TargetKind.device, "g": TargetKind.device_group}
# A label is scanned in bursts (a queue at one analyzer); its answer may lag a reprint by this much.
SCENE_CACHE_S = 30.0
SCENE_CACHE_MAX = 10_000


class Rejected(Exception):
    """The request did not come from WeChat (bad signature, stale timestamp, wrong appid)."""


def check_signature(token: str, signature: str, *parts: str) -> None:
    """WeChat's SHA-1 over the sorted token and parts, compared in constant time; InvalidSignatureException if
    it differs (wechatpy compares with !=, which leaks how much of a guess was right through timing)."""
    expected = hashlib.sha1("".join(sorted([token, *parts])).encode()).hexdigest()  # noqa: S324 - WeChat's scheme
    if not token or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise InvalidSignatureException()


_ENCRYPT = re.compile(rb"<Encrypt>\s*(?:<!\[CDATA\[)?([A-Za-z0-9+/=]+)(?:\]\]>)?\s*</Encrypt>")


def _encrypted_part(body: bytes) -> str:
    """The <Encrypt> element of a safe-mode body (what msg_signature covers); its text is base64."""
    found = _ENCRYPT.search(body)
    if found is None:
        raise ValueError("no Encrypt element")
    return found.group(1).decode("ascii")


@dataclass(frozen=True)
class Inbound:
    """A verified, decrypted callback: the parsed message and whether to encrypt the reply."""

    message: BaseMessage
    encrypted: bool


def scene_for(kind: TargetKind, code: str) -> str:
    """The scene string of a parametric QR for a label code: 'd:<code>' or 'g:<code>' (well under 64 chars)."""
    return ("d:" if kind == TargetKind.device else "g:") + code


@dataclass
class CallbackHandler:
    """Everything the callback needs; clock is injectable so recorded official samples can be replayed."""

    settings: Settings
    sessions: sessionmaker[Session]
    store: SharedStore
    clock: Callable[[], float] = time.time
    clock_mono: Callable[[], float] = time.monotonic
    bot: Any = None  # cloud.bot.holder.BotHolder: text and voice messages are answered by the bot
    _scene_cache: dict[str, tuple[float, str | dict[str, str]]] = field(default_factory=dict)

    @property
    def crypto(self) -> WeChatCrypto | None:
        """The AES helper when an EncodingAESKey is configured."""
        key = self.settings.wechat_encoding_aes_key
        return WeChatCrypto(self.settings.wechat_token, key, self.settings.wechat_appid) if key else None

    def check_fresh(self, timestamp: str) -> None:
        """Refuse timestamps outside the replay window (a captured request replayed later)."""
        window = self.settings.wechat_replay_window_s
        if window <= 0:
            return
        try:
            sent = int(timestamp)
        except ValueError:
            raise Rejected("timestamp is not a number") from None
        if abs(self.clock() - sent) > window:
            raise Rejected("timestamp outside the replay window")

    def verify_url(self, *, signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The echostr of WeChat's URL verification, after checking its signature."""
        self.check_fresh(timestamp)
        try:
            check_signature(self.settings.wechat_token, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise Rejected("bad signature") from None
        return echostr

    def open(self, body: bytes, *, signature: str, timestamp: str, nonce: str, encrypt_type: str,
             msg_signature: str) -> Inbound:
        """Verify and decrypt one POSTed callback (plaintext, compatible or safe mode)."""
        self.check_fresh(timestamp)
        try:
            # WeChat signs every POST with `signature`; the official safe-mode sample carries only
            # msg_signature, which covers the same token/timestamp/nonce plus the ciphertext.
            if signature or encrypt_type != "aes":
                check_signature(self.settings.wechat_token, signature, timestamp, nonce)
            if encrypt_type == "aes":
                crypto = self.crypto
                if crypto is None:
                    raise Rejected("encrypted callback but no EncodingAESKey configured")
                # Checked here in constant time first; wechatpy's own check below then only sees genuine ones.
                check_signature(self.settings.wechat_token, msg_signature, timestamp, nonce, _encrypted_part(body))
                xml = crypto.decrypt_message(body, msg_signature, timestamp, nonce)
                return Inbound(parse_message(xml), encrypted=True)
        except (InvalidSignatureException, InvalidAppIdException):
            raise Rejected("bad signature") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise Rejected(f"unreadable message: {exc}") from None
        try:
            return Inbound(parse_message(body), encrypted=False)
        except Exception as exc:  # malformed XML from a signed sender: refuse, never 500
            raise Rejected(f"unreadable message: {exc}") from None

    def seal(self, inbound: Inbound, reply: BaseReply | None, *, nonce: str, timestamp: str) -> str:
        """The response body: the reply (encrypted in safe/compatible mode) or WeChat's 'success'."""
        if reply is None:
            return "success"
        xml = reply.render()
        if inbound.encrypted and self.crypto is not None:
            return str(self.crypto.encrypt_message(xml, nonce, timestamp))
        return str(xml)

    def reply_for(self, message: BaseMessage) -> BaseReply | None:
        """What to answer at once (reads only, so a retry may compute it again)."""
        if message.type == "event":
            event = message.event
            if event in ("subscribe_scan", "scan"):
                return self._scan_reply(message, str(message.scene_id or ""))
            if event == "subscribe":
                return TextReply(message=message, content="欢迎关注！扫描设备上的二维码即可报修。")
            return None
        if message.type in ("text", "voice") and self.bot is not None:
            from cloud.bot.wechat import bot_reply

            return bot_reply(self, message)
        if message.type == "text":
            return TextReply(message=message, content=(
                f"已收到。扫描设备二维码报修，或打开 {self.settings.public_url.rstrip('/')}/ 查看工单。"))
        return None

    def _scan_reply(self, message: BaseMessage, scene: str) -> BaseReply:
        cached = self._scene_cache.get(scene)
        if cached is None or cached[0] < self.clock_mono():
            cached = (self.clock_mono() + SCENE_CACHE_S, self._scene_answer(scene))
            if len(self._scene_cache) >= SCENE_CACHE_MAX:
                self._scene_cache.clear()  # bounded: random scenes sent to us must not grow memory
            self._scene_cache[scene] = cached
        answer = cached[1]
        if isinstance(answer, str):
            return TextReply(message=message, content=answer)
        reply = ArticlesReply(message=message)
        reply.add_article(answer)
        return reply

    def _scene_answer(self, scene: str) -> str | dict[str, str]:
        """A news article for a known scene, or the hint text for an unknown one."""
        prefix, _, code = scene.partition(":")
        kind = SCENE_KINDS.get(prefix)
        with self.sessions() as session:
            try:
                if kind is None or not code:
                    raise NotFound("not a medfix scene")
                found = qr_service.resolve(session, code=code)
                if found.kind != kind:
                    raise NotFound("scene kind does not match the code")
            except NotFound:
                return "这个二维码无法识别，请用设备铭牌上的编号报修。"
            target = found.target
            link = qr_service.url_for(found.current_code, self.settings.public_url)
            if isinstance(target, Device):
                title = f"报修 {target.system_number} {target.model}"
                description = "点此进入设备报修页：拍照、语音、文字描述故障。"
            else:
                title = f"报修 {target.name}（设备组）"
                description = "点此进入设备组报修页，选择出故障的设备。"
            # The cover: the device's photo, else a product image of its category (served by cloud/web/covers.py).
            image = f"{self.settings.public_url.rstrip('/')}/r/{found.current_code}/cover.jpg"
        return {"title": title, "description": description, "url": link, "image": image}

    def claim_many(self, keys: Sequence[str]) -> list[bool]:
        """Per dedupe key, True for the first delivery of its message; False for a retry (also a key's repeats
        within keys). The claims are shared by all workers (Redis, or the database without it)."""
        unique = list(dict.fromkeys(keys))
        won = dict(zip(unique, self.store.claim_many(unique, self.settings.wechat_dedupe_ttl_s), strict=True))
        firsts = []
        for key in keys:
            firsts.append(won[key])
            won[key] = False
        return firsts

    def act_many(self, claimed: Sequence[tuple[BaseMessage, str]]) -> None:
        """Log claimed messages and apply their effects in one transaction (cloud/wechat/inbound.py)."""
        with self.sessions() as session:
            for message, key in claimed:
                self._act(session, message, key)
            session.commit()

    def _act(self, session: Session, message: BaseMessage, key: str) -> None:
        data: dict[str, Any] = message._data  # noqa: SLF001
        session.add(WechatInbound(dedupe_key=key, openid=str(data.get("FromUserName", ""))[:64],
                                  msg_type=message.type, event=str(data.get("Event") or "")[:40] or None,
                                  event_key=str(data.get("EventKey") or "")[:200] or None,
                                  content=str(data.get("Content") or "") or None))
        if message.type == "event" and message.event == "templatesendjobfinish":
            self._template_finished(session, str(data.get("MsgID", "")), str(data.get("Status", "")))
        if message.type in ("text", "voice") and self.bot is not None:
            from cloud.bot.wechat import log_ask

            log_ask(self, session, message, key)

    def _template_finished(self, session: Session, msg_id: str, status: str) -> None:
        rows = session.execute(select(Delivery).where(Delivery.channel == "wechat",
                                                      Delivery.external_id == msg_id)).scalars()
        for row in rows:
            if status == "success":
                row.status, row.error = "delivered", None
            else:  # "failed:user block", "failed: system failed"
                row.status, row.error = "failed", status[:500]
