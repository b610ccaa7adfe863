"""Security finding 4 of issue #13: sign-in backs off per user name and address, Argon2 runs in a few slots at a
time, the HTML form carries a CSRF token, and expired or revoked tokens are purged."""

from __future__ import annotations

import re
import threading
import types
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import cloud.ratelimit
from cloud.auth import service as auth_service
from cloud.auth import throttle
from cloud.auth.models import AuthToken, User
from cloud.db import utcnow
from cloud.ratelimit import Lockout
from tests.cloud.world import PASSWORD, World, sign_in_form
from tests.conftest import need, port_open

TOKEN = "/api/v1/auth/token"


def _clock(monkeypatch: pytest.MonkeyPatch, at: float) -> None:
    monkeypatch.setattr(cloud.ratelimit, "time", types.SimpleNamespace(time=lambda: at))


def _try(client: TestClient, username: str, password: str = "wrong") -> int:
    return client.post(TOKEN, data={"username": username, "password": password}).status_code


def test_failed_passwords_lock_the_user_name_with_growing_backoff(
        client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _clock(monkeypatch, 1_800_000_000.0)
    assert [_try(client, "agent") for _ in range(5)] == [401] * 5
    refused = client.post(TOKEN, data={"username": "AGENT", "password": PASSWORD})  # even the right password
    assert refused.status_code == 429 and refused.json()["retry_after"] == 30
    assert _try(client, "engineer", PASSWORD) == 200  # other names from the same address still sign in
    _clock(monkeypatch, 1_800_000_031.0)
    assert _try(client, "agent") == 401
    assert client.post(TOKEN, data={"username": "agent", "password": PASSWORD}).json()["retry_after"] == 60
    _clock(monkeypatch, 1_800_000_100.0)
    assert _try(client, "agent", PASSWORD) == 200  # and a success clears the name's failures
    assert [_try(client, "agent") for _ in range(4)] == [401] * 4


def test_an_address_guessing_many_names_is_locked(client: TestClient, world: World, one_rate_window: None) -> None:
    assert {_try(client, f"nobody{i}") for i in range(throttle.ADDRESS_LIMITS["free"])} == {401}
    assert _try(client, "engineer", PASSWORD) == 429


def test_the_html_form_needs_its_csrf_token_and_backs_off_too(client: TestClient, world: World,
                                                             one_rate_window: None) -> None:
    page = client.get("/login")
    assert 'name="csrf"' in page.text and "medfix_login_csrf=" in page.headers["set-cookie"]
    forged = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": "guessed"},
                         follow_redirects=False, headers={"Accept-Language": "zh-CN"})
    assert forged.status_code == 403 and "登录页面已过期" in forged.text
    assert "medfix_session" not in forged.headers.get("set-cookie", "")
    client.cookies.clear()
    bare = client.post("/login", data={"username": "admin", "password": PASSWORD}, follow_redirects=False)
    assert bare.status_code == 403
    for _ in range(5):
        assert sign_in_form(client, "admin", "wrong").status_code == 401
    locked = client.post("/login", data={"username": "admin", "password": PASSWORD,
                                         "csrf": client.cookies.get("medfix_login_csrf")},
                         headers={"Accept-Language": "zh-CN"}, follow_redirects=False)
    assert locked.status_code == 429 and "登录失败次数过多" in locked.text


def test_argon2_runs_in_a_few_slots_and_a_flood_gets_busy(
        client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch, one_rate_window: None) -> None:
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(throttle, "_hashing", slots)
    monkeypatch.setattr(throttle, "HASH_WAIT_S", 0.05)
    assert slots.acquire()  # another request is hashing
    assert _try(client, "agent", PASSWORD) == 503
    busy = client.post("/login", data={"username": "agent", "password": PASSWORD,
                                       "csrf": client.get("/login").text.split('name="csrf" value="')[1][:43]},
                       headers={"Accept-Language": "zh-CN"}, follow_redirects=False)
    assert busy.status_code == 503 and "服务器繁忙" in busy.text
    slots.release()
    assert _try(client, "agent", PASSWORD) == 200


def test_expired_and_revoked_tokens_are_purged(db, world: World) -> None:  # noqa: ANN001
    user = db.execute(select(User).where(User.username == "agent")).scalar_one()
    live = auth_service.issue_token(db, user=user, ttl=timedelta(hours=1))
    revoked = auth_service.issue_token(db, user=user, ttl=timedelta(hours=1))
    auth_service.revoke_token(db, token=revoked)
    auth_service.issue_token(db, user=user, ttl=timedelta(seconds=-1))
    db.commit()
    before = db.query(AuthToken).count()
    assert auth_service.purge_tokens(db, now=utcnow()) == 2
    db.commit()
    assert db.query(AuthToken).count() == before - 2
    assert auth_service.user_for_token(db, token=live) is not None


def test_the_lockout_is_shared_through_redis() -> None:
    need(port_open("127.0.0.1", 6379), "Redis")
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    first, second = (Lockout("redis://127.0.0.1:6379/0", namespace=namespace, free=2, base_s=10) for _ in "ab")
    assert first.failed("x", now=100.0) == 0 and second.failed("x", now=101.0) == 10
    assert first.retry_after("x", now=105.0) == 6
    second.succeeded("x")
    assert first.retry_after("x", now=105.0) == 0


def test_the_reporters_phone_sign_in_carries_the_token_too(client: TestClient, world: World,
                                                          one_rate_window: None) -> None:
    page = client.get("/login/reporter?next=/report/hospital")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None and "medfix_login_csrf=" in page.headers["set-cookie"]
    signed_in = client.post("/login", data={"username": "lab_a", "password": PASSWORD, "csrf": found.group(1),
                                            "next": "/report/hospital"}, follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/report/hospital"
