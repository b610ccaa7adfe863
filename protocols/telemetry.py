"""The wire contract edge -> cloud: readings, events, batches, acks, idempotency keys and versioning.

Edge and cloud share nothing else, so every rule about what a batch *is* lives here:
its schema version, how it is encoded, and how its idempotency key is formed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import zlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from protocols.errors import ProtocolError, RemoteProtocolError

SCHEMA_VERSION: Final = 1
"""Bump on any change an older reader would misread; additive optional fields do not need a bump."""

SUPPORTED_SCHEMA_VERSIONS: Final = frozenset({1})

DEFAULT_MAX_DECODED_BYTES: Final = 32 * 1024 * 1024
"""Upper bound on a decompressed payload, so a small gzip bomb cannot exhaust the receiver's memory."""

_GZIP_MAGIC: Final = b"\x1f\x8b"
_KEY_PART = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BATCH_KEY = re.compile(r"^([A-Za-z0-9._-]{1,64}):([A-Za-z0-9._-]{1,64}):(\d{1,20})$")


class TelemetryError(ProtocolError, ValueError):
    """A telemetry payload could not be encoded or decoded."""


class UnsupportedSchemaVersionError(TelemetryError, RemoteProtocolError):
    """The payload declares a schema version this side does not speak."""


class MalformedPayloadError(TelemetryError, RemoteProtocolError):
    """The payload is not valid gzip/JSON or does not match the schema."""


class PayloadTooLargeError(MalformedPayloadError):
    """The payload (or what it inflates to) is over the size limit; receivers answer 413 rather than 422."""


class Quality(StrEnum):
    """How far a reading can be trusted (OPC UA style good/uncertain/bad)."""

    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


class RetentionClass(StrEnum):
    """What the edge outbox may do with an item under pressure."""

    CLINICAL = "clinical"  # results, QC, error codes: never dropped; the edge applies backpressure instead
    TELEMETRY = "telemetry"  # periodic samples: bounded buffer, oldest dropped first and counted


class EventKind(StrEnum):
    """What an event reports."""

    ERROR_CODE = "error_code"
    STATUS = "status"
    ASTM_RESULT = "astm_result"
    QC = "qc"  # a quality-control run: payload "passed" (bool), "failed_tests"
    AVAILABILITY = "availability"  # device reachable/unreachable as seen by the gateway
    # Instrument context (cloud/alerts/instrument.py): what the analyzer did to itself, so its streams are read right.
    CALIBRATION = "calibration"  # a calibration ran: payload "passed" (bool), "tests"
    MAINTENANCE = "maintenance"  # maintenance mode: payload "state" "start" or "end"
    REAGENT = "reagent"  # a reagent pack or lot was changed: payload "lot"


class Severity(StrEnum):
    """Operator-facing severity of an event."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


KeyPart = Annotated[str, Field(pattern=_KEY_PART.pattern)]
DeviceKey = Annotated[str, Field(min_length=1, max_length=128)]
ReadingValue = StrictBool | StrictInt | StrictFloat | StrictStr


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; ValueError if it has none (0001-01-01 east of UTC, 9999-12-31 west of it).

    The one conversion of an aware time to UTC for the wire models, their keys and the codecs that feed them.
    """
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+08:00 is before the first UTC instant Python has
        raise ValueError(f"{value.isoformat()} is out of range once converted to UTC") from exc


class _WireModel(BaseModel):
    # Unknown fields are ignored rather than rejected so a newer edge can add optional fields
    # without a version bump; anything an old reader would misread needs SCHEMA_VERSION + 1.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Reading(_WireModel):
    """One sample of one metric of one device."""

    device_key: DeviceKey
    metric: str = Field(min_length=1, max_length=128)
    observed_at: AwareDatetime
    value: ReadingValue
    unit: str | None = Field(default=None, max_length=32)
    quality: Quality = Quality.GOOD

    _normalize_observed_at = field_validator("observed_at")(as_utc)

    @field_validator("value")
    @classmethod
    def _finite(cls, value: bool | int | float | str) -> bool | int | float | str:
        # JSON has no NaN/inf; a non-finite sample is a device fault the caller must report as
        # quality=bad with a string value (e.g. "nan") or an event, not smuggle through as a number.
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("reading value must be finite; report NaN/inf as quality 'bad' with a str value")
        return value

    @property
    def retention(self) -> RetentionClass:
        """Readings are always telemetry: droppable oldest-first."""
        return RetentionClass.TELEMETRY

    @property
    def idempotency_key(self) -> str:
        """Natural key of a sample: device, metric and instant (a re-sent sample upserts, not duplicates)."""
        return reading_idempotency_key(self.device_key, self.metric, self.observed_at)


