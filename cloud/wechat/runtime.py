"""The WeChat parts of one app, built from settings; None when no Official Account is configured."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker
from wechatpy.client.api.jsapi import WeChatJSAPI

from cloud.config import Settings
from cloud.wechat.callback import CallbackHandler
from cloud.wechat.channel import WeChatTemplateChannel
from cloud.wechat.client import MedfixWeChatClient, make_client
from cloud.wechat.inbound import InboundWriter
from cloud.wechat.qrcodes import PermanentQrCodes
from cloud.wechat.store import SharedStore, make_store

JS_API_LIST = ["chooseImage", "uploadImage", "startRecord", "stopRecord", "uploadVoice", "translateVoice",
               "getLocation"]


def jsapi_signature(*, ticket: str, noncestr: str, timestamp: str, url: str) -> str:
    """sha1 of 'jsapi_ticket=…&noncestr=…&timestamp=…&url=…' (wechatpy computes it; the fragment is dropped)."""
    return str(WeChatJSAPI().get_jsapi_signature(noncestr, ticket, timestamp, url.split("#", 1)[0]))


@dataclass
class WeChat:
    """Settings, shared store, API client, callback handler, template channel and QR codes of one account."""

    settings: Settings
    store: SharedStore
    client: MedfixWeChatClient
    handler: CallbackHandler
    writer: InboundWriter  # the callback's after-answer work, in batches (started with the app)
    channel: WeChatTemplateChannel
    qrcodes: PermanentQrCodes

    def jssdk_config(self, url: str) -> dict[str, object]:
        """wx.config parameters for a page of ours (signature over the cached jsapi ticket)."""
        page, base = urlsplit(url), urlsplit(self.settings.public_url)
        if (page.scheme, page.netloc) != (base.scheme, base.netloc):
            raise ValueError("the page is not one of medfix's")
        noncestr, timestamp = secrets.token_hex(8), str(int(time.time()))
        signature = jsapi_signature(ticket=self.client.jsapi_ticket(), noncestr=noncestr, timestamp=timestamp,
                                    url=url)
        return {"appId": self.settings.wechat_appid, "timestamp": int(timestamp), "nonceStr": noncestr,
                "signature": signature, "jsApiList": JS_API_LIST}


class WeChatMisconfigured(RuntimeError):
    """The WeChat settings would run the channel insecurely; the service refuses to start."""


def build_wechat(settings: Settings, sessions: sessionmaker[Session]) -> WeChat | None:
    """The WeChat channel for settings, or None (everything then runs on the web channel)."""
    if not settings.wechat_enabled:
        return None
    if not settings.wechat_token.strip():
        # Without the token nothing tells WeChat's callbacks from forged ones: refuse to start rather than run so.
        raise WeChatMisconfigured(
            "MEDFIX_WECHAT_APPID is set but MEDFIX_WECHAT_TOKEN is empty: set the callback Token configured in the "
            "Official Account console (or unset the appid to run without WeChat)")
    store = make_store(settings.redis_url, sessions)
    client = make_client(settings, store)
    handler = CallbackHandler(settings=settings, sessions=sessions, store=store)
    channel = WeChatTemplateChannel(settings, sessions, client)
    return WeChat(settings=settings, store=store, client=client, handler=handler, writer=InboundWriter(handler),
                  channel=channel, qrcodes=PermanentQrCodes(settings, client, store))
