"""Issue #13 (7): live sockets re-check their sign-in, refuse foreign origins and keep credentials out of URLs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.websockets import WebSocketDisconnect

from cloud.auth.models import User
from cloud.config import Settings
from cloud.main import create_app
from tests.cloud.tickets.helpers import submit
from tests.cloud.world import PASSWORD, World


@pytest.fixture
def quick(settings: Settings) -> Iterator[TestClient]:
    """A client whose sockets re-check their sign-in every 0.2 s."""
    with TestClient(create_app(settings.model_copy(update={"ws_recheck_s": 0.2}))) as client:
        yield client


def _closed_with(ws, code: int) -> None:  # noqa: ANN001
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            ws.receive_json()
    assert closed.value.code == code


@pytest.mark.parametrize("path", ["/ws/console", "/ws/groups"])
def test_a_logout_closes_the_open_socket(quick: TestClient, world: World, path: str) -> None:
    token = quick.post("/api/v1/auth/token", data={"username": "agent", "password": PASSWORD})
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    with quick.websocket_connect(path, headers=headers) as ws:
        assert ws.receive_json()["type"] == "hello"
        assert quick.post("/api/v1/auth/logout", headers=headers).status_code == 204
        _closed_with(ws, 4401)


def test_a_disabled_account_is_dropped(quick: TestClient, world: World) -> None:
    with quick.websocket_connect("/ws/console", headers=world.headers("agent")) as ws:
        assert ws.receive_json()["type"] == "hello"
        with quick.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            session.execute(update(User).where(User.id == world.users["agent"]).values(is_active=False))
            session.commit()
        _closed_with(ws, 4401)


def test_a_page_of_another_site_cannot_open_the_feed(client: TestClient, world: World) -> None:
    agent = world.headers("agent")
    for path in ("/ws/console", "/ws/groups", "/ws/tickets/1"):
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
                path, headers={**agent, "Origin": "https://evil.example"}) as ws:
            ws.receive_json()
        assert refused.value.code == 4403, path
    for origin in ("http://testserver", "http://127.0.0.1:8000"):  # the server's own, and public_url's
        with client.websocket_connect("/ws/console", headers={**agent, "Origin": origin}) as ws:
            assert ws.receive_json()["type"] == "hello"


def test_configured_origins_are_allowed(settings: Settings, world: World) -> None:
    allowed = settings.model_copy(update={"allowed_origins": ["https://wx.hospital.example"]})
    with TestClient(create_app(allowed)) as client, client.websocket_connect(
            "/ws/console", headers={**world.headers("agent"), "Origin": "https://wx.hospital.example"}) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_a_token_in_the_url_is_not_accepted(client: TestClient, world: World) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
            f"/ws/console?token={world.tokens['agent']}") as ws:
        ws.receive_json()
    assert refused.value.code == 4401


def test_the_reporter_key_comes_as_the_first_message(client: TestClient, world: World) -> None:
    body = submit(client, world).json()
    ticket_id = body["ticket"]["id"]
    # The right key in the URL counts for nothing: only the first message's key does.
    with client.websocket_connect(f"/ws/tickets/{ticket_id}?k={body['reporter_key']}") as ws:
        ws.send_json({"type": "auth", "k": "not-the-key"})
        _closed_with(ws, 4404)
    with client.websocket_connect(f"/ws/tickets/{ticket_id}", headers=world.headers("agent")) as ws:
        client.post(f"/api/v1/tickets/{ticket_id}/actions", headers=world.headers("agent"),
                    json={"action": "answer", "text": "已远程处理", "fault_category": "other"})
        assert ws.receive_json()["ticket_id"] == ticket_id  # a session needs no key