class Event(_WireModel):
    """Something that happened on a device: an error code, a status change, an ASTM result, a QC run."""

    device_key: DeviceKey
    occurred_at: AwareDatetime
    kind: EventKind
    severity: Severity = Severity.INFO
    code: str | None = Field(default=None, max_length=128)
    text: str = Field(default="", max_length=4096)
    payload: dict[str, JsonValue] = Field(default_factory=dict)
    # Default to the safe side: an event is clinical unless the producer says it may be dropped.
    retention: RetentionClass = RetentionClass.CLINICAL

    _normalize_occurred_at = field_validator("occurred_at")(as_utc)

    @property
    def idempotency_key(self) -> str:
        """Content hash: two events at the same instant may differ, so everything that defines one counts."""
        return _content_key(
            "event",
            self.device_key,
            _iso(self.occurred_at),
            self.kind.value,
            self.code,
            self.text,
            self.payload,
        )


class Batch(_WireModel):
    """What one upload carries: a gateway's readings and events under one idempotency key."""

    schema_version: int = SCHEMA_VERSION
    gateway_id: KeyPart
    stream_id: KeyPart
    sequence: int = Field(ge=0)
    created_at: AwareDatetime
    readings: list[Reading] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    # Cumulative count of readings the gateway's outbox dropped (oldest-first) so far in this stream.
    # Cumulative rather than per-batch, so the cloud shows an honest figure even if batches are re-sent.
    telemetry_dropped_total: int = Field(default=0, ge=0)

    _normalize_created_at = field_validator("created_at")(as_utc)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value not in SUPPORTED_SCHEMA_VERSIONS:
            raise ValueError(f"unsupported schema_version {value}")
        return value

    @property
    def idempotency_key(self) -> str:
        """The key the cloud dedupes this batch by; see batch_idempotency_key."""
        return batch_idempotency_key(self.gateway_id, self.stream_id, self.sequence)


class BatchAck(_WireModel):
    """The cloud's answer to a batch: what it kept, and whether it had already seen the key."""

    schema_version: int = SCHEMA_VERSION
    idempotency_key: str = Field(pattern=_BATCH_KEY.pattern)
    accepted_readings: int = Field(ge=0)
    accepted_events: int = Field(ge=0)
    duplicate: bool = False

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value not in SUPPORTED_SCHEMA_VERSIONS:
            raise ValueError(f"unsupported schema_version {value}")
        return value


# --- idempotency keys -------------------------------------------------------------------------------


def batch_idempotency_key(gateway_id: str, stream_id: str, sequence: int) -> str:
    """Return "<gateway_id>:<stream_id>:<sequence>", the one definition of a batch's identity."""
    # Why gateway + stream + sequence and not a content hash:
    # - The outbox persists a batch's membership and sequence (durably) *before* the batch is sent,
    #   so a batch re-sent after a crash or restart is rebuilt from the same rows with the same
    #   sequence: the key is stable by construction, and cheap to compute and to index.
    # - A content hash would depend on canonical serialization staying byte-identical across
    #   releases and on created_at being persisted; a software update between send and re-send
    #   could then mint a second key for the same data.
    # - Sequences are ordered, so the cloud can also spot gaps per stream.
    # Why the stream id: the sequence is local to one outbox database. If that file is lost or
    # re-created (new SD card, wiped box), sequences restart at 0; a fresh random stream id,
    # generated with the database, keeps new batches from colliding with old keys and being
    # silently "deduplicated" away by the cloud.
    for name, part in (("gateway_id", gateway_id), ("stream_id", stream_id)):
        if not _KEY_PART.match(part):
            raise ValueError(f"{name} must match {_KEY_PART.pattern}, got {part!r}")
    if sequence < 0:
        raise ValueError(f"sequence must be >= 0, got {sequence}")
    return f"{gateway_id}:{stream_id}:{sequence}"


