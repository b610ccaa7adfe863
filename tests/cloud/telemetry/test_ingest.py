"""POST /api/v1/ingest: gateway tokens, storing once, gzip, and refusing bad uploads without storing anything."""

from __future__ import annotations

import gzip
import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.main import create_app
from cloud.telemetry.models import DeviceEvent, Gateway, Reading
from protocols.telemetry import decode_ack, encode_batch
from tests.cloud.telemetry.conftest import GatewayInfo, add_gateway, counts, make_batch
from tests.cloud.world import World

JSON = {"Content-Type": "application/json"}


def post(client: TestClient, gw: GatewayInfo, body: bytes, **headers: str):  # noqa: ANN201
    return client.post("/api/v1/ingest", content=body, headers={**gw.headers, **JSON, **headers})


def test_ingest_stores_readings_and_events_and_answers_the_ack(client: TestClient, db: Session,
                                                               gateway: GatewayInfo) -> None:
    batch = make_batch(gateway.name)
    response = post(client, gateway, encode_batch(batch))
    assert response.status_code == 200, response.text
    ack = decode_ack(response.content)
    assert (ack.idempotency_key, ack.accepted_readings, ack.accepted_events, ack.duplicate) == (
        batch.idempotency_key, 3, 1, False)
    assert counts(db) == {"batches": 1, "readings": 3, "events": 1}
    reading = db.execute(select(Reading).order_by(Reading.observed_at)).scalars().first()
    assert reading is not None
    assert (reading.device_key, reading.metric, reading.value_num, reading.unit) == ("c702", "temp_c", 37.0, "°C")
    event = db.execute(select(DeviceEvent)).scalar_one()
    assert (event.code, event.kind, event.severity, event.payload) == ("E-101", "error_code", "error", {"module": 2})
    gw = db.get(Gateway, gateway.id)
    assert gw is not None and gw.last_seen_at is not None and gw.last_batch_at is not None


def test_batch_delivered_twice_is_stored_once_and_second_ack_says_duplicate(client: TestClient, db: Session,
                                                                             gateway: GatewayInfo) -> None:
    body = encode_batch(make_batch(gateway.name, 7))
    first = decode_ack(post(client, gateway, body).content)
    second = decode_ack(post(client, gateway, body).content)
    assert not first.duplicate and second.duplicate
    assert (second.accepted_readings, second.accepted_events) == (3, 1)
    assert counts(db) == {"batches": 1, "readings": 3, "events": 1}


def test_repacked_resend_under_a_new_sequence_does_not_duplicate_samples(client: TestClient, db: Session,
                                                                         gateway: GatewayInfo) -> None:
    post(client, gateway, encode_batch(make_batch(gateway.name, 1)))
    post(client, gateway, encode_batch(make_batch(gateway.name, 2)))
    assert counts(db) == {"batches": 2, "readings": 3, "events": 1}


def test_gzip_body_is_accepted_with_or_without_content_encoding(client: TestClient, db: Session,
                                                                gateway: GatewayInfo) -> None:
    with_header = post(client, gateway, encode_batch(make_batch(gateway.name, 1), compress=True),
                       **{"Content-Encoding": "gzip"})
    detected = post(client, gateway, encode_batch(make_batch(gateway.name, 2, stream_id="s2"), compress=True))
    assert with_header.status_code == detected.status_code == 200
    assert counts(db)["batches"] == 2


def test_content_encoding_gzip_on_a_plain_body_is_422(client: TestClient, db: Session, gateway: GatewayInfo) -> None:
    response = post(client, gateway, encode_batch(make_batch(gateway.name)), **{"Content-Encoding": "gzip"})
    assert response.status_code == 422
    assert counts(db) == {"batches": 0, "readings": 0, "events": 0}


def test_malformed_body_is_422_with_the_decoders_reason_and_stores_nothing(client: TestClient, db: Session,
                                                                           gateway: GatewayInfo) -> None:
    not_json = post(client, gateway, b"{not json")
    assert not_json.status_code == 422
    assert "not valid JSON" in not_json.json()["detail"]
    document = json.loads(encode_batch(make_batch(gateway.name)))
    document["readings"][1]["value"] = None
    wrong_shape = post(client, gateway, json.dumps(document).encode())
    assert wrong_shape.status_code == 422
    assert "readings.1.value" in wrong_shape.json()["detail"]
    assert counts(db) == {"batches": 0, "readings": 0, "events": 0}


