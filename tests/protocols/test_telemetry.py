"""The edge -> cloud wire contract: models, idempotency keys, encoding and version checks."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from protocols.errors import RemoteProtocolError
from protocols.telemetry import (
    SCHEMA_VERSION,
    Batch,
    BatchAck,
    Event,
    EventKind,
    MalformedPayloadError,
    Quality,
    Reading,
    RetentionClass,
    Severity,
    TelemetryError,
    UnsupportedSchemaVersionError,
    batch_idempotency_key,
    decode_ack,
    decode_batch,
    encode_ack,
    encode_batch,
    parse_batch_idempotency_key,
    reading_idempotency_key,
)

T0 = datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=UTC)


def make_reading(**overrides: object) -> Reading:
    fields: dict[str, object] = {
        "device_key": "dev-1",
        "metric": "reagent_temp",
        "observed_at": T0,
        "value": 4.5,
        "unit": "degC",
    }
    fields.update(overrides)
    return Reading.model_validate(fields)


def make_event(**overrides: object) -> Event:
    fields: dict[str, object] = {
        "device_key": "dev-1",
        "occurred_at": T0,
        "kind": "astm_result",
        "severity": "info",
        "code": "GLU",
        "text": "glucose result",
        "payload": {"sample_id": "S-42", "value": "5.4", "units": "mmol/L", "flags": ["N"]},
    }
    fields.update(overrides)
    return Event.model_validate(fields)


def make_batch(**overrides: object) -> Batch:
    fields: dict[str, object] = {
        "gateway_id": "gw-lab-3",
        "stream_id": "0f3c9a",
        "sequence": 7,
        "created_at": T0,
        "readings": [make_reading(), make_reading(metric="run_count", value=1200, unit=None)],
        "events": [make_event()],
    }
    fields.update(overrides)
    return Batch.model_validate(fields)


# --- models ---------------------------------------------------------------------------------------------


def test_timestamps_are_normalized_to_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    reading = make_reading(observed_at=datetime(2024, 5, 1, 16, 30, tzinfo=shanghai))
    assert reading.observed_at == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert reading.observed_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError):
        make_reading(observed_at=datetime(2024, 5, 1, 8, 30))
    with pytest.raises(ValidationError):
        make_event(occurred_at=datetime(2024, 5, 1, 8, 30))


@pytest.mark.parametrize("value", [True, False, 0, 42, -7, 1.5, 0.0, "RUNNING", ""])
def test_reading_value_keeps_its_python_type_through_json(value: object) -> None:
    reading = make_reading(value=value)
    decoded = Reading.model_validate_json(reading.model_dump_json())
    assert decoded.value == value
    assert type(decoded.value) is type(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_reading_values_are_rejected(value: float) -> None:
    with pytest.raises(ValidationError, match="finite"):
        make_reading(value=value)


def test_reading_defaults_to_good_quality_and_telemetry_retention() -> None:
    reading = make_reading()
    assert reading.quality is Quality.GOOD
    assert reading.retention is RetentionClass.TELEMETRY


def test_event_defaults_to_clinical_retention() -> None:
    event = make_event()
    assert event.retention is RetentionClass.CLINICAL
    assert event.kind is EventKind.ASTM_RESULT
    assert event.severity is Severity.INFO
    status = make_event(kind="status", retention="telemetry")
    assert status.retention is RetentionClass.TELEMETRY


def test_unknown_event_kind_is_rejected() -> None:
    with pytest.raises(ValidationError):
        make_event(kind="gossip")


def test_models_are_frozen() -> None:
    reading = make_reading()
    with pytest.raises(ValidationError):
        reading.value = 3


# --- idempotency keys -----------------------------------------------------------------------------------


def test_batch_key_is_gateway_stream_and_sequence() -> None:
    batch = make_batch()
    assert batch.idempotency_key == "gw-lab-3:0f3c9a:7"
    assert batch.idempotency_key == batch_idempotency_key("gw-lab-3", "0f3c9a", 7)
    assert parse_batch_idempotency_key(batch.idempotency_key) == ("gw-lab-3", "0f3c9a", 7)


def test_batch_key_does_not_depend_on_content_or_creation_time() -> None:
    first = make_batch()
    resent = make_batch(created_at=T0 + timedelta(hours=3), readings=[], telemetry_dropped_total=5)
    assert first.idempotency_key == resent.idempotency_key


def test_batch_key_differs_by_stream_so_a_wiped_outbox_cannot_collide() -> None:
    assert make_batch(stream_id="aaa").idempotency_key != make_batch(stream_id="bbb").idempotency_key


@pytest.mark.parametrize(
    ("gateway_id", "stream_id", "sequence"),
    [("gw:1", "s", 1), ("", "s", 1), ("gw", "s/1", 1), ("gw", "s", -1), ("g" * 65, "s", 1)],
)
def test_batch_key_rejects_ambiguous_parts(gateway_id: str, stream_id: str, sequence: int) -> None:
    with pytest.raises(ValueError):
        batch_idempotency_key(gateway_id, stream_id, sequence)


@pytest.mark.parametrize("key", ["", "gw:s", "gw:s:x", "gw:s:1:2", "g w:s:1"])
def test_parse_batch_key_rejects_garbage(key: str) -> None:
    with pytest.raises(ValueError):
        parse_batch_idempotency_key(key)


def test_reading_key_is_natural_key_of_device_metric_instant() -> None:
    reading = make_reading()
    same_sample_other_zone = make_reading(observed_at=T0.astimezone(timezone(timedelta(hours=8))), value=99.0, unit="K")
    assert reading.idempotency_key == same_sample_other_zone.idempotency_key
    assert reading.idempotency_key == reading_idempotency_key("dev-1", "reagent_temp", T0)
    assert reading.idempotency_key != make_reading(metric="other").idempotency_key
    assert reading.idempotency_key != make_reading(observed_at=T0 + timedelta(microseconds=1)).idempotency_key


def test_event_key_covers_content_and_ignores_payload_key_order() -> None:
    event = make_event(payload={"a": 1, "b": [1, 2]})
    assert event.idempotency_key == make_event(payload={"b": [1, 2], "a": 1}).idempotency_key
    assert event.idempotency_key != make_event(payload={"a": 2, "b": [1, 2]}).idempotency_key
    assert event.idempotency_key != make_event(payload={"a": 1, "b": [1, 2]}, code="NA").idempotency_key
    assert len(event.idempotency_key) == 32


# --- encoding -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_batch_round_trips(compress: bool) -> None:
    batch = make_batch()
    data = encode_batch(batch, compress=compress)
    assert data[:2] == b"\x1f\x8b" if compress else data.startswith(b"{")
    decoded = decode_batch(data)
    assert decoded == batch
    assert decoded.idempotency_key == batch.idempotency_key


def test_encoding_is_deterministic_for_the_same_batch() -> None:
    assert encode_batch(make_batch(), compress=True) == encode_batch(make_batch(), compress=True)


def test_encoded_batch_carries_schema_version_and_utc_timestamps() -> None:
    document = json.loads(encode_batch(make_batch()))
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["readings"][0]["observed_at"] == "2024-05-01T08:30:00.123456Z"


def test_ack_round_trips() -> None:
    ack = BatchAck(idempotency_key="gw-lab-3:0f3c9a:7", accepted_readings=2, accepted_events=1, duplicate=True)
    assert decode_ack(encode_ack(ack)) == ack
    assert decode_ack(encode_ack(ack, compress=True)) == ack


def test_unknown_schema_version_gives_a_clear_error() -> None:
    document = json.loads(encode_batch(make_batch()))
    document["schema_version"] = 99
    with pytest.raises(UnsupportedSchemaVersionError, match="schema_version 99 is not supported"):
        decode_batch(json.dumps(document).encode())


def test_unknown_schema_version_is_rejected_when_constructing_too() -> None:
    with pytest.raises(ValidationError):
        make_batch(schema_version=2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "no schema_version"),
        (b'{"schema_version": "1"}', "must be an integer"),
        (b'{"schema_version": true}', "must be an integer"),
        (b'{"schema_version": 1}', "gateway_id: Field required"),
        (b"\x1f\x8bnot really gzip", "not valid gzip"),
    ],
)
def test_malformed_payloads_give_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(MalformedPayloadError, match=message):
        decode_batch(data)


def test_schema_mismatch_names_the_failing_field() -> None:
    document = json.loads(encode_batch(make_batch()))
    document["readings"][1]["value"] = {"nested": 1}
    with pytest.raises(MalformedPayloadError, match=r"readings\.1\.value"):
        decode_batch(json.dumps(document).encode())


def test_truncated_gzip_is_malformed() -> None:
    data = encode_batch(make_batch(), compress=True)
    with pytest.raises(MalformedPayloadError, match="truncated|not valid gzip"):
        decode_batch(data[: len(data) // 2])


def test_gzip_bomb_is_refused_without_inflating_it_all() -> None:
    bomb = gzip.compress(b"{" + b" " * 5_000_000 + b"}")
    with pytest.raises(MalformedPayloadError, match="limit"):
        decode_batch(bomb, max_decoded_bytes=1_000_000)


def test_oversized_plain_payload_is_refused() -> None:
    with pytest.raises(MalformedPayloadError, match="limit"):
        decode_batch(b" " * 2000 + b"{}", max_decoded_bytes=1000)


def test_all_decode_errors_are_value_errors() -> None:
    assert issubclass(MalformedPayloadError, TelemetryError)
    assert issubclass(UnsupportedSchemaVersionError, TelemetryError)
    assert issubclass(TelemetryError, ValueError)
    assert issubclass(MalformedPayloadError, RemoteProtocolError)
    assert issubclass(UnsupportedSchemaVersionError, RemoteProtocolError)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    document = json.loads(encode_batch(make_batch()))
    document["added_in_a_later_release"] = {"x": 1}
    document["events"][0]["also_new"] = True
    assert decode_batch(json.dumps(document).encode()) == make_batch()