def parse_batch_idempotency_key(key: str) -> tuple[str, str, int]:
    """Split a batch key back into (gateway_id, stream_id, sequence); ValueError if it is not one."""
    match = _BATCH_KEY.match(key)
    if match is None:
        raise ValueError(f"not a batch idempotency key: {key!r}")
    return match.group(1), match.group(2), int(match.group(3))


def reading_idempotency_key(device_key: str, metric: str, observed_at: datetime) -> str:
    """Hash of (device, metric, instant): a device reports one value per metric per instant."""
    return _content_key("reading", device_key, metric, _iso(as_utc(observed_at)))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _content_key(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


# --- encoding -----------------------------------------------------------------------------------------

_Message = TypeVar("_Message", Batch, BatchAck)


def encode_batch(batch: Batch, *, compress: bool = False) -> bytes:
    """Serialize a batch to JSON bytes, gzip-compressed when asked."""
    return _encode(batch, compress=compress)


def decode_batch(data: bytes, *, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> Batch:
    """Parse JSON or gzip-compressed JSON bytes into a Batch; TelemetryError subclasses on bad input."""
    return _decode(data, Batch, max_decoded_bytes)


def encode_ack(ack: BatchAck, *, compress: bool = False) -> bytes:
    """Serialize a batch acknowledgement to JSON bytes."""
    return _encode(ack, compress=compress)


def decode_ack(data: bytes, *, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> BatchAck:
    """Parse JSON (or gzip) bytes into a BatchAck; TelemetryError subclasses on bad input."""
    return _decode(data, BatchAck, max_decoded_bytes)


def is_gzip(data: bytes) -> bool:
    """True when the bytes start with the gzip magic number."""
    return data[:2] == _GZIP_MAGIC


def _encode(message: BaseModel, *, compress: bool) -> bytes:
    raw = message.model_dump_json().encode("utf-8")
    # mtime=0 keeps the compressed bytes deterministic for identical content.
    return gzip.compress(raw, compresslevel=6, mtime=0) if compress else raw


def _decode(data: bytes, model: type[_Message], max_decoded_bytes: int) -> _Message:
    name = model.__name__
    raw = _gunzip(data, max_decoded_bytes) if is_gzip(data) else data
    if len(raw) > max_decoded_bytes:
        raise PayloadTooLargeError(f"{name} payload is {len(raw)} bytes, over the {max_decoded_bytes} limit")
    try:
        document = json.loads(raw)
    except RecursionError as exc:
        raise MalformedPayloadError(f"{name} payload is nested too deeply to parse") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer over Python's 4300-digit limit
        raise MalformedPayloadError(f"{name} payload is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedPayloadError(f"{name} payload must be a JSON object, got {type(document).__name__}")
    version = document.get("schema_version")
    if version is None:
        raise MalformedPayloadError(f"{name} payload has no schema_version")
    if type(version) is not int:
        raise MalformedPayloadError(f"{name} schema_version must be an integer, got {version!r}")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_SCHEMA_VERSIONS))
        raise UnsupportedSchemaVersionError(
            f"{name} schema_version {version} is not supported (this side speaks {supported})"
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:5]
        )
        more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        message = f"{name} payload does not match schema {version}: {problems}{more}"
        raise MalformedPayloadError(message) from exc


def _gunzip(data: bytes, max_decoded_bytes: int) -> bytes:
    # Decompress incrementally with a hard cap instead of gzip.decompress, which would inflate it all.
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_decoded_bytes + 1)
        if len(out) > max_decoded_bytes:
            raise PayloadTooLargeError(f"gzip payload inflates beyond the {max_decoded_bytes} byte limit")
        if not inflater.eof:
            raise MalformedPayloadError("gzip payload is truncated")
    except zlib.error as exc:
        raise MalformedPayloadError(f"payload is not valid gzip: {exc}") from exc
    return out


