"""Idempotent submission, upload checks, concurrency and tenant isolation of the ticket API."""

from __future__ import annotations

import threading
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.tickets.models import Ticket
from tests.cloud.tickets.helpers import act, label_code, png_bytes, submit, upload, webm_bytes
from tests.cloud.world import World


def _count(db) -> int:  # noqa: ANN001
    db.expire_all()
    return int(db.execute(select(func.count(Ticket.id))).scalar_one())


def test_a_retried_submission_creates_exactly_one_ticket(client: TestClient, world: World, db) -> None:
    key = uuid.uuid4().hex
    first = submit(client, world, key=key)
    again = submit(client, world, key=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["ticket"]["id"] == again.json()["ticket"]["id"]
    assert first.json()["reporter_key"] == again.json()["reporter_key"]
    assert again.json()["created"] is False
    assert _count(db) == 1


def test_concurrent_double_taps_create_one_ticket(client: TestClient, world: World, db) -> None:
    key = uuid.uuid4().hex
    results: list[int] = []

    def tap() -> None:
        results.append(submit(client, world, key=key).status_code)

    threads = [threading.Thread(target=tap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results).count(201) == 1 and all(code in (200, 201) for code in results)
    assert _count(db) == 1


def test_a_reused_key_with_another_body_is_422(client: TestClient, world: World, db) -> None:
    key = uuid.uuid4().hex
    submit(client, world, key=key)
    response = submit(client, world, key=key, description="另一台设备的问题")
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert _count(db) == 1


def test_submission_without_idempotency_key_is_422(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/tickets", json={"device_id": world.devices_a[0], "description": "x"})
    assert response.status_code == 422


def test_non_image_photo_is_refused_by_content(client: TestClient, world: World) -> None:
    response = upload(client, "photo", b"%PDF-1.4 pretending to be a jpeg")
    assert response.status_code == 422
    assert "not an image" in response.json()["errors"][0]["message"]


def test_oversized_photo_and_long_voice_are_refused(client: TestClient, world: World) -> None:
    big = b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024 + 10)
    assert upload(client, "photo", big).status_code == 422
    assert upload(client, "voice", webm_bytes(), duration_s=61).status_code == 422
    assert upload(client, "voice", png_bytes()).status_code == 422


def test_attachments_need_their_upload_key_and_bind_once(client: TestClient, world: World, db) -> None:
    photo = upload(client, "photo", png_bytes()).json()
    stolen = submit(client, world, attachments=[{"id": photo["id"], "key": "x" * 20}])
    assert stolen.status_code == 422
    assert _count(db) == 0  # nothing half-saved
    assert submit(client, world, attachments=[{"id": photo["id"], "key": photo["key"]}]).status_code == 201
    again = submit(client, world, attachments=[{"id": photo["id"], "key": photo["key"]}])
    assert again.status_code == 422


def test_two_agents_at_once_one_wins_the_other_gets_409(client: TestClient, world: World) -> None:
    created = submit(client, world).json()["ticket"]
    tid, version = created["id"], created["version"]
    first = act(client, tid, world.headers("agent"), "answer", text="请重启", version=version,
                fault_category="other")
    second = act(client, tid, world.headers("admin"), "dispatch", engineer_id=world.users["engineer"],
                 version=version)
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["current_version"] == first.json()["version"]
    assert client.get(f"/api/v1/tickets/{tid}", headers=world.headers("agent")).json()["status"] == "resolved"


def test_concurrent_actions_never_lose_an_update(client: TestClient, world: World) -> None:
    created = submit(client, world).json()["ticket"]
    tid, version = created["id"], created["version"]
    codes: list[int] = []

    def dispatch() -> None:
        codes.append(act(client, tid, world.headers("agent"), "dispatch", engineer_id=world.users["engineer"],
                         version=version).status_code)

    def answer() -> None:
        codes.append(act(client, tid, world.headers("admin"), "answer", text="远程解决", version=version,
                         fault_category="other").status_code)

    threads = [threading.Thread(target=dispatch), threading.Thread(target=answer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 409]
    timeline = client.get(f"/api/v1/tickets/{tid}", headers=world.headers("agent")).json()["timeline"]
    assert len(timeline) == 2  # submit + exactly one winner


def test_lab_user_cannot_report_or_read_another_hospitals_devices(client: TestClient, world: World) -> None:
    foreign = submit(client, world, device_id=world.devices_b[0], headers=world.headers("lab_a"))
    assert foreign.status_code == 404
    tid = submit(client, world, device_id=world.devices_b[0]).json()["ticket"]["id"]
    assert client.get(f"/api/v1/tickets/{tid}", headers=world.headers("lab_a")).status_code == 404
    assert client.get(f"/api/v1/tickets/{tid}", headers=world.headers("lab_b")).status_code == 200
    listing = client.get("/api/v1/tickets", headers=world.headers("lab_a")).json()
    assert listing["total"] == 0


def test_signed_in_reporter_is_prefilled_and_acts_as_reporter(client: TestClient, world: World) -> None:
    body = submit(client, world, headers=world.headers("lab_a"), reporter_name="", reporter_phone="").json()
    tid = body["ticket"]["id"]
    assert body["ticket"]["reporter_name"] == "lab_a"
    act(client, tid, world.headers("agent"), "answer", text="已处理", fault_category="other")
    assert act(client, tid, world.headers("lab_a"), "confirm").json()["status"] == "closed"


def test_engineers_only_act_on_tickets_dispatched_to_them(client: TestClient, world: World) -> None:
    tid = submit(client, world).json()["ticket"]["id"]
    assert act(client, tid, world.headers("engineer"), "accept").status_code == 409
    assert client.get(f"/api/v1/tickets/{tid}/engineers", headers=world.headers("engineer")).status_code == 403


def test_anonymous_report_needs_the_devices_label_code(client: TestClient, world: World, db) -> None:
    body = {"device_id": world.devices_a[0], "description": "无法开机"}
    without = client.post("/api/v1/tickets", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert without.status_code == 403
    other = label_code(client, world, world.devices_a[1])
    wrong = client.post("/api/v1/tickets", json={**body, "qr_code": other},
                        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert wrong.status_code == 403
    assert _count(db) == 0


def test_unverified_lab_users_need_the_label_like_anyone_without_a_trusted_account(client: TestClient,
                                                                                   world: World, db) -> None:
    # Issue #13 (2): a self-registered, unverified account must not report any device of the hospital by its id.
    unverified = world.headers("lab_new")
    for device_id in world.devices_a:
        refused = submit(client, world, device_id=device_id, headers=unverified)
        assert refused.status_code == 403, refused.text
    assert _count(db) == 0
    with_label = submit(client, world, device_id=world.devices_a[0], headers=unverified,
                        qr_code=label_code(client, world, world.devices_a[0]))
    assert with_label.status_code == 201
    # Verified lab users of the hospital and staff still report by id.
    assert submit(client, world, device_id=world.devices_a[1], headers=world.headers("lab_a")).status_code == 201
    assert submit(client, world, device_id=world.devices_b[0], headers=world.headers("agent")).status_code == 201
