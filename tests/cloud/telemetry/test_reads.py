"""Per-device reads: metrics, raw and downsampled readings, events; tenant isolation; unmapped keys mapped later."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.models import AuditLog
from cloud.telemetry.models import Reading
from protocols.telemetry import Quality, encode_batch
from tests.cloud.telemetry.conftest import T0, GatewayInfo, make_batch
from tests.cloud.world import World


@pytest.fixture
def mapped(client: TestClient, world: World, gateway: GatewayInfo) -> int:
    """Hospital A's first device, mapped as device key "c702" of the gateway."""
    device_id = world.devices_a[0]
    response = client.put(f"/api/v1/gateways/{gateway.id}/devices/c702", json={"device_id": device_id},
                          headers=world.headers("admin"))
    assert response.status_code == 200, response.text
    return device_id


def ingest(client: TestClient, gw: GatewayInfo, *batches) -> None:  # noqa: ANN002
    for batch in batches:
        response = client.post("/api/v1/ingest", content=encode_batch(batch), headers=gw.headers)
        assert response.status_code == 200, response.text


def test_downsampled_query_gives_known_bucket_statistics(client: TestClient, world: World, gateway: GatewayInfo,
                                                         mapped: int) -> None:
    # Ten samples 0..9 ten seconds apart, plus one at 59.999 s (floored into the first minute).
    samples = [("c702", "pressure", float(i), T0 + timedelta(seconds=10 * i)) for i in range(10)]
    samples.append(("c702", "pressure", 100.0, T0 + timedelta(seconds=59, microseconds=999_000)))
    noise = [("c702", "pressure", 1e6, T0 + timedelta(seconds=5))]  # bad quality: shown raw, never averaged
    ingest(client, gateway, make_batch(gateway.name, 1, readings=samples, events=[]),
           make_batch(gateway.name, 2, readings=noise, events=[], quality=Quality.BAD))
    params = {"metric": "pressure", "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}
    buckets = client.get(f"/api/v1/devices/{mapped}/readings", params={**params, "bucket": 60},
                         headers=world.headers("engineer")).json()["points"]
    assert [(p["at"][:19], p["count"], p["min"], p["max"]) for p in buckets] == [
        ("2026-01-01T00:00:00", 7, 0.0, 100.0), ("2026-01-01T00:01:00", 4, 6.0, 9.0)]
    assert buckets[0]["value"] == pytest.approx((0 + 1 + 2 + 3 + 4 + 5 + 100) / 7)
    assert buckets[1]["value"] == pytest.approx(7.5)
    raw = client.get(f"/api/v1/devices/{mapped}/readings", params=params,
                     headers=world.headers("engineer")).json()["points"]
    assert len(raw) == 12
    assert [p["value"] for p in raw[:3]] == [0.0, 1e6, 10.0 / 10]
    assert raw[1]["quality"] == "bad"


def test_readings_window_is_half_open_and_defaults_are_sane(client: TestClient, world: World,
                                                            gateway: GatewayInfo, mapped: int) -> None:
    ingest(client, gateway, make_batch(gateway.name))
    params = {"metric": "temp_c", "start": T0.isoformat(), "end": (T0 + timedelta(seconds=2)).isoformat()}
    points = client.get(f"/api/v1/devices/{mapped}/readings", params=params, headers=world.headers("admin"))
    assert [p["value"] for p in points.json()["points"]] == [37.0, 37.1]
    backwards = {**params, "start": params["end"], "end": params["start"]}
    assert client.get(f"/api/v1/devices/{mapped}/readings", params=backwards,
                      headers=world.headers("admin")).status_code == 422


def test_metrics_list_newest_value_per_metric(client: TestClient, world: World, gateway: GatewayInfo,
                                              mapped: int) -> None:
    readings = [("c702", "temp_c", 37.0, T0), ("c702", "temp_c", 38.5, T0 + timedelta(seconds=1)),
                ("c702", "status", "running", T0), ("c702", "door_open", True, T0)]
    ingest(client, gateway, make_batch(gateway.name, readings=readings))
    metrics = client.get(f"/api/v1/devices/{mapped}/metrics", headers=world.headers("lab_a")).json()
    by_name = {m["metric"]: m for m in metrics}
    assert list(by_name) == ["door_open", "status", "temp_c"]
    assert (by_name["temp_c"]["last_value"], by_name["temp_c"]["count"]) == (38.5, 2)
    assert by_name["temp_c"]["last_at"].startswith("2026-01-01T00:00:01")
    assert by_name["status"]["last_text"] == "running"
    assert by_name["door_open"]["last_value"] == 1.0


def test_events_are_listed_newest_first(client: TestClient, world: World, gateway: GatewayInfo, mapped: int) -> None:
    events = [("c702", "E-1", T0), ("c702", "E-2", T0 + timedelta(minutes=1))]
    ingest(client, gateway, make_batch(gateway.name, events=events))
    page = client.get(f"/api/v1/devices/{mapped}/events", headers=world.headers("lab_a")).json()
    assert page["total"] == 2
    assert [e["code"] for e in page["items"]] == ["E-2", "E-1"]
    assert page["items"][0]["payload"] == {"module": 2}


def test_other_hospitals_devices_read_as_404(client: TestClient, world: World, gateway: GatewayInfo,
                                             mapped: int) -> None:
    ingest(client, gateway, make_batch(gateway.name))
    for path in ("metrics", "readings?metric=temp_c", "events"):
        assert client.get(f"/api/v1/devices/{mapped}/{path}", headers=world.headers("lab_b")).status_code == 404
        assert client.get(f"/api/v1/devices/{mapped}/{path}", headers=world.headers("lab_a")).status_code == 200
        assert client.get(f"/api/v1/devices/{mapped}/{path}").status_code == 401
    assert client.get("/api/v1/devices/999999/metrics", headers=world.headers("admin")).status_code == 404


def test_unknown_device_keys_are_kept_unmapped_and_follow_a_later_mapping(
        client: TestClient, db: Session, world: World, gateway: GatewayInfo) -> None:
    ingest(client, gateway, make_batch(gateway.name, readings=[("mystery", "rpm", 1200, T0)],
                                       events=[("mystery", "E-9", T0)]))
    assert db.execute(select(Reading.device_id)).scalar_one() is None
    unmapped = client.get(f"/api/v1/gateways/{gateway.id}/unmapped", headers=world.headers("admin")).json()
    assert [u["device_key"] for u in unmapped] == ["mystery"]
    device_id = world.devices_a[1]
    response = client.put(f"/api/v1/gateways/{gateway.id}/devices/mystery", json={"device_id": device_id},
                          headers=world.headers("admin"))
    assert response.json()["device_id"] == device_id
    assert client.get(f"/api/v1/gateways/{gateway.id}/unmapped", headers=world.headers("admin")).json() == []
    metrics = client.get(f"/api/v1/devices/{device_id}/metrics", headers=world.headers("admin")).json()
    assert [(m["metric"], m["last_value"]) for m in metrics] == [("rpm", 1200.0)]
    assert client.get(f"/api/v1/devices/{device_id}/events", headers=world.headers("admin")).json()["total"] == 1
    db.rollback()
    audit = db.execute(select(AuditLog).where(AuditLog.action == "map_device")).scalar_one()
    assert audit.after == {"device_key": "mystery", "device_id": device_id}
    assert audit.actor_id == world.users["admin"]


def test_unmapping_sends_new_data_to_unmapped(client: TestClient, db: Session, world: World, gateway: GatewayInfo,
                                              mapped: int) -> None:
    assert client.delete(f"/api/v1/gateways/{gateway.id}/devices/c702",
                         headers=world.headers("admin")).status_code == 204
    ingest(client, gateway, make_batch(gateway.name))
    db.rollback()
    assert set(db.execute(select(Reading.device_id)).scalars()) == {None}
    assert client.delete(f"/api/v1/gateways/{gateway.id}/devices/c702",
                         headers=world.headers("admin")).status_code == 404