# --- MQTT v5 transport contract ---------------------------------------------------------------------
#
# A gateway publishes each encoded Batch (gzip optional) with QoS 1 to batch_topic(gateway_id), carrying
# its token (the same one as the HTTP bearer token) in the MQTT v5 user property MQTT_TOKEN_PROPERTY.
# The cloud answers with QoS 1 on the publish's ResponseTopic when that lies under the gateway's own
# prefix (see gateway_prefix), otherwise on ack_topic(gateway_id), echoing CorrelationData. The reply
# carries the user property MQTT_STATUS_PROPERTY: "200" means the payload is an encoded BatchAck; any
# other value is an HTTP-like status ("401" bad token, "403" batch of another gateway, "413" too large,
# "422" malformed / unsupported version) and the payload is a UTF-8 JSON object {"detail": "..."}.
# Only a "200" reply lets the batch leave the outbox; a 4xx one will not change if the batch is re-sent.
#
# Gateway liveness: on connect the gateway sets a Last Will on status_topic(gateway_id) with payload
# encode_status(GatewayStatus.OFFLINE), QoS 1, retained, then publishes encode_status(GatewayStatus.ONLINE)
# retained to the same topic. Both carry the token user property too, so the cloud can trust them.
# That is how the cloud tells "gateway offline" from "device offline" (an AVAILABILITY event).

MQTT_TOPIC_ROOT: Final = "medfix/v1"
"""Prefix of every medfix topic; the version segment changes only with an incompatible topic layout."""

MQTT_TOKEN_PROPERTY: Final = "medfix-token"
"""MQTT v5 user property carrying the gateway's token on batch and status publishes."""

MQTT_STATUS_PROPERTY: Final = "medfix-status"
"""MQTT v5 user property on the cloud's reply: "200" for a BatchAck payload, else an HTTP-like error status."""


class GatewayStatus(StrEnum):
    """A gateway's own connection state, as published on its retained status topic."""

    ONLINE = "online"
    OFFLINE = "offline"


def _topic_gateway(gateway_id: str) -> str:
    if not _KEY_PART.match(gateway_id):
        raise ValueError(f"gateway_id must match {_KEY_PART.pattern}, got {gateway_id!r}")
    return gateway_id


def gateway_prefix(gateway_id: str, *, root: str = MQTT_TOPIC_ROOT) -> str:
    """Return "<root>/gw/<gateway_id>/", the topic subtree that belongs to one gateway."""
    return f"{root}/gw/{_topic_gateway(gateway_id)}/"


def batch_topic(gateway_id: str, *, root: str = MQTT_TOPIC_ROOT) -> str:
    """Where a gateway publishes its batches."""
    return gateway_prefix(gateway_id, root=root) + "batch"


def ack_topic(gateway_id: str, *, root: str = MQTT_TOPIC_ROOT) -> str:
    """Where the cloud replies when the batch named no usable ResponseTopic."""
    return gateway_prefix(gateway_id, root=root) + "ack"


def status_topic(gateway_id: str, *, root: str = MQTT_TOPIC_ROOT) -> str:
    """The gateway's retained online/offline topic (its Last Will goes here too)."""
    return gateway_prefix(gateway_id, root=root) + "status"


def batch_subscription(*, root: str = MQTT_TOPIC_ROOT) -> str:
    """The filter matching every gateway's batch topic."""
    return f"{root}/gw/+/batch"


def status_subscription(*, root: str = MQTT_TOPIC_ROOT) -> str:
    """The filter matching every gateway's status topic."""
    return f"{root}/gw/+/status"


def parse_gateway_topic(topic: str, *, root: str = MQTT_TOPIC_ROOT) -> tuple[str, str] | None:
    """Split "<root>/gw/<gateway_id>/<kind>" into (gateway_id, kind); None for any other topic."""
    prefix = f"{root}/gw/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix):].split("/")
    if len(parts) != 2 or not _KEY_PART.match(parts[0]) or not parts[1]:
        return None
    return parts[0], parts[1]


def encode_status(status: GatewayStatus) -> bytes:
    """The payload of a status publish: the bare word, so a Last Will can be fixed at connect time."""
    return status.value.encode("ascii")


def decode_status(data: bytes) -> GatewayStatus:
    """Parse a status payload; MalformedPayloadError for anything but "online"/"offline"."""
    try:
        return GatewayStatus(data.decode("ascii").strip().lower())
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayloadError(f"gateway status must be 'online' or 'offline', got {data[:32]!r}") from exc
