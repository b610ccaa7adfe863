"""Admin console, users: create with a one-time password, roles and coverage, disable, reset, verification queue."""

from __future__ import annotations

from sqlalchemy import select

from cloud.audit.models import AuditLog
from cloud.auth.models import Role, User, Verification


def _post(client, world, path, data, user="admin"):  # noqa: ANN001, ANN202
    return client.post(path, data=data, headers={**world.headers(user), "Accept": "application/json"})


def _login(client, username: str, password: str) -> int:  # noqa: ANN001
    return client.post("/api/v1/auth/token", data={"username": username, "password": password}).status_code


def test_admin_creates_an_engineer_with_coverage_and_a_one_time_password(client, world, db) -> None:
    response = _post(client, world, "/admin/users/new", {
        "username": "wang.gong", "full_name": "王工", "phone": "13800138000", "role": "engineer",
        "service_hospital_ids": [str(world.hospital_a), str(world.hospital_b)],
        "categories": ["chemistry", "immunoassay"], "password": ""})
    assert response.status_code == 200, response.text
    secret = response.json()["secret"]
    assert len(secret) == 14
    user = db.execute(select(User).where(User.username == "wang.gong")).scalar_one()
    assert user.role == Role.engineer and user.full_name == "王工"
    assert sorted(user.service_hospital_ids) == sorted([world.hospital_a, world.hospital_b])
    assert user.categories == ["chemistry", "immunoassay"]
    assert _login(client, "wang.gong", secret) == 200
    page = client.get(f"/admin/users/{user.id}", headers=world.headers("admin"))
    assert "王工" in page.text and "工程师" in page.text and secret not in page.text


def test_creating_refuses_bad_input_clearly_and_saves_nothing(client, world, db) -> None:
    cases = [
        ({"username": "agent", "role": "agent"}, "该用户名已被使用"),
        ({"username": "x", "role": "agent"}, "用户名为"),
        ({"username": "new.lab", "role": "lab_user"}, "检验科用户须属于一家医院"),
        ({"username": "new.agent", "role": "agent", "capacity": "-1"}, "接单上限"),
        ({"username": "new.agent", "role": "agent", "password": "short"}, "密码至少 8 位"),
        ({"username": "new.agent", "role": "boss"}, "请选择角色"),
    ]
    before = db.execute(select(User.id)).all()
    for data, text in cases:
        response = _post(client, world, "/admin/users/new", data)
        assert response.status_code in (409, 422), data
        assert text in response.json()["detail"], (data, response.json())
    db.expire_all()
    assert db.execute(select(User.id)).all() == before


def test_roles_change_and_an_admin_cannot_demote_or_disable_themselves(client, world, db) -> None:
    path = f"/admin/users/{world.users['agent']}"
    changed = _post(client, world, path, {"full_name": "李客服", "phone": "021-64370045", "role": "service_center",
                                          "capacity": "12"})
    assert changed.status_code == 200
    db.expire_all()
    agent = db.get(User, world.users["agent"])
    assert (agent.role, agent.capacity, agent.full_name) == (Role.service_center, 12, "李客服")
    demote = _post(client, world, f"/admin/users/{world.users['admin']}", {"role": "agent"})
    assert demote.status_code == 409 and "不能取消自己账号的管理员角色" in demote.json()["detail"]
    disable_self = _post(client, world, f"/admin/users/{world.users['admin']}/active", {"active": "no"})
    assert disable_self.status_code == 409


def test_disable_ends_sessions_enable_restores_and_reset_gives_a_new_password(client, world, db) -> None:
    path = f"/admin/users/{world.users['engineer']}"
    assert client.get("/api/v1/auth/me", headers=world.headers("engineer")).status_code == 200
    assert _post(client, world, f"{path}/active", {"active": "no"}).status_code == 200
    assert client.get("/api/v1/auth/me", headers=world.headers("engineer")).status_code == 401
    assert _login(client, "engineer", "correct-horse-battery") == 401
    assert _post(client, world, f"{path}/active", {"active": "yes"}).status_code == 200
    assert _login(client, "engineer", "correct-horse-battery") == 200
    reset = _post(client, world, f"{path}/password", {})
    secret = reset.json()["secret"]
    assert _login(client, "engineer", "correct-horse-battery") == 401
    assert _login(client, "engineer", secret) == 200
    actions = {r.action for r in db.execute(select(AuditLog).where(
        AuditLog.entity == "user", AuditLog.entity_id == world.users["engineer"])).scalars()}
    assert {"update", "reset_password"} <= actions


def test_the_verification_queue_approves_and_rejects_with_a_reason(client, world, db) -> None:
    page = client.get("/admin/verifications", headers=world.headers("admin"))
    assert page.status_code == 200 and "lab_new" in page.text and "RJ-INVITE" in page.text
    no_reason = _post(client, world, f"/admin/users/{world.users['lab_new']}/reject", {"reason": " "})
    assert no_reason.status_code == 422 and "请填写驳回原因" in no_reason.json()["detail"]
    rejected = _post(client, world, f"/admin/users/{world.users['lab_new']}/reject", {"reason": "不是本院员工"})
    assert rejected.status_code == 200
    db.expire_all()
    user = db.get(User, world.users["lab_new"])
    assert not user.is_active and user.verification == Verification.unverified
    row = db.execute(select(AuditLog).where(AuditLog.action == "reject")).scalar_one()
    assert row.after["reason"] == "不是本院员工"
    assert "lab_new" not in client.get("/admin/verifications", headers=world.headers("admin")).text
    # A verified user is not in the queue and cannot be rejected; approving another goes through.
    again = _post(client, world, f"/admin/users/{world.users['lab_a']}/reject", {"reason": "x"})
    assert again.status_code == 409


def test_approving_verifies_and_the_list_filters(client, world, db) -> None:
    assert _post(client, world, f"/admin/users/{world.users['lab_new']}/verify", {}).status_code == 200
    db.expire_all()
    assert db.get(User, world.users["lab_new"]).verification == Verification.verified
    listing = client.get("/admin/users", params={"role": "lab_user", "hospital_id": world.hospital_a},
                         headers=world.headers("admin"))
    assert "lab_a" in listing.text and "lab_new" in listing.text and "lab_b" not in listing.text
    shown = listing.text.replace('value="lab_user"', "").replace("role=lab_user", "")  # option values, export links
    assert "检验科用户" in listing.text and "lab_user" not in shown
    disabled = client.get("/admin/users", params={"active": "no"}, headers=world.headers("admin"))
    assert "没有符合条件的用户" in disabled.text
