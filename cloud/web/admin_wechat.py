"""Admin console: WeChat status: permanent QR codes used against the cap, failed template deliveries, resend."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.db import SessionDep
from cloud.deps import SettingsDep
from cloud.errors import Conflict, NotFound
from cloud.web.admin_forms import AdminPage, actor, done, refuse, translator
from cloud.web.admin_hospitals import admin_render
from cloud.wechat import status as wechat_status
from cloud.wechat.qrcodes import WARN_FRACTION

router = APIRouter(include_in_schema=False)


def _wechat(request: Request) -> Any:
    return getattr(request.app.state, "wechat", None)


def error_text(_: Any, error: str | None) -> str:
    """A delivery error as the admin reads it: the common causes in words, WeChat's own codes kept."""
    text = error or ""
    if text == wechat_status.NOT_BOUND:
        return str(_("The user has not bound WeChat."))
    if text.startswith("no WeChat template configured for"):
        return str(_("No template message is configured for this kind of notification."))
    if text.startswith("WeChat unreachable"):
        return str(_("WeChat could not be reached."))
    if text.startswith("WeChat error 43004"):
        return str(_("The user no longer follows the Official Account.")) + f" ({text})"
    return text


@router.get("/admin/wechat")
def wechat_page(request: Request, session: SessionDep, user: AdminPage, settings: SettingsDep) -> Response:
    """WeChat on or off; when on, QR codes against the cap and the failed template deliveries."""
    _ = translator(request)
    wechat = _wechat(request)
    if wechat is None:
        return admin_render(request, session, "admin/wechat.html", user, active="wechat", enabled=False)
    usage = wechat_status.qr_usage(session, appid=settings.wechat_appid, cap=settings.wechat_permanent_qr_cap)
    failed, total = wechat_status.failed_deliveries(session)
    return admin_render(
        request, session, "admin/wechat.html", user, active="wechat", enabled=True, appid=settings.wechat_appid,
        usage=usage, warn=usage.fraction >= WARN_FRACTION, failed=failed, total=total,
        people=wechat_status.recipients(session, failed),
        errors={d.id: error_text(_, d.error) for d in failed},
        resendable={d.id: d.error != wechat_status.NOT_BOUND for d in failed})


@router.post("/admin/wechat/deliveries/{delivery_id}/resend")
def wechat_resend(delivery_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Send a failed template message again through the WeChat channel."""
    wechat = _wechat(request)
    if wechat is None:
        return refuse(request, "WeChat is not enabled.", status=409)
    try:
        delivery = wechat_status.resend(session, delivery_id=delivery_id, channel=wechat.channel, actor=actor(user))
    except NotFound:
        return refuse(request, "Not found; reload the page.", status=404)
    except Conflict:
        return refuse(request, "This message was delivered already.", status=409)
    session.commit()
    if delivery.status == "sent":
        return done(request, "Sent again: delivered.")
    _ = translator(request)
    return refuse(request, _("Sent again, and it failed again:") + " " + error_text(_, delivery.error), status=502)
