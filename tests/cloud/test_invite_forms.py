"""Issue #13 (5, continued): the reporter's invite-code forms (/register, /report/bind) limit guesses like
/api/v1/auth/verify and the label-lost form: per address and minute, and wrong codes lock out for a while."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.cloud.world import World

ZH = {"Accept-Language": "zh-CN"}


def _register(client: TestClient, code: str, username: str = "zhou") -> httpx.Response:
    return client.post("/register", headers=ZH, follow_redirects=False,
                       data={"full_name": "周医生", "phone": "13900001111", "invite_code": code,
                             "username": username, "password": "long-enough-pw"})


@pytest.mark.usefixtures("one_rate_window")
def test_register_is_limited_per_address_and_minute(client: TestClient, world: World) -> None:
    app = client.app
    app.state.settings = app.state.settings.model_copy(update={"invite_attempts_per_minute": 3})  # type: ignore[attr-defined]
    for guess in ("AAAA-1111", "BBBB-2222", "CCCC-3333"):
        assert _register(client, guess).status_code == 422
    limited = _register(client, "RJ-INVITE")  # even the right code waits
    assert limited.status_code == 429 and "尝试次数过多" in limited.text


@pytest.mark.usefixtures("one_rate_window")
def test_wrong_invite_codes_on_register_lock_the_address_out(client: TestClient, world: World) -> None:
    for n in range(5):
        assert _register(client, f"GUESS-{n:04d}").status_code == 422
    locked = _register(client, "RJ-INVITE")
    assert locked.status_code == 429 and "邀请码错误次数过多" in locked.text


@pytest.mark.usefixtures("one_rate_window")
def test_bind_is_limited_and_wrong_codes_lock_the_account(client: TestClient, world: World) -> None:
    headers = {**ZH, **world.headers("lab_new")}
    for n in range(5):
        wrong = client.post("/report/bind", data={"invite_code": f"GUESS-{n:04d}"}, headers=headers)
        assert wrong.status_code == 403 and "邀请码不正确" in wrong.text
    locked = client.post("/report/bind", data={"invite_code": "RJ-INVITE"}, headers=headers, follow_redirects=False)
    assert locked.status_code == 429 and "邀请码错误次数过多" in locked.text
    assert client.get("/api/v1/auth/me", headers=world.headers("lab_new")).json()["verification"] != "verified"


@pytest.mark.usefixtures("one_rate_window")
def test_bind_tries_per_address_and_minute(client: TestClient, world: World) -> None:
    app = client.app
    app.state.settings = app.state.settings.model_copy(update={"invite_attempts_per_minute": 2})  # type: ignore[attr-defined]
    headers = {**ZH, **world.headers("lab_new")}
    for guess in ("AAAA-1111", "BBBB-2222"):
        assert client.post("/report/bind", data={"invite_code": guess}, headers=headers).status_code == 403
    limited = client.post("/report/bind", data={"invite_code": "RJ-INVITE"}, headers=headers)
    assert limited.status_code == 429 and "尝试次数过多" in limited.text
