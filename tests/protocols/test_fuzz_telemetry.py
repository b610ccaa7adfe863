"""Property-based fuzzing of the wire contract edge -> cloud (protocols/telemetry.py).

Contract: decode_batch / decode_ack turn any bytes into a model or raise a TelemetryError subclass
(MalformedPayloadError, PayloadTooLargeError, UnsupportedSchemaVersionError); building a model in Python raises
pydantic's ValidationError; key helpers raise ValueError. Profiles: tests/conftest.py.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols.telemetry import (
    Batch,
    BatchAck,
    Event,
    EventKind,
    GatewayStatus,
    MalformedPayloadError,
    Quality,
    Reading,
    Severity,
    TelemetryError,
    batch_idempotency_key,
    decode_ack,
    decode_batch,
    decode_status,
    encode_ack,
    encode_batch,
    encode_status,
    parse_batch_idempotency_key,
    parse_gateway_topic,
)

VALID_BATCH: dict[str, Any] = {
    "schema_version": 1,
    "gateway_id": "gw-1",
    "stream_id": "s.1",
    "sequence": 7,
    "created_at": "2024-03-01T10:00:00+08:00",
    "readings": [
        {"device_key": "c311", "metric": "temp", "observed_at": "2024-03-01T09:59:00Z", "value": 37.2, "unit": "C"}
    ],
    "events": [
        {
            "device_key": "c311",
            "occurred_at": "2024-03-01T09:59:30Z",
            "kind": "error_code",
            "severity": "error",
            "code": "E12",
            "text": "short sample",
            "payload": {"sample_id": "S-1", "n": [1, 2.5, None, True]},
        }
    ],
    "telemetry_dropped_total": 3,
}
VALID_ACK: dict[str, Any] = {
    "schema_version": 1,
    "idempotency_key": "gw-1:s.1:7",
    "accepted_readings": 1,
    "accepted_events": 1,
}

# --- strategies ----------------------------------------------------------------------------------------

odd_numbers = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0", "1" * 5000, "-" + "9" * 4301, "0.1e1", "2e308"]
)
odd_strings = st.sampled_from(
    [
        "",
        "0001-01-01T00:00:00+08:00",
        "9999-12-31T23:59:59-08:00",
        "2024-02-30T00:00:00Z",
        "2024-03-01T10:00:00",
        "2024-03-01",
        "1709287200",
        "\u0000",
        "\ud800",
        "血糖",
        "a" * 200,
        "gw:1",
        "good",
        "bad",
    ]
)
json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | odd_strings
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            out += _paths(value, (*prefix, index))
    return out


_RAW = object()  # marks a raw JSON token (NaN, 1e999, 5000 digits) spliced into the text


@st.composite
def mutated_json(draw: st.DrawFn, seed: dict[str, Any]) -> bytes:
    """The seed document with a few values replaced, removed or given odd types, as JSON bytes."""
    document = json.loads(json.dumps(seed))
    raw_tokens: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(document)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "raw", "delete", "wrap"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "raw":
            raw_tokens.append(draw(odd_numbers))
            parent[path[-1]] = f"@@RAW{len(raw_tokens) - 1}@@"
        elif action == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        else:
            parent[path[-1]] = draw(json_values)
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    for index, token in enumerate(raw_tokens):
        text = text.replace(f'"@@RAW{index}@@"', token)
    return text.encode("utf-8", "surrogatepass")


nested = st.integers(1, 200_000).map(lambda depth: b'{"schema_version":1,"events":' + b"[" * depth)
payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_json(VALID_BATCH),
    mutated_json(VALID_ACK),
    nested,
)


def _decode(data: bytes) -> None:
    for decode in (decode_batch, decode_ack):
        try:
            decode(data, max_decoded_bytes=64 * 1024)
        except TelemetryError as exc:
            assert str(exc)


@given(data=payloads, compress=st.booleans(), cut=st.none() | st.integers(0, 400))
@example(data=b'{"schema_version":1,"sequence":' + b"1" * 5000 + b"}", compress=False, cut=None)
@example(data=b"[" * 100_000, compress=False, cut=None)
@example(data=json.dumps({**VALID_BATCH, "created_at": "0001-01-01T00:00:00+08:00"}).encode(), compress=False, cut=None)
def test_decoding_any_payload_gives_a_model_or_a_telemetry_error(data: bytes, compress: bool, cut: int | None) -> None:
    if compress:
        data = gzip.compress(data, mtime=0)
    if cut is not None:
        data = data[:cut]
    _decode(data)


def test_deeply_nested_json_is_a_malformed_payload() -> None:
    # Fuzzing found json.loads raising RecursionError on 100,000 nested arrays.
    with pytest.raises(MalformedPayloadError, match="nested"):
        decode_batch(b'{"schema_version":1,"events":' + b"[" * 100_000)


def test_an_integer_of_5000_digits_is_a_malformed_payload() -> None:
    # Fuzzing found json.loads raising a bare ValueError (int max str digits) - a 500 at the ingest.
    with pytest.raises(MalformedPayloadError, match="digits"):
        decode_batch(b'{"schema_version":1,"sequence":' + b"1" * 5000 + b"}")


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00"])
def test_an_instant_outside_the_utc_calendar_is_a_malformed_payload(instant: str) -> None:
    # Fuzzing found the UTC normalisation raising OverflowError ("date value out of range") through pydantic.
    with pytest.raises(MalformedPayloadError, match="out of range"):
        decode_batch(json.dumps({**VALID_BATCH, "created_at": instant}).encode())
    with pytest.raises(ValidationError):
        Reading(device_key="d", metric="m", observed_at=datetime.fromisoformat(instant), value=1)


@given(data=st.binary(max_size=40) | st.sampled_from([b"online", b" OFFLINE\n", b"\xff"]))
def test_a_gateway_status_is_online_offline_or_a_malformed_payload(data: bytes) -> None:
    try:
        status = decode_status(data)
    except MalformedPayloadError:
        return
    assert encode_status(status).decode() == data.decode("ascii").strip().lower()


@given(key=st.text(max_size=80) | st.sampled_from(["a:b:1", "a:b:" + "9" * 21, "a:b:-1", "a::1"]))
def test_parsing_any_batch_key_gives_its_parts_or_a_value_error(key: str) -> None:
    try:
        gateway, stream, sequence = parse_batch_idempotency_key(key)
    except ValueError:
        return
    assert batch_idempotency_key(gateway, stream, sequence) == key.rstrip("\n")


@given(
    topic=st.text(max_size=60)
    | st.sampled_from(["medfix/v1/gw/a/batch", "medfix/v1/gw//batch", "medfix/v1/gw/a/b/c"])
)
def test_any_topic_is_a_gateway_topic_or_none(topic: str) -> None:
    parsed = parse_gateway_topic(topic)
    assert parsed is None or (parsed[0] and parsed[1])


# --- round trips -------------------------------------------------------------------------------------

key_parts = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)
names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
instants = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    zones,
)
reading_values = st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False) | names
json_payload = st.dictionaries(
    names,
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | names,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
        max_leaves=5,
    ),
    max_size=4,
)
readings = st.builds(
    Reading,
    device_key=names,
    metric=names,
    observed_at=instants,
    value=reading_values,
    unit=st.none() | st.text(st.characters(codec="utf-8"), max_size=32),
    quality=st.sampled_from(list(Quality)),
)
events = st.builds(
    Event,
    device_key=names,
    occurred_at=instants,
    kind=st.sampled_from(list(EventKind)),
    severity=st.sampled_from(list(Severity)),
    code=st.none() | names,
    text=st.text(st.characters(codec="utf-8"), max_size=60),
    payload=json_payload,
)
batches = st.builds(
    Batch,
    gateway_id=key_parts,
    stream_id=key_parts,
    sequence=st.integers(0, 10**20 - 1),
    created_at=instants,
    readings=st.lists(readings, max_size=3),
    events=st.lists(events, max_size=2),
    telemetry_dropped_total=st.integers(0, 2**63),
)


@given(batch=batches, compress=st.booleans())
def test_a_batch_survives_encode_then_decode_with_the_same_keys(batch: Batch, compress: bool) -> None:
    back = decode_batch(encode_batch(batch, compress=compress))
    assert back == batch
    assert back.idempotency_key == batch.idempotency_key
    assert [r.idempotency_key for r in back.readings] == [r.idempotency_key for r in batch.readings]
    assert [e.idempotency_key for e in back.events] == [e.idempotency_key for e in batch.events]
    assert parse_batch_idempotency_key(back.idempotency_key) == (batch.gateway_id, batch.stream_id, batch.sequence)


@given(reading=readings, zone=zones)
def test_a_reading_key_names_the_instant_not_its_time_zone(reading: Reading, zone: timezone) -> None:
    moved = reading.model_copy(update={"observed_at": reading.observed_at.astimezone(zone)})
    assert Reading.model_validate(moved.model_dump()).idempotency_key == reading.idempotency_key


@given(gateway=key_parts, stream=key_parts, sequence=st.integers(0, 10**20 - 1),
       accepted=st.integers(0, 2**40), duplicate=st.booleans(), compress=st.booleans())
def test_an_ack_survives_encode_then_decode(
    gateway: str, stream: str, sequence: int, accepted: int, duplicate: bool, compress: bool
) -> None:
    ack = BatchAck(
        idempotency_key=batch_idempotency_key(gateway, stream, sequence),
        accepted_readings=accepted,
        accepted_events=accepted // 2,
        duplicate=duplicate,
    )
    assert decode_ack(encode_ack(ack, compress=compress)) == ack


@given(fields=st.dictionaries(st.sampled_from(["device_key", "metric", "observed_at", "value", "unit", "quality"]),
                              json_values | instants, max_size=6))
def test_building_a_reading_from_anything_raises_only_validation_errors(fields: dict[str, Any]) -> None:
    try:
        reading = Reading.model_validate(fields)
    except ValidationError:
        return
    assert reading.idempotency_key


@pytest.mark.parametrize("status", list(GatewayStatus))
def test_a_gateway_status_survives_encode_then_decode(status: GatewayStatus) -> None:
    assert decode_status(encode_status(status)) is status
