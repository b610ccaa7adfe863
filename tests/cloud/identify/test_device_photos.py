"""Admins keep several photos per device: thumbnails, the registry's photo list in step, removal, scope."""

from __future__ import annotations

from cloud.registry.models import Device
from tests.cloud.identify.pictures import device_picture, jpeg


def test_admin_uploads_lists_and_removes_device_photos(client, db, world) -> None:  # noqa: ANN001
    device_id = world.devices_a[1]
    admin = world.headers("admin")
    ids = []
    for seed in (11, 12):
        response = client.post(f"/api/v1/devices/{device_id}/photos", headers=admin,
                               files={"photo": ("d.png", jpeg(device_picture(seed)), "image/jpeg")})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    listed = client.get(f"/api/v1/devices/{device_id}/photos", headers=admin).json()
    assert [p["id"] for p in listed] == ids
    thumb = client.get(listed[0]["thumbnail_url"], headers=admin)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert client.get(listed[0]["url"], headers=world.headers("lab_a")).status_code == 200
    assert client.get(listed[0]["url"], headers=world.headers("lab_b")).status_code == 404  # other tenant
    device = client.get(f"/api/v1/devices/{device_id}", headers=admin).json()
    assert len(device["photos"]) == 2
    assert client.delete(f"/api/v1/devices/{device_id}/photos/{ids[0]}", headers=admin).status_code == 204
    assert [p["id"] for p in client.get(f"/api/v1/devices/{device_id}/photos", headers=admin).json()] == ids[1:]
    db.expire_all()
    assert len(db.get(Device, device_id).photos) == 1
    assert client.delete(f"/api/v1/devices/{device_id}/photos/{ids[0]}", headers=admin).status_code == 404


def test_a_file_that_is_not_a_photo_is_refused_and_not_kept(client, db, world) -> None:  # noqa: ANN001
    device_id = world.devices_a[1]
    response = client.post(f"/api/v1/devices/{device_id}/photos", headers={**world.headers("admin"),
                           "Accept-Language": "zh-CN"}, files={"photo": ("x.jpg", b"GIF89a broken", "image/jpeg")})
    assert response.status_code == 422 and "无法读取" in response.json()["detail"]
    assert client.get(f"/api/v1/devices/{device_id}/photos", headers=world.headers("admin")).json() == []


def test_the_device_photo_page_and_the_report_page_button_speak_chinese(client, world) -> None:  # noqa: ANN001
    client.cookies.set("medfix_session", world.tokens["admin"])
    page = client.get(f"/admin/devices/{world.devices_a[0]}/photos")
    assert page.status_code == 200 and "设备照片" in page.text and "上传照片" in page.text
    assert f"/admin/devices/{world.devices_a[0]}/photos" in client.get("/admin/devices").text
    client.cookies.clear()
    report = client.get("/report")
    assert "拍照识别设备" in report.text
