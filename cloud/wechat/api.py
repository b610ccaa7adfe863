"""WeChat HTTP endpoints: the callback (GET verification, POST messages), the JS-SDK config, sign-in, media."""

from __future__ import annotations

import logging

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from cloud.wechat.callback import Rejected
from cloud.wechat.media import router as media_router
from cloud.wechat.oauth import router as oauth_router
from cloud.wechat.runtime import WeChat

log = logging.getLogger("medfix.wechat.api")

router = APIRouter(prefix="/wechat", tags=["wechat"])
MAX_CALLBACK_BYTES = 256 * 1024  # WeChat's XML is a few KB; anything larger is not from WeChat


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, read no further than limit bytes (None: it is larger, or says so up front)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def wechat_of(request: Request) -> WeChat:
    """The app's WeChat parts, or 404 when no Official Account is configured."""
    wechat: WeChat | None = getattr(request.app.state, "wechat", None)
    if wechat is None:
        raise HTTPException(status_code=404, detail="WeChat is not configured")
    return wechat


@router.get("/callback", response_class=PlainTextResponse)
def verify(request: Request, signature: str = "", timestamp: str = "", nonce: str = "",
           echostr: str = "") -> PlainTextResponse:
    """URL verification: echo echostr when the signature is WeChat's."""
    handler = wechat_of(request).handler
    try:
        return PlainTextResponse(handler.verify_url(signature=signature, timestamp=timestamp, nonce=nonce,
                                                    echostr=echostr))
    except Rejected as exc:
        log.warning("WeChat URL verification refused: %s", exc)
        return PlainTextResponse("forbidden", status_code=403)


@router.post("/callback")
async def receive(request: Request, background: BackgroundTasks, signature: str = "", timestamp: str = "",
                  nonce: str = "", encrypt_type: str = "", msg_signature: str = "") -> Response:
    """A message or event: answer at once; the effect runs after the response, once per message."""
    wechat = wechat_of(request)
    handler = wechat.handler
    body = await read_capped(request, MAX_CALLBACK_BYTES)
    if body is None:
        return PlainTextResponse("too large", status_code=413)
    try:
        inbound = handler.open(body, signature=signature, timestamp=timestamp, nonce=nonce,
                               encrypt_type=encrypt_type.lower(), msg_signature=msg_signature)
    except Rejected as exc:
        log.warning("WeChat callback refused: %s", exc)
        return PlainTextResponse("forbidden", status_code=403)
    message = inbound.message
    reply = await run_in_threadpool(handler.reply_for, message)
    # Dedupe and effect both come after the answer, in batches on the writer's thread (cloud/wechat/inbound.py):
    # the reply never waits for a write, and of WeChat's (possibly concurrent) retries only the delivery that
    # claims the key acts. Without the thread (or with its queue full) this request writes its own, after answering.
    if not wechat.writer.offer([message]):
        background.add_task(wechat.writer.write, [message])
    text = handler.seal(inbound, reply, nonce=nonce, timestamp=timestamp)
    media_type = "text/plain" if text == "success" else "application/xml"
    return Response(text, media_type=media_type)


@router.get("/jssdk-config")
def jssdk_config(request: Request, url: str) -> JSONResponse:
    """wx.config parameters for the page at url (one of ours)."""
    wechat = wechat_of(request)
    try:
        return JSONResponse(wechat.jssdk_config(url))
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)


# Sign in with WeChat (OAuth2) and media fetching live in their own modules; their routes join this router.
router.include_router(oauth_router)
router.include_router(media_router)
