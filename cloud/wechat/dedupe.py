"""Which WeChat pushes are one and the same: WeChat sends a push again when it had no answer within 5 seconds.

A leaf module: the callback records pushes by this key, and the bot keys its cached answers by it.
"""

from __future__ import annotations

from typing import Any

from wechatpy.messages import BaseMessage


def dedupe_key(message: BaseMessage) -> str:
    """Messages are unique by MsgId; events by sender and CreateTime (WeChat's own advice)."""
    data: dict[str, Any] = message._data  # noqa: SLF001 - wechatpy keeps the raw fields here
    if data.get("MsgId"):
        return f"msg:{data['MsgId']}"
    return f"evt:{data.get('FromUserName', '')}:{data.get('CreateTime', '')}"
