"""Backup reporting when the label is lost: by typed ID, by hospital inside its geofence, my devices."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cloud.registry.backup import distance_m, normalize_identifier
from tests.cloud.world import World

RUIJIN = {"latitude": 31.2117, "longitude": 121.4677}  # the seeded hospital A's coordinates
PEOPLES_SQUARE = {"latitude": 31.2304, "longitude": 121.4737}  # about 2 km away


def test_typed_ids_are_normalised() -> None:
    assert normalize_identifier(" mf-000 123 ") == "MF000123"
    assert normalize_identifier("c702_1834/07") == "C702183407"


def test_haversine_distance_is_right_within_a_few_metres() -> None:
    # Ruijin Hospital to People's Square, Shanghai: about 2.1 km.
    assert 2000 < distance_m(**{"lat1": 31.2117, "lon1": 121.4677, "lat2": 31.2304, "lon2": 121.4737}) < 2200


def test_by_id_tolerates_case_spaces_and_dashes(client: TestClient, world: World) -> None:
    system_number = client.get(f"/api/v1/devices/{world.devices_a[0]}", headers=world.headers("admin")).json()[
        "system_number"]
    for typed in ("c702-1", "C702 1", "c7021"):
        response = client.post("/report", data={"serial": typed, "number": system_number.lower().replace("-", " ")},
                               follow_redirects=False)
        assert response.status_code == 303, typed
        landing = client.get(response.headers["location"])
        assert "C702-1" in landing.text and "cobas c 702" in landing.text
    # Signed in as a verified user of the hospital, one of the two is enough and leads to the label's page.
    by_number = client.post("/report", data={"number": system_number.lower().replace("-", " ")},
                            headers=world.headers("lab_a"), follow_redirects=False)
    assert by_number.status_code == 303 and by_number.headers["location"].startswith("/r/")


def test_by_id_unknown_serial_says_so(client: TestClient, world: World) -> None:
    response = client.post("/report", data={"serial": "NO-SUCH-SERIAL", "number": "MF-999999"})
    assert response.status_code == 404
    assert "form-error" in response.text


def test_hospital_search_understands_chinese_pinyin_and_initials(client: TestClient, world: World) -> None:
    for query in ("瑞金", "ruijin", "rjyy", "RuiJin"):
        hits = client.get(f"/api/v1/hospitals/search?q={query}", headers=world.headers("agent")).json()
        assert [h["id"] for h in hits] == [world.hospital_a], query
    assert client.get("/api/v1/hospitals/search?q=zsyy", headers=world.headers("agent")).json()[0]["id"] == \
        world.hospital_b


def test_lab_users_only_find_their_own_hospital(client: TestClient, world: World) -> None:
    hits = client.get("/api/v1/hospitals/search?q=yiyuan", headers=world.headers("lab_a")).json()
    assert [h["id"] for h in hits] == [world.hospital_a]
    response = client.post(f"/api/v1/hospitals/{world.hospital_b}/nearby-devices", json=RUIJIN,
                           headers=world.headers("lab_a"))
    assert response.status_code == 404


def test_inside_the_geofence_lists_the_devices_with_their_repair_links(client: TestClient, world: World) -> None:
    response = client.post(f"/api/v1/hospitals/{world.hospital_a}/nearby-devices", json=RUIJIN,
                           headers=world.headers("lab_a"))
    assert response.status_code == 200
    devices = response.json()
    assert {d["id"] for d in devices} == set(world.devices_a)
    landing = client.get(f"/r/{devices[0]['code']}")
    assert landing.status_code == 200 and devices[0]["system_number"] in landing.text


def test_outside_the_geofence_is_refused_and_audited(client: TestClient, world: World) -> None:
    response = client.post(f"/api/v1/hospitals/{world.hospital_a}/nearby-devices", json=PEOPLES_SQUARE,
                           headers=world.headers("lab_a"))
    assert response.status_code == 403
    assert "800 m" in response.json()["detail"]
    audit = client.get(f"/api/v1/audit?entity=hospital&entity_id={world.hospital_a}",
                       headers=world.headers("admin")).json()["items"]
    assert audit[0]["action"] == "geofence_refused" and audit[0]["actor"] == "lab_a"
    assert 2000 < audit[0]["after"]["distance_m"] < 2200


def test_unverified_users_cannot_report_by_hospital(client: TestClient, world: World) -> None:
    response = client.post(f"/api/v1/hospitals/{world.hospital_a}/nearby-devices", json=RUIJIN,
                           headers=world.headers("lab_new"))
    assert response.status_code == 403


def test_my_devices_claim_list_and_remove(client: TestClient, world: World) -> None:
    headers = world.headers("lab_a")
    assert client.post("/api/v1/me/claims", json={"device_id": world.devices_a[0]}, headers=headers).status_code == 201
    assert client.post("/api/v1/me/claims", json={"device_id": world.devices_a[0]}, headers=headers).status_code == 409
    group = client.post("/api/v1/groups", json={"name": "线", "device_ids": world.devices_a[1:3]},
                        headers=world.headers("admin")).json()
    assert client.post("/api/v1/me/claims", json={"group_id": group["id"]}, headers=headers).status_code == 201
    mine = client.get("/api/v1/me/devices", headers=headers).json()
    assert [e["kind"] for e in mine] == ["device", "device_group"]
    assert [d["id"] for d in mine[1]["devices"]] == world.devices_a[1:3]
    assert all(len(e["code"]) == 10 for e in mine)
    # the codes the list needed were issued by the system, not by the person who opened their list
    issued = [row for row in client.get("/api/v1/audit", headers=world.headers("admin")).json()["items"]
              if row["action"] == "issue"]
    assert issued and {row["actor"] for row in issued} == {"my-devices"}
    assert client.delete(f"/api/v1/me/claims/{mine[0]['id']}", headers=headers).status_code == 204
    assert len(client.get("/api/v1/me/devices", headers=headers).json()) == 1


def test_claims_are_limited_to_verified_users_of_the_hospital(client: TestClient, world: World) -> None:
    foreign = client.post("/api/v1/me/claims", json={"device_id": world.devices_b[0]}, headers=world.headers("lab_a"))
    assert foreign.status_code == 404
    unverified = client.post("/api/v1/me/claims", json={"device_id": world.devices_a[0]},
                             headers=world.headers("lab_new"))
    assert unverified.status_code == 403
    mine = client.get("/api/v1/me/devices", headers=world.headers("lab_a")).json()
    assert mine == []
    other = client.post("/api/v1/me/claims", json={"device_id": world.devices_b[0]}, headers=world.headers("lab_b"))
    assert other.status_code == 201
    assert client.delete(f"/api/v1/me/claims/{other.json()['id']}", headers=world.headers("lab_a")).status_code == 404


def test_backup_pages_render(client: TestClient, world: World) -> None:
    assert client.get("/report").status_code == 200
    assert client.get("/report/hospital", follow_redirects=False).status_code == 303  # sign in first
    assert client.get("/my/devices", headers=world.headers("lab_a")).status_code == 200


def test_the_repair_page_says_a_device_is_already_on_my_list(client: TestClient, world: World) -> None:
    # The audit found "加入我的设备" offered again on the label page of a device already on the list.
    headers = {**world.headers("lab_a"), "Accept-Language": "zh-CN"}
    group = client.post("/api/v1/groups", json={"name": "线", "device_ids": world.devices_a[1:3]},
                        headers=world.headers("admin")).json()
    codes = {d["id"]: d["code"] for d in client.post(f"/api/v1/hospitals/{world.hospital_a}/nearby-devices",
                                                     json=RUIJIN, headers=world.headers("lab_a")).json()}

    def button(device_id: int) -> str:
        page = client.get(f"/r/{codes[device_id]}", headers=headers).text
        found = page[page.index('id="claim"'):]
        return found[:found.index("</button>")]

    assert "加入我的设备" in button(world.devices_a[0]) and "disabled" not in button(world.devices_a[0])
    assert client.post("/api/v1/me/claims", json={"device_id": world.devices_a[0]},
                       headers=world.headers("lab_a")).status_code == 201
    assert "已在我的设备中" in button(world.devices_a[0]) and "disabled" in button(world.devices_a[0])
    # a device of a group on the list is on it too; a device of neither is not
    assert "加入我的设备" in button(world.devices_a[1])
    assert client.post("/api/v1/me/claims", json={"group_id": group["id"]},
                       headers=world.headers("lab_a")).status_code == 201
    assert "已在我的设备中" in button(world.devices_a[1])
    assert "加入我的设备" in button(world.devices_a[3])
