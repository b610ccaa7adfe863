"""Turning an uploaded body into a Batch with the cloud's limits; one place for HTTP and MQTT alike."""

from __future__ import annotations

from cloud.errors import Invalid
from cloud.telemetry.exceptions import PayloadTooLarge
from protocols.telemetry import Batch, PayloadTooLargeError, TelemetryError, decode_batch


def decode_upload(data: bytes, *, max_body_bytes: int, max_decoded_bytes: int) -> Batch:
    """The Batch in data (JSON or gzip JSON); PayloadTooLarge (413) or Invalid (422) with the decoder's reason."""
    if len(data) > max_body_bytes:
        raise PayloadTooLarge(f"the upload is {len(data)} bytes, over the {max_body_bytes} byte limit")
    try:
        return decode_batch(data, max_decoded_bytes=max_decoded_bytes)
    except PayloadTooLargeError as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except TelemetryError as exc:  # malformed JSON/gzip, schema mismatch, unsupported schema version
        raise Invalid(str(exc)) from exc
