"""Login, tokens, cookie sessions, roles, registration and verification."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.cloud.world import PASSWORD, World, sign_in_form


def test_password_login_returns_a_bearer_token_that_works(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "agent", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "agent"
    assert me.json()["role"] == "agent"


def test_wrong_password_is_401_and_gives_no_token(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "agent", "password": "wrong-password"})
    assert response.status_code == 401
    assert "access_token" not in response.json()


def test_unknown_user_and_wrong_password_answer_alike(client: TestClient, world: World) -> None:
    a = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "whatever1"})
    b = client.post("/api/v1/auth/token", data={"username": "agent", "password": "whatever1"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


def test_passwords_are_stored_as_argon2_hashes(db, world: World) -> None:
    from cloud.auth.models import User

    user = db.get(User, world.users["admin"])
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_no_token_is_401(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/devices").status_code == 401


def test_logout_revokes_the_token(client: TestClient, world: World) -> None:
    token = client.post("/api/v1/auth/token", data={"username": "engineer", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_page_login_sets_an_httponly_cookie_session(client: TestClient, world: World) -> None:
    response = sign_in_form(client, "admin")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "medfix_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert client.get("/api/v1/auth/me").json()["username"] == "admin"


def test_cookie_session_changes_need_the_csrf_header(client: TestClient, world: World) -> None:
    sign_in_form(client, "admin")
    body = {"name": "新院区", "latitude": 31.0, "longitude": 121.0}
    refused = client.post("/api/v1/hospitals", json=body)
    assert refused.status_code == 403
    accepted = client.post("/api/v1/hospitals", json=body, headers={"X-Requested-With": "medfix"})
    assert accepted.status_code == 201
    # A plain HTML form cannot set the header: the browser's word on where the post came from counts instead.
    for forged in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                   {"Origin": "https://evil.example"}, {"Origin": "null"},
                   {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"}):
        assert client.post("/api/v1/hospitals", json=body, headers=forged).status_code == 403, forged
    for own in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": "http://testserver"}):
        assert client.post("/api/v1/hospitals", json=body | {"name": f"院区 {len(own)}{next(iter(own))}"},
                           headers=own).status_code == 201, own


def test_wrong_role_is_403(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/hospitals", json={"name": "X"}, headers=world.headers("agent"))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


def test_registration_with_invite_code_verifies_at_once(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/auth/register", json={
        "username": "newbie", "password": "long-enough-pw", "full_name": "陈老师", "phone": "13912345678",
        "hospital_id": world.hospital_a, "invite_code": "RJ-INVITE"})
    assert response.status_code == 201
    assert response.json()["verification"] == "verified"


def test_registration_with_another_hospitals_code_creates_nothing(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/auth/register", json={
        "username": "sneaky", "password": "long-enough-pw", "full_name": "X", "phone": "13912345678",
        "hospital_id": world.hospital_a, "invite_code": "ZS-INVITE"})
    assert response.status_code == 403
    login = client.post("/api/v1/auth/token", data={"username": "sneaky", "password": "long-enough-pw"})
    assert login.status_code == 401


def test_unverified_lab_user_sees_no_devices_until_verified(client: TestClient, world: World) -> None:
    headers = world.headers("lab_new")
    assert client.get("/api/v1/devices", headers=headers).status_code == 403
    assert client.post("/api/v1/auth/verify", json={"invite_code": "wrong"}, headers=headers).status_code == 403
    assert client.post("/api/v1/auth/verify", json={"invite_code": "RJ-INVITE"}, headers=headers).status_code == 200
    assert client.get("/api/v1/devices", headers=headers).json()["total"] == len(world.devices_a)


def test_admin_approval_verifies_a_lab_user(client: TestClient, world: World) -> None:
    user_id = world.users["lab_new"]
    pending = client.get("/api/v1/users?verification=unverified", headers=world.headers("admin")).json()
    assert [u["username"] for u in pending] == ["lab_new"]
    response = client.post(f"/api/v1/users/{user_id}/verify", headers=world.headers("admin"))
    assert response.json()["verification"] == "verified"


def test_disabling_an_account_ends_its_sessions(client: TestClient, world: World) -> None:
    response = client.patch(f"/api/v1/users/{world.users['engineer']}", json={"is_active": False},
                            headers=world.headers("admin"))
    assert response.status_code == 200
    assert client.get("/api/v1/auth/me", headers=world.headers("engineer")).status_code == 401


def test_duplicate_username_is_409(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/users", headers=world.headers("admin"), json={
        "username": "AGENT", "password": "long-enough-pw", "role": "agent"})
    assert response.status_code == 409


def test_lab_user_without_hospital_is_422(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/users", headers=world.headers("admin"), json={
        "username": "orphan", "password": "long-enough-pw", "role": "lab_user"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "hospital_id"