def test_unknown_schema_version_is_422_and_stores_nothing(client: TestClient, db: Session,
                                                          gateway: GatewayInfo) -> None:
    document = json.loads(encode_batch(make_batch(gateway.name)))
    document["schema_version"] = 99
    response = post(client, gateway, json.dumps(document).encode())
    assert response.status_code == 422
    assert "schema_version 99 is not supported" in response.json()["detail"]
    assert counts(db) == {"batches": 0, "readings": 0, "events": 0}


def test_oversized_uploads_are_413_compressed_or_inflated(settings, db: Session, world: World) -> None:  # noqa: ANN001
    small = settings.model_copy(update={"ingest_max_body_bytes": 2000, "ingest_max_decoded_bytes": 20_000})
    with TestClient(create_app(small)) as client:
        gw = add_gateway(db, world.hospital_a)
        big = make_batch(gw.name, readings=[("k", f"m{i}", float(i), make_batch(gw.name).created_at)
                                            for i in range(100)])
        raw = encode_batch(big)
        assert len(raw) > 2000
        assert post(client, gw, raw).status_code == 413
        bomb = gzip.compress(b'{"schema_version": 1, "pad": "' + b" " * 100_000 + b'"}')
        assert len(bomb) < 2000
        response = post(client, gw, bomb)
        assert response.status_code == 413
        assert "limit" in response.json()["detail"]
    assert counts(db) == {"batches": 0, "readings": 0, "events": 0}


def test_ingest_without_a_valid_gateway_token_is_401(client: TestClient, db: Session, world: World,
                                                     gateway: GatewayInfo) -> None:
    body = encode_batch(make_batch(gateway.name))
    assert client.post("/api/v1/ingest", content=body, headers=JSON).status_code == 401
    wrong = client.post("/api/v1/ingest", content=body, headers={"Authorization": "Bearer mfgw_nope", **JSON})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert counts(db)["batches"] == 0


def test_a_user_token_is_not_a_gateway_token(client: TestClient, db: Session, world: World,
                                             gateway: GatewayInfo) -> None:
    body = encode_batch(make_batch(gateway.name))
    response = client.post("/api/v1/ingest", content=body, headers={**world.headers("admin"), **JSON})
    assert response.status_code == 401
    assert counts(db)["batches"] == 0


def test_a_gateway_cannot_upload_in_another_gateways_name(client: TestClient, db: Session, world: World,
                                                          gateway: GatewayInfo) -> None:
    other = add_gateway(db, world.hospital_b)
    response = post(client, gateway, encode_batch(make_batch(other.name)))
    assert response.status_code == 403
    assert counts(db)["batches"] == 0


def test_rotated_token_replaces_the_old_one(client: TestClient, db: Session, world: World,
                                            gateway: GatewayInfo) -> None:
    response = client.post(f"/api/v1/gateways/{gateway.id}/token", headers=world.headers("admin"))
    assert response.status_code == 200
    new = GatewayInfo(gateway.id, gateway.name, response.json()["token"], gateway.hospital_id)
    assert post(client, gateway, encode_batch(make_batch(gateway.name))).status_code == 401
    assert post(client, new, encode_batch(make_batch(gateway.name))).status_code == 200


def test_a_device_keys_last_seen_is_refreshed_at_most_every_few_seconds(db: Session, gateway: GatewayInfo) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from cloud.telemetry import service
    from cloud.telemetry.models import GatewayDevice

    def ingest(seq: int) -> None:
        gw = db.get(Gateway, gateway.id)
        assert gw is not None
        service.ingest_batch(db, gateway=gw, batch=make_batch(gateway.name, seq, events=[]))
        db.commit()

    def seen() -> object:
        db.rollback()
        return db.execute(select(GatewayDevice.last_seen_at).where(GatewayDevice.gateway_id == gateway.id)).scalar_one()

    ingest(1)
    first = seen()
    assert first is not None
    ingest(2)
    assert seen() == first  # within SEEN_RESOLUTION: no write, so no row lock for concurrent batches to wait on
    db.execute(update(GatewayDevice).values(last_seen_at=first - timedelta(minutes=1)))  # type: ignore[operator]
    db.commit()
    ingest(3)
    assert seen() > first  # type: ignore[operator]
