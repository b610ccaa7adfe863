"""decode_upload: the plain road gives exactly what the wire model gives, and anything else gets its errors."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud.errors import Invalid
from cloud.telemetry import codec
from cloud.telemetry.codec import Upload, as_upload, decode_upload
from cloud.telemetry.exceptions import PayloadTooLarge
from protocols.telemetry import TelemetryError, decode_batch, encode_batch
from tests.cloud.telemetry.conftest import make_batch

LIMIT = 1 << 20
T = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _document() -> dict[str, Any]:
    values: list[Any] = [37.5, 0, -3, 2**53 + 1, 2**63 - 1, True, False, "ERR", "", 1e-300, -0.0, 12.0]
    batch = make_batch("gw-1", 3, readings=[("分析仪-1", f"m{i}", v, T + timedelta(seconds=i))
                                            for i, v in enumerate(values)])
    document: dict[str, Any] = json.loads(encode_batch(batch))
    document["readings"][0]["observed_at"] = "2026-03-01T20:00:00.5+08:00"  # another offset, 1 fraction digit
    document["readings"][1]["observed_at"] = "2026-03-01T12:00:01-00:30"
    document["readings"][2].pop("quality")  # defaults to good
    document["readings"][3]["unit"] = None
    document["readings"][4]["future_field"] = {"ignored": True}  # forward compatible
    document["readings"][5]["quality"] = "uncertain"
    document["readings"][6]["quality"] = "bad"
    return document


def _both(data: bytes) -> tuple[Upload, Upload]:
    return decode_upload(data, max_body_bytes=LIMIT, max_decoded_bytes=LIMIT), as_upload(decode_batch(data))


@pytest.mark.parametrize("compress", [False, True])
def test_plain_road_equals_the_wire_model_and_never_calls_it(compress: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.dumps(_document(), ensure_ascii=False).encode()
    data = gzip.compress(data) if compress else data
    expected = as_upload(decode_batch(data))

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("plainly valid input must not need the full decoder")

    monkeypatch.setattr(codec, "decode_batch", refuse)
    upload = decode_upload(data, max_body_bytes=LIMIT, max_decoded_bytes=LIMIT)
    assert upload == expected
    for got, want in zip(upload.readings, expected.readings, strict=True):  # == would call True == 1.0 equal
        assert [type(x) for x in got] == [type(x) for x in want]
        assert got[2].tzinfo is UTC
    assert upload.envelope.events and upload.envelope.readings == []
    assert len(upload.readings) == 12


@pytest.mark.parametrize("change", [
    lambda d: d["readings"][0].update(observed_at="2026-03-01 12:00:00Z"),  # space: valid for pydantic only
    lambda d: d["readings"][0].update(observed_at="2026-03-01T12:00:00.1234567Z"),  # 7 fraction digits
    lambda d: d["readings"][0].update(value=2**70),  # beyond orjson's integers
    lambda d: d["readings"][0].update(observed_at=1767225600),  # epoch seconds
])
def test_unusual_but_valid_uploads_take_the_full_road_with_the_same_result(change: Any) -> None:
    document = _document()
    change(document)
    try:
        expected: Upload | str = as_upload(decode_batch(json.dumps(document).encode()))
    except TelemetryError as exc:
        expected = str(exc)
    try:
        got: Upload | str = decode_upload(json.dumps(document).encode(), max_body_bytes=LIMIT, max_decoded_bytes=LIMIT)
    except Invalid as exc:
        got = exc.message
    assert got == expected


BAD: list[tuple[str, Any]] = [
    ("value", None), ("value", {"nested": 1}), ("value", [1]), ("device_key", ""), ("device_key", "k" * 129),
    ("device_key", 7), ("metric", ""), ("metric", None), ("observed_at", "2026-03-01T12:00:00"),  # naive
    ("observed_at", "2026-13-01T12:00:00Z"), ("observed_at", "2026-03-01T24:00:00Z"), ("observed_at", None),
    ("observed_at", "2026-03-01T12:00:00+24:00"), ("unit", "u" * 33), ("unit", 5), ("quality", "great"),
    ("quality", None), ("quality", 1),
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_bad_readings_get_the_wire_decoders_error(field: str, value: Any) -> None:
    document = _document()
    document["readings"][1][field] = value
    data = json.dumps(document).encode()
    with pytest.raises(TelemetryError) as wire:
        decode_batch(data)
    with pytest.raises(Invalid) as ours:
        decode_upload(data, max_body_bytes=LIMIT, max_decoded_bytes=LIMIT)
    assert ours.value.message == str(wire.value)
    assert "readings.1." in ours.value.message


@pytest.mark.parametrize("data", [
    b"{not json", b"[1]", b'{"schema_version": 99}', b'{"schema_version": 1}', b"\x1f\x8bnot gzip",
    json.dumps({**_document(), "readings": {"0": 1}}).encode(), json.dumps({**_document(), "readings": [1]}).encode(),
    json.dumps({**_document(), "sequence": -1}).encode(), b'{"schema_version": 1, "x": NaN}',
])
def test_bad_envelopes_get_the_wire_decoders_error(data: bytes) -> None:
    with pytest.raises(TelemetryError) as wire:
        decode_batch(data)
    with pytest.raises(Invalid) as ours:
        decode_upload(data, max_body_bytes=LIMIT, max_decoded_bytes=LIMIT)
    assert ours.value.message == str(wire.value)


def test_missing_value_and_non_finite_values_are_refused() -> None:
    document = _document()
    del document["readings"][2]["value"]
    with pytest.raises(Invalid, match=r"readings\.2\.value"):
        decode_upload(json.dumps(document).encode(), max_body_bytes=LIMIT, max_decoded_bytes=LIMIT)
    document = _document()
    text = json.dumps(document).replace('"value": 37.5', '"value": Infinity')
    with pytest.raises(Invalid, match=r"readings\.0\.value"):
        decode_upload(text.encode(), max_body_bytes=LIMIT, max_decoded_bytes=LIMIT)


def test_size_limits_hold_on_both_roads() -> None:
    data = json.dumps(_document()).encode()
    with pytest.raises(PayloadTooLarge):
        decode_upload(data, max_body_bytes=len(data) - 1, max_decoded_bytes=LIMIT)
    with pytest.raises(PayloadTooLarge):
        decode_upload(gzip.compress(data), max_body_bytes=LIMIT, max_decoded_bytes=len(data) - 1)
    with pytest.raises(PayloadTooLarge):
        decode_upload(data, max_body_bytes=LIMIT, max_decoded_bytes=len(data) - 1)


def test_a_wire_batch_and_its_upload_say_the_same() -> None:
    batch = make_batch("gw-1", 1)
    upload = as_upload(batch)
    assert upload.envelope == batch.model_copy(update={"readings": []})
    assert upload.readings == [(r.device_key, r.metric, r.observed_at, r.value, r.unit, r.quality.value)
                               for r in batch.readings]
    assert copy.deepcopy(upload) == upload
