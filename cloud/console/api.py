"""WebSocket endpoints: the staff console feed and a ticket's live status for its reporter."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from cloud.auth import service as auth_service
from cloud.auth.models import DESK_ROLES, Role, User, Verification
from cloud.console import guard
from cloud.console.hub import Connection, Hub, Message
from cloud.tickets.models import Ticket
from cloud.tickets.service import Viewer, can_view

router = APIRouter()


def wants_for(user: User) -> Any:
    """What a signed-in user hears: the desk everything, others what concerns them."""

    def wants(message: Message) -> bool:
        if message.get("type") == "notification":
            return bool(message.get("user_id") == user.id)
        if message.get("type") != "ticket":
            return False
        if user.role in DESK_ROLES:
            return True
        if user.role == Role.engineer:
            return user.id in (message.get("engineer_id"), message.get("previous_engineer_id"))
        return user.verification == Verification.verified and message.get("hospital_id") == user.hospital_id

    return wants


async def pump(websocket: WebSocket, hub: Hub, connection: Connection,
               on_ping: Callable[[], Awaitable[None]] | None = None, *,
               recheck: guard.Recheck | None = None) -> None:
    """Forward queued messages until the browser goes away; answer its pings (and tell on_ping of each); every
    ws_recheck_s ask recheck whether the sign-in still holds, and close with 4401 once it does not.

    The one live-socket loop of the console, the ticket feed and the service groups; the caller unregisters
    nothing itself. One sending and one receiving task for the connection's life (not a task per message): with
    many consoles open, every push costs each of them a queue get and a send, nothing more."""

    async def receive() -> None:
        while True:
            text = await websocket.receive_text()
            if text == "ping":
                await websocket.send_text("pong")
                if on_ping is not None:
                    await on_ping()

    async def send() -> None:
        while True:
            text = await connection.queue.get()  # already JSON: serialized once for every connection
            if connection.overflowed:
                await websocket.close(code=1013, reason="too slow; reconnect")
                return
            await websocket.send_text(connection.next_frame(text))  # with batches, whatever queued up meanwhile

    async def watch() -> None:
        assert recheck is not None
        every = websocket.app.state.settings.ws_recheck_s
        while True:
            await asyncio.sleep(every)
            if not await recheck():
                code, reason = guard.SIGNED_OUT
                await websocket.close(code=code, reason=reason)
                return

    tasks = {asyncio.create_task(receive()), asyncio.create_task(send())}
    if recheck is not None:
        tasks.add(asyncio.create_task(watch()))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
        hub.unregister(connection)


async def refuse(websocket: WebSocket, refusal: tuple[int, str]) -> None:
    """Close the handshake with refusal's code and reason."""
    code, reason = refusal
    await websocket.close(code=code, reason=reason)


@router.websocket("/ws/console")
async def console_feed(websocket: WebSocket) -> None:
    """Live ticket changes and notifications for a signed-in user (session cookie, or Authorization: Bearer on the
    handshake; never a token in the URL), from an allowed origin; closes with 4401 once the sign-in ends.

    With ?batch=1 a frame may carry a JSON array of messages instead of one message (cloud/console/hub.py)."""
    if not guard.origin_allowed(websocket, websocket.app.state.settings):
        await refuse(websocket, guard.FOREIGN_ORIGIN)
        return
    token = guard.socket_token(websocket)
    user = await asyncio.to_thread(guard.user_of, websocket, token)
    if user is None or token is None:
        await websocket.close(code=4401, reason="sign in first")
        return
    hub: Hub = websocket.app.state.hub
    await websocket.accept()
    connection = hub.register(wants_for(user), batches=websocket.query_params.get("batch") == "1")
    await websocket.send_json({"type": "hello", "user_id": user.id, "role": user.role.value})
    await pump(websocket, hub, connection, recheck=guard.still_signed_in(websocket, token))


def _may_view(websocket: WebSocket, ticket_id: int, token: str | None, key: str | None) -> bool:
    settings = websocket.app.state.settings
    with websocket.app.state.sessionmaker() as session:
        user = auth_service.user_for_token(session, token=token) if token else None
        ticket = session.get(Ticket, ticket_id)
        return ticket is not None and can_view(Viewer(user=user, reporter_key=key), ticket, settings)


@router.websocket("/ws/tickets/{ticket_id}")
async def ticket_feed(websocket: WebSocket, ticket_id: int) -> None:
    """Live status of one ticket for whoever may see it: a session, or its reporter link key sent as the first
    message (`{"type": "auth", "k": "..."}`, never in the URL). Re-checked every ws_recheck_s."""
    if not guard.origin_allowed(websocket, websocket.app.state.settings):
        await refuse(websocket, guard.FOREIGN_ORIGIN)
        return
    token = guard.socket_token(websocket)
    key: str | None = None
    allowed = await asyncio.to_thread(_may_view, websocket, ticket_id, token, None)
    await websocket.accept()
    if not allowed:  # a reporter's link: its key comes first
        key = await guard.first_message_key(websocket)
        allowed = key is not None and await asyncio.to_thread(_may_view, websocket, ticket_id, token, key)
    if not allowed:
        await websocket.close(code=4404, reason="ticket not found")
        return
    hub: Hub = websocket.app.state.hub
    connection = hub.register(lambda m: m.get("type") == "ticket" and m.get("ticket_id") == ticket_id)

    async def recheck() -> bool:
        return await asyncio.to_thread(_may_view, websocket, ticket_id, token, key)

    await pump(websocket, hub, connection, recheck=recheck)
