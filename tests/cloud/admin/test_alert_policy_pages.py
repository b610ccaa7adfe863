"""Admin console, alert policies and maintenance windows: display names, minutes, hospital-zone times, confirmations."""

from __future__ import annotations

from datetime import UTC, datetime

from cloud.alerts.models import AlertPolicy, MaintenanceWindow


def _post(client, world, path, data, user="admin"):  # noqa: ANN001, ANN202
    return client.post(path, data=data, headers={**world.headers(user), "Accept": "application/json"})


def test_policies_are_created_edited_and_deleted_with_display_names(client, world, db) -> None:
    made = _post(client, world, "/admin/alerts/policies/new", {
        "metric": "reaction_disk_temp", "device_id": str(world.devices_a[0]), "sensitivity": "0.8",
        "min_duration": "5", "hysteresis": "0.1", "cooldown": "60", "resolve_after": "10", "enabled": "on",
        "learning": "0.5"})
    assert made.status_code == 200, made.text
    row = db.query(AlertPolicy).one()
    assert (row.min_duration_s, row.cooldown_s, row.sensitivity, row.enabled) == (300, 3600, 0.8, True)
    assert row.learning_hours == 0.5
    page = client.get("/admin/alerts", headers=world.headers("admin")).text
    table = page.split('id="policy-table"')[1].split("</table>")[0]
    assert "反应盘温度" in table and ">reaction_disk_temp<" not in table and "MF-000001" in table
    assert "学习期（小时）" in table and '<td class="num">0.5</td>' in table
    # The new-policy form says what an empty learning period means: the service's (0 h in the tests' settings).
    # and what an empty sensitivity means: the service's alert threshold.
    assert "留空：默认 0 小时" in page.split('id="policy-form"')[1] and "留空：默认 0.75" in page
    far = _post(client, world, f"/admin/alerts/policies/{row.id}", {"metric": "reaction_disk_temp",
                                                                    "learning": "1000"})
    assert far.status_code == 422 and far.json()["errors"][0]["field"] == "learning_hours"
    assert "720" in far.json()["errors"][0]["message"]
    dup = _post(client, world, "/admin/alerts/policies/new", {"metric": "reaction_disk_temp",
                                                             "device_id": str(world.devices_a[0])})
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "metric" and "已存在" in dup.json()["detail"]
    bad = _post(client, world, f"/admin/alerts/policies/{row.id}", {"metric": "reaction_disk_temp",
                                                                    "sensitivity": "2", "cooldown": "abc"})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"sensitivity", "cooldown_s"}
    wide = _post(client, world, f"/admin/alerts/policies/{row.id}", {"metric": "*", "enabled": ""})
    assert wide.status_code == 200
    db.expire_all()
    assert (db.get(AlertPolicy, row.id).metric, db.get(AlertPolicy, row.id).enabled) == ("*", False)
    assert db.get(AlertPolicy, row.id).learning_hours is None  # left empty: the service's period again
    assert "所有参数" in client.get("/admin/alerts", headers=world.headers("admin")).text
    assert _post(client, world, f"/admin/alerts/policies/{row.id}/delete", {}).status_code == 200
    db.expire_all()
    assert db.query(AlertPolicy).count() == 0
    assert client.get("/admin/alerts", headers=world.headers("engineer")).status_code == 403


def test_maintenance_windows_are_typed_in_the_hospital_zone(client, world, db) -> None:
    device = str(world.devices_a[1])
    backwards = _post(client, world, "/admin/alerts/windows/new", {"device_id": device, "starts_at": "2026-12-03T10:00",
                                                                   "ends_at": "2026-12-03T09:00"})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "ends_at"
    missing = _post(client, world, "/admin/alerts/windows/new", {"device_id": device, "ends_at": "2026-12-03T09:00"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "starts_at"
    made = _post(client, world, "/admin/alerts/windows/new", {"device_id": device, "starts_at": "2026-12-03T08:00",
                                                              "ends_at": "2026-12-03T12:30", "reason": "年度校准"})
    assert made.status_code == 200
    window = db.query(MaintenanceWindow).one()
    assert window.starts_at.astimezone(UTC) == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    page = client.get("/admin/alerts", headers=world.headers("admin")).text
    assert "2026-12-03 08:00" in page and "2026-12-03 12:30" in page and "年度校准" in page
    moved = _post(client, world, f"/admin/alerts/windows/{window.id}", {"device_id": device,
                                                                        "starts_at": "2026-12-03T09:00",
                                                                        "ends_at": "2026-12-03T12:30"})
    assert moved.status_code == 200
    assert _post(client, world, f"/admin/alerts/windows/{window.id}/delete", {}).status_code == 200
    db.expire_all()
    assert db.query(MaintenanceWindow).count() == 0
