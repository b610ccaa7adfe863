"""Signed detector checkpoints: a pickle is only ever loaded when this service's key signed it.

Unpickling runs code, so a row that anyone with write access to the database planted must never reach
pickle.loads. Each checkpoint is "MFC1" + HMAC-SHA256(key, device, metric, detector class, pickle) + pickle;
the key is derived from the secret key (cloud/config.py). A checkpoint whose signature fails, or one written
before checkpoints were signed (no way to tell it from a planted one), is discarded: the detector starts afresh
and relearns the stream, the price of never loading a pickle whose origin is unknown.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
from typing import Any

from cloud.config import Settings, secret_key_bytes

log = logging.getLogger("medfix.alerts.checkpoint")

MAGIC = b"MFC1"
SIGNATURE_BYTES = 32
HEADER = len(MAGIC) + SIGNATURE_BYTES


def checkpoint_key(settings: Settings) -> bytes:
    """The signing key of checkpoints, derived from (never equal to) the service's secret key."""
    return hmac.new(secret_key_bytes(settings), b"medfix:detector-checkpoint:v1", hashlib.sha256).digest()


def _signature(key: bytes, device_id: int, metric: str, detector: str, payload: bytes) -> bytes:
    # The row's identity is signed too: a valid checkpoint copied onto another stream is refused as well.
    mac = hmac.new(key, f"{device_id}\x00{metric}\x00{detector}\x00".encode(), hashlib.sha256)
    mac.update(payload)
    return mac.digest()


def seal(key: bytes, *, device_id: int, metric: str, detector_name: str, detector: Any) -> bytes:
    """The signed checkpoint of detector for one stream."""
    payload = pickle.dumps(detector, protocol=pickle.HIGHEST_PROTOCOL)
    return MAGIC + _signature(key, device_id, metric, detector_name, payload) + payload


def payload_of(blob: bytes) -> bytes:
    """The pickle inside a signed checkpoint (for comparisons; unverified)."""
    return blob[HEADER:] if blob.startswith(MAGIC) else blob


def unseal(key: bytes, blob: bytes, *, device_id: int, metric: str, detector_name: str) -> Any | None:
    """The detector of a checkpoint this service signed for this stream; None (logged) for anything else."""
    if not blob.startswith(MAGIC) or len(blob) < HEADER:
        log.warning("detector checkpoint of device %s metric %s is unsigned (written before signing, or not by "
                    "medfix); discarded, the detector starts afresh", device_id, metric)
        return None
    signature, payload = blob[len(MAGIC):HEADER], blob[HEADER:]
    if not hmac.compare_digest(signature, _signature(key, device_id, metric, detector_name, payload)):
        log.warning("detector checkpoint of device %s metric %s has a bad signature (another secret key, or "
                    "tampered with); discarded, the detector starts afresh", device_id, metric)
        return None
    return pickle.loads(payload)  # noqa: S301 - signed by this service's key just above
