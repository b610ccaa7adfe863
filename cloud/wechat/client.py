"""wechatpy's WeChatClient pointed at a configurable API host, with the access token cached centrally.

wechatpy keeps the token in a SessionStorage; ours is the shared store (Redis or the database), so every
worker uses the same token. Refreshing happens under a cross-worker lock and re-checks the cache after
waiting, because each refresh invalidates the token other workers hold. A token error (40001/42001/40014)
triggers exactly one refresh and one retry; wechatpy's own unbounded auto-retry is off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.oauth import WeChatOAuth
from wechatpy.session import SessionStorage

from cloud.config import Settings
from cloud.wechat.store import SharedStore

log = logging.getLogger("medfix.wechat.client")

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid credential, invalid token, token expired
T = TypeVar("T")


class StoreSession(SessionStorage):  # type: ignore[misc]
    """wechatpy's session storage on the shared store; values are JSON, token lifetimes trimmed by a margin."""

    def __init__(self, store: SharedStore) -> None:
        self.store = store

    def get(self, key: str, default: Any = None) -> Any:
        """The cached value, or default."""
        raw = self.store.get("session:" + key)
        return default if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Cache value; a token is dropped a little before WeChat expires it so no request uses a dead one."""
        if value is None:
            return
        if ttl:
            ttl = max(1, int(ttl) - min(300, int(ttl) // 10))
        self.store.set("session:" + key, json.dumps(value), ttl)

    def delete(self, key: str) -> None:
        """Forget key."""
        raw = self.store.get("session:" + key)
        if raw is not None:
            self.store.delete_if("session:" + key, raw)


class MedfixWeChatClient(WeChatClient):  # type: ignore[misc]
    """A WeChatClient for one Official Account whose API host and token cache come from medfix."""

    def __init__(self, appid: str, secret: str, *, api_base: str, store: SharedStore, timeout: float = 5) -> None:
        super().__init__(appid, secret, session=StoreSession(store), timeout=timeout, auto_retry=False)
        self.api_base = api_base.rstrip("/")
        self.API_BASE_URL = self.api_base + "/cgi-bin/"
        self.store = store
        self.token_fetches = 0  # how often this process asked WeChat for a token (tests and diagnostics)

    def fetch_access_token(self) -> dict[str, Any]:
        """Ask WeChat for a new token and cache it (callers hold the refresh lock)."""
        response = self._http.get(self.api_base + "/cgi-bin/token", timeout=self.timeout, params={
            "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self,
                                        request=response.request, response=response)
        self.token_fetches += 1
        self.session.set(self.access_token_key, result["access_token"], int(result.get("expires_in", 7200)))
        return result

    @property
    def access_token(self) -> str:
        """The shared token; fetched under the lock when no worker has one."""
        token = self.session.get(self.access_token_key)
        if token:
            return str(token)
        with self.store.lock("token:" + self.appid):
            token = self.session.get(self.access_token_key)  # another worker may have fetched it while we waited
            if not token:
                self.fetch_access_token()
                token = self.session.get(self.access_token_key)
        return str(token)

    def refresh_after(self, stale: str) -> None:
        """Replace a token WeChat rejected, unless another worker already did."""
        with self.store.lock("token:" + self.appid):
            current = self.session.get(self.access_token_key)
            if current and current != stale:
                return
            log.info("WeChat rejected the access token; fetching a new one")
            self.fetch_access_token()

    def retrying(self, call: Callable[[], T]) -> T:
        """Run an API call; on a token error refresh once and run it once more."""
        token = self.access_token
        try:
            return call()
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
        self.refresh_after(token)
        return call()

    def send_template(self, *, touser: str, template_id: str, data: dict[str, Any], url: str | None,
                      client_msg_id: str) -> dict[str, Any]:
        """POST message/template/send with client_msg_id (which wechatpy's helper does not pass)."""
        body: dict[str, Any] = {"touser": touser, "template_id": template_id, "data": data,
                                "client_msg_id": client_msg_id}
        if url:
            body["url"] = url
        return self.retrying(lambda: self.post("message/template/send", data=dict(body), params={}))

    def create_permanent_qr(self, scene: str) -> dict[str, Any]:
        """A QR_LIMIT_STR_SCENE code for scene: {'ticket', 'url'}."""
        return self.retrying(lambda: self.qrcode.create({
            "action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}}))

    def jsapi_ticket(self) -> str:
        """The jsapi ticket, cached by wechatpy in the shared store."""
        return str(self.retrying(self.jsapi.get_jsapi_ticket))

    def download_media(self, media_id: str) -> bytes:
        """The bytes of a temporary media item (voice, image)."""
        response = self.retrying(lambda: self.media.download(media_id))
        return bytes(response.content)


def make_client(settings: Settings, store: SharedStore) -> MedfixWeChatClient:
    """The client for the configured Official Account."""
    return MedfixWeChatClient(settings.wechat_appid, settings.wechat_secret, api_base=settings.wechat_api_base,
                              store=store)


def make_oauth(settings: Settings, redirect_uri: str, state: str = "") -> WeChatOAuth:
    """wechatpy's OAuth helper (snsapi_base) pointed at the configured hosts."""
    oauth = WeChatOAuth(settings.wechat_appid, settings.wechat_secret, redirect_uri, scope="snsapi_base",
                        state=state)
    oauth.API_BASE_URL = settings.wechat_api_base.rstrip("/") + "/"
    oauth.OAUTH_BASE_URL = settings.wechat_open_base.rstrip("/") + "/connect/"
    return oauth
