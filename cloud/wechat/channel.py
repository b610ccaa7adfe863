"""Template messages as a notification Channel: users with a bound openid are told in WeChat too.

The in-app channel always delivers as well, so a WeChat failure (no binding, no template, WeChat down) is
recorded as a failed delivery and never hides the notification.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.exceptions import WeChatClientException

from cloud.config import Settings
from cloud.localtime import local_time
from cloud.notify.channels import Outgoing, Result
from cloud.wechat.client import MedfixWeChatClient
from cloud.wechat.models import WechatBinding
from cloud.wechat.store import LockTimeout

log = logging.getLogger("medfix.wechat.channel")

# -1 system busy, 45011 API minute limit, 45047 too many messages just now: worth another try later.
TRANSIENT_ERRORS = frozenset({-1, 45011, 45047})
CLIENT_MSG_ID_MAX = 64


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


def client_msg_id(event_key: str) -> str:
    """The event's idempotency key as WeChat's client_msg_id (hashed when too long)."""
    return event_key if len(event_key) <= CLIENT_MSG_ID_MAX else hashlib.sha1(event_key.encode()).hexdigest()


class WeChatTemplateChannel:
    """Sends one template message per notification to the recipient's bound openid."""

    name = "wechat"

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], client: MedfixWeChatClient,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.sessions = sessions
        self.client = client
        self.sleep = sleep

    def openid_of(self, user_id: int) -> str | None:
        """The openid bound to a user, if any."""
        with self.sessions() as session:
            return session.execute(select(WechatBinding.openid).where(WechatBinding.user_id == user_id)
                                   ).scalar_one_or_none()

    def template_for(self, kind: str) -> str | None:
        """The template id configured for a notification kind ('*' covers the rest)."""
        templates = self.settings.wechat_templates
        return templates.get(kind) or templates.get("*")

    def data_for(self, message: Outgoing) -> dict[str, dict[str, str]]:
        """Template fields from the configured mapping, each value at most 200 characters (WeChat's limit)."""
        # The time is the reader's wall clock (the hospital's zone), not the server's.
        values = _Blank(title=message.title, body=message.body, kind=message.kind, number=message.subject,
                        link=self.link_for(message), time=local_time(datetime.now(UTC)))
        return {name: {"value": pattern.format_map(values)[:200]}
                for name, pattern in self.settings.wechat_template_fields.items()}

    def link_for(self, message: Outgoing) -> str:
        """An absolute link (template messages open outside medfix's pages)."""
        if message.link.startswith(("http://", "https://")):
            return message.link
        return self.settings.public_url.rstrip("/") + "/" + message.link.lstrip("/")

    def send(self, message: Outgoing) -> Result:
        """Send the template message, retrying transient errors with backoff; never raises."""
        openid = self.openid_of(message.user_id)
        if openid is None:
            return Result(ok=False, error="no WeChat binding for this user", not_set_up=True)
        template_id = self.template_for(message.kind)
        if not template_id:
            return Result(ok=False, error=f"no WeChat template configured for {message.kind}", not_set_up=True)
        data = self.data_for(message)
        waits = [*self.settings.wechat_retry_backoff_s, None]
        for attempt, wait in enumerate(waits, start=1):
            try:
                answer = self.client.send_template(touser=openid, template_id=template_id, data=data,
                                                   url=self.link_for(message),
                                                   client_msg_id=client_msg_id(message.event_key))
                return Result(ok=True, external_id=str(answer.get("msgid", "")) or None)
            except WeChatClientException as exc:
                transient = exc.errcode in TRANSIENT_ERRORS or exc.errcode is None  # None: HTTP-level failure
                error = f"WeChat error {exc.errcode}: {exc.errmsg}"
            except (requests.RequestException, LockTimeout) as exc:
                transient, error = True, f"WeChat unreachable: {exc}"
            if not transient or wait is None:
                log.warning("template message %s to user %s failed after %d attempt(s): %s",
                            message.kind, message.user_id, attempt, error)
                return Result(ok=False, error=error[:500])
            self.sleep(wait)
        return Result(ok=False, error="unreachable")  # the loop always returns; this satisfies type checkers
