"""The bot on the Official Account: a text or voice message (WeChat's Recognition) answered as a TextReply.

The reply must leave within WeChat's 5 s, so it comes from the in-memory Bot and only reads; the BotAsk row is
written in the callback's `act`, after the reply went out (once per message, whatever WeChat retries).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply

from cloud.bot import replies, service
from cloud.bot.service import BotAnswer
from cloud.wechat.dedupe import dedupe_key

MAX_REPLY_BYTES = 2000  # WeChat refuses passive text replies over 2048 bytes
_CACHE_MAX = 1000
_answers: OrderedDict[str, tuple[str, BotAnswer]] = OrderedDict()
_lock = threading.Lock()


def question_of(message: BaseMessage) -> str:
    """What the user said: the text, or WeChat's transcript of a voice message."""
    if message.type == "voice":
        return str(getattr(message, "recognition", "") or "").strip()
    return str(getattr(message, "content", "") or "").strip()


def conversation_of(message: BaseMessage) -> str:
    """One conversation per WeChat user."""
    return f"wx-{message.source}"[:64]


def fit(text: str, limit: int = MAX_REPLY_BYTES) -> str:
    """text cut to WeChat's size limit (on a character boundary, with an ellipsis)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit - 3].decode(errors="ignore") + "…"


def _key(handler: Any, message: BaseMessage) -> str:
    return f"{id(handler)}:{dedupe_key(message)}"


def bot_reply(handler: Any, message: BaseMessage) -> TextReply:
    """The TextReply for a text or voice message (reads only; a retry computes the same)."""
    text = question_of(message)
    if not text:
        return TextReply(message=message, content=replies.VOICE_UNHEARD if message.type == "voice"
                         else replies.EMPTY_QUESTION)
    text = text[:service.MAX_QUESTION]
    with handler.sessions() as session:
        result = service.compose(session, holder=handler.bot, text=text, device=None,
                                 public_url=handler.settings.public_url, conversation_id=conversation_of(message))
    with _lock:
        _answers[_key(handler, message)] = (text, result)
        while len(_answers) > _CACHE_MAX:
            _answers.popitem(last=False)
    content = result.text
    if result.handoff and not result.urgent:
        # An agent cannot answer a passive WeChat text later: point to where the conversation goes on.
        content += "\n" + replies.WECHAT_CONTINUE.format(base=handler.settings.public_url.rstrip("/"))
    return TextReply(message=message, content=fit(content))


def log_ask(handler: Any, session: Session, message: BaseMessage, _dedupe: str) -> None:
    """Write the BotAsk of a message the bot answered (called once per message, after the reply)."""
    from cloud.wechat.models import WechatBinding

    with _lock:
        cached = _answers.pop(_key(handler, message), None)
    if cached is None:
        text = question_of(message)[:service.MAX_QUESTION]
        if not text:
            return
        result = service.compose(session, holder=handler.bot, text=text, device=None,
                                 public_url=handler.settings.public_url, conversation_id=conversation_of(message))
    else:
        text, result = cached
    user_id = session.execute(select(WechatBinding.user_id).where(
        WechatBinding.openid == str(message.source))).scalar_one_or_none()
    service.record(session, result=result, text=text, user_id=user_id, device=None, channel="wechat")
