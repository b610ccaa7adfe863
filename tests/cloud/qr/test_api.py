"""QR API: images per role and tenant, reissue by admins, label PDFs, the public code lookup."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.config import Settings
from cloud.qr.models import QrCode
from tests.cloud.qr.pdftext import page_count, strings
from tests.cloud.world import World

IMAGE_KINDS = ("qr.png", "qr.svg")


def _get_code(client: TestClient, world: World, path: str) -> str:
    response = client.get(path, headers=world.headers("admin"))
    assert response.status_code == 200, response.text
    filename = response.headers["content-disposition"].split('filename="')[1].rstrip('"')
    return filename.rsplit("-", 1)[1].split(".")[0]


def test_device_and_group_images_for_staff_and_the_devices_own_lab_users(
        client: TestClient, world: World, group_a: int) -> None:
    device = world.devices_a[0]
    for base in (f"/api/v1/devices/{device}", f"/api/v1/groups/{group_a}"):
        for kind in IMAGE_KINDS:
            for user in ("admin", "agent", "engineer", "center", "lab_a"):
                response = client.get(f"{base}/{kind}", headers=world.headers(user))
                assert response.status_code == 200, (base, kind, user, response.text)
                expected = "image/png" if kind.endswith("png") else "image/svg+xml"
                assert response.headers["content-type"] == expected
                assert "no-cache" in response.headers["cache-control"]


def test_images_hide_other_hospitals_and_refuse_unverified_and_anonymous_users(
        client: TestClient, world: World, group_a: int) -> None:
    for base in (f"/api/v1/devices/{world.devices_a[0]}", f"/api/v1/groups/{group_a}"):
        for kind in IMAGE_KINDS:
            assert client.get(f"{base}/{kind}", headers=world.headers("lab_b")).status_code == 404
            assert client.get(f"{base}/{kind}", headers=world.headers("lab_new")).status_code == 403
            assert client.get(f"{base}/{kind}").status_code == 401
    assert client.get("/api/v1/devices/999999/qr.png", headers=world.headers("admin")).status_code == 404


def test_png_is_a_real_image_and_the_same_code_is_served_every_time(
        client: TestClient, world: World, db: Session, settings: Settings) -> None:
    path = f"/api/v1/devices/{world.devices_a[1]}/qr.png?scale=6"
    response = client.get(path, headers=world.headers("lab_a"))
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (41 * 6, 41 * 6)
    first = _get_code(client, world, path)
    assert _get_code(client, world, path) == first
    rows = db.execute(select(QrCode).where(QrCode.target_id == world.devices_a[1])).scalars().all()
    assert [r.code for r in rows] == [first]
    info = client.get(f"/api/v1/qr/{first}").json()
    assert info["url"] == f"{settings.public_url}/r/{first}"


def test_reissue_is_for_admins_and_the_old_code_answers_replaced(
        client: TestClient, world: World, group_a: int, settings: Settings) -> None:
    for base in (f"/api/v1/devices/{world.devices_a[0]}", f"/api/v1/groups/{group_a}"):
        old = _get_code(client, world, f"{base}/qr.svg")
        for user in ("agent", "engineer", "center", "lab_a", "lab_b"):
            assert client.post(f"{base}/qr/reissue", headers=world.headers(user)).status_code == 403, user
        assert client.post(f"{base}/qr/reissue").status_code == 401
        response = client.post(f"{base}/qr/reissue", headers=world.headers("admin"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["replaced_code"] == old and body["code"] != old
        assert body["url"] == f"{settings.public_url}/r/{body['code']}"
        info = client.get(f"/api/v1/qr/{old}").json()
        assert info["status"] == "replaced"
        assert info["current_code"] == body["code"]
        assert info["url"] == body["url"]
        assert client.get(f"/api/v1/qr/{body['code']}").json()["status"] == "active"
    assert client.post("/api/v1/devices/999999/qr/reissue", headers=world.headers("admin")).status_code == 404


def test_code_lookup_is_public_and_unknown_codes_are_404(client: TestClient, world: World, group_a: int) -> None:
    code = _get_code(client, world, f"/api/v1/groups/{group_a}/qr.png")
    info = client.get(f"/api/v1/qr/{code.lower()}").json()
    assert info == {"code": code, "kind": "device_group", "target_id": group_a, "status": "active",
                    "current_code": code, "url": info["url"]}
    missing = client.get("/api/v1/qr/ZZZZZZZZZZ")
    assert missing.status_code == 404
    assert "unknown" in missing.json()["detail"]


def test_label_pdf_for_a_mixed_selection_in_the_order_given(
        client: TestClient, world: World, group_a: int, group_b: int) -> None:
    devices = [world.devices_b[1], world.devices_a[3], world.devices_a[0]]
    body = {"template": "thermal-50x30", "devices": devices, "groups": [group_b, group_a]}
    response = client.post("/api/v1/labels", json=body, headers=world.headers("agent"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-label-count"] == "5"
    pdf = response.content
    assert page_count(pdf) == 5
    text = strings(pdf)
    devices_info = {d["id"]: d for d in client.get(
        "/api/v1/devices?limit=50", headers=world.headers("admin")).json()["items"]}
    groups_info = {g: client.get(f"/api/v1/groups/{g}", headers=world.headers("admin")).json()
                   for g in (group_a, group_b)}
    expected_serials = [devices_info[d]["serial"] for d in devices]
    assert [s for s in text if s in expected_serials] == expected_serials
    for d in devices:
        assert devices_info[d]["system_number"] in text
    assert [s for s in text if s.startswith("MG-")] == [groups_info[group_b]["system_number"],
                                                        groups_info[group_a]["system_number"]]
    assert "生化免疫流水线" in text and "血液分析线" in text
    assert "设备组 · 2 台设备" in text and "设备组 · 1 台设备" in text
    joined = "".join(text)  # a long hospital name wraps onto two lines of a thermal label
    assert "上海交通大学医学院附属瑞金医院" in joined and "复旦大学附属中山医院" in joined
    # Labels reuse the codes the images already show: printing never reissues.
    a4 = client.post("/api/v1/labels", json={**body, "template": "a4-3x8"}, headers=world.headers("admin"))
    assert page_count(a4.content) == 1


def test_label_pdf_uses_the_existing_codes(client: TestClient, world: World, db: Session) -> None:
    code = _get_code(client, world, f"/api/v1/devices/{world.devices_a[2]}/qr.png")
    body = {"template": "a4-3x8", "devices": [world.devices_a[2], world.devices_a[2]]}
    assert client.post("/api/v1/labels", json=body, headers=world.headers("admin")).status_code == 200
    rows = db.execute(select(QrCode).where(QrCode.target_id == world.devices_a[2])).scalars().all()
    assert [r.code for r in rows] == [code]


def test_labels_are_for_admins_and_agents_only(client: TestClient, world: World) -> None:
    body = {"template": "a4-3x8", "devices": [world.devices_a[0]]}
    for user in ("engineer", "center", "lab_a", "lab_new"):
        assert client.post("/api/v1/labels", json=body, headers=world.headers(user)).status_code == 403, user
    assert client.post("/api/v1/labels", json=body).status_code == 401


def test_labels_reject_unknown_ids_listing_them_and_empty_or_bad_requests(
        client: TestClient, world: World, group_a: int) -> None:
    admin = world.headers("admin")
    body = {"template": "a4-3x8", "devices": [world.devices_a[0], 999_998, 999_999], "groups": [group_a, 888_888]}
    response = client.post("/api/v1/labels", json=body, headers=admin)
    assert response.status_code == 422
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert errors["devices"]["ids"] == [999_998, 999_999]
    assert "999998" in errors["devices"]["message"]
    assert errors["groups"]["ids"] == [888_888]
    empty = client.post("/api/v1/labels", json={"template": "a4-3x8"}, headers=admin)
    assert empty.status_code == 422
    bad = client.post("/api/v1/labels", json={"template": "a5", "devices": [world.devices_a[0]]}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "template"
