"""Turning an uploaded body into a batch with the cloud's limits; one place for HTTP and MQTT alike.

The wire model (protocols.telemetry.Batch) builds one validated pydantic object per reading, which was a good
part of the ingest's time for batches of thousands. decode_upload therefore takes a plain, strict road first:
the JSON is parsed once (orjson), the envelope and the events are validated by the wire model itself, and each
reading is checked field by field against the same rules and kept as a tuple. Anything that road does not
plainly accept (a wrong type, a timestamp in an unusual spelling, non-UTF-8 JSON, a too-large integer, ...) goes
through protocols.telemetry.decode_batch instead, so a bad upload gets exactly the decoder's error (and a
merely unusual but valid one is still accepted). The readings come out as RawReading tuples either way.
"""

from __future__ import annotations

import math
import re
import zlib
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from cloud.errors import Invalid
from cloud.telemetry.exceptions import PayloadTooLarge
from protocols.telemetry import (
    SUPPORTED_SCHEMA_VERSIONS,
    Batch,
    PayloadTooLargeError,
    Quality,
    TelemetryError,
    decode_batch,
    is_gzip,
)
from protocols.telemetry import Reading as WireReading

RawReading = tuple[str, str, datetime, bool | int | float | str, str | None, str]
"""(device_key, metric, observed_at in UTC, value, unit, quality): one reading, checked as the wire model would."""

# What the plain road accepts as a timestamp: RFC 3339 with an explicit offset, at most microseconds, which is
# what every medfix edge writes ("...T12:00:00.123456Z"). pydantic accepts more; those take the full road.
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")
_QUALITIES = frozenset(q.value for q in Quality)
_DEVICE_KEY_MAX = 128
_METRIC_MAX = 128
_UNIT_MAX = 32
_MISSING: Any = object()


class Upload(NamedTuple):
    """A decoded batch: its envelope and events (a wire Batch whose readings list is left empty) and its readings."""

    envelope: Batch
    readings: list[RawReading]


def raw_readings(readings: list[WireReading]) -> list[RawReading]:
    """Wire Reading objects as RawReading tuples."""
    return [(r.device_key, r.metric, r.observed_at, r.value, r.unit, r.quality.value) for r in readings]


def as_upload(batch: Batch) -> Upload:
    """A wire Batch (built in Python or decoded by protocols) in the ingest's shape."""
    return Upload(batch.model_copy(update={"readings": []}), raw_readings(batch.readings))


def decode_upload(data: bytes, *, max_body_bytes: int, max_decoded_bytes: int) -> Upload:
    """The batch in data (JSON or gzip JSON); PayloadTooLarge (413) or Invalid (422) with the decoder's reason."""
    if len(data) > max_body_bytes:
        raise PayloadTooLarge(f"the upload is {len(data)} bytes, over the {max_body_bytes} byte limit")
    upload = _plain(data, max_decoded_bytes)
    if upload is not None:
        return upload
    try:
        batch = decode_batch(data, max_decoded_bytes=max_decoded_bytes)
    except PayloadTooLargeError as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except TelemetryError as exc:  # malformed JSON/gzip, schema mismatch, unsupported schema version
        raise Invalid(str(exc)) from exc
    return as_upload(batch)


def _plain(data: bytes, max_decoded_bytes: int) -> Upload | None:
    """The upload if it is plainly valid; None for anything decode_batch must judge (errors included)."""
    raw = data
    if is_gzip(data):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(data, max_decoded_bytes + 1)
        except zlib.error:
            return None
        if not inflater.eof:
            return None
    if len(raw) > max_decoded_bytes:
        return None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(document) is not dict:
        return None
    version = document.get("schema_version")
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        return None
    wire = document.get("readings", [])
    if type(wire) is not list:
        return None
    try:
        envelope = Batch.model_validate({**document, "readings": []})
    except ValidationError:
        return None
    readings = _readings(wire)
    return None if readings is None else Upload(envelope, readings)


def _readings(wire: list[Any]) -> list[RawReading] | None:
    # The rules of protocols.telemetry.Reading, field by field; None at the first reading they do not plainly fit.
    instants: dict[str, datetime] = {}
    qualities = _QUALITIES
    out: list[RawReading] = []
    append = out.append
    for item in wire:
        if type(item) is not dict:
            return None
        key = item.get("device_key")
        metric = item.get("metric")
        at = item.get("observed_at")
        value = item.get("value", _MISSING)
        unit = item.get("unit")
        quality = item.get("quality", "good")
        if (type(key) is not str or not 0 < len(key) <= _DEVICE_KEY_MAX
                or type(metric) is not str or not 0 < len(metric) <= _METRIC_MAX
                or type(at) is not str
                or (unit is not None and (type(unit) is not str or len(unit) > _UNIT_MAX))
                or type(quality) is not str or quality not in qualities):
            return None
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):
                return None
        elif kind is not int and kind is not str and kind is not bool:
            return None
        instant = instants.get(at)
        if instant is None:
            instant = _instant(at)
            if instant is None:
                return None
            instants[at] = instant
        append((key, metric, instant, value, unit, quality))
    return out


def _instant(text: str) -> datetime | None:
    if _INSTANT.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
