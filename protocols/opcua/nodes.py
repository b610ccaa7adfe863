"""OPC UA node id <-> metric mapping, device configuration and value conversion (pure, no asyncua).

The driver hands this module what a DataValue carries (the variant's Python value, the status code as
an integer and its name) and gets back a telemetry value and its quality. Status codes follow OPC 10000-4
7.39: the two top bits are the severity (00 good, 01 uncertain, 10/11 bad).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocols.telemetry import Quality, as_utc

TelemetryValue = bool | int | float | str

# "ns=2;s=Analyzer1.ReactionTemp", "i=2258", "ns=3;g=<uuid>", "ns=1;b=<base64>", optionally "nsu=<uri>;s=..."
_NODE_ID = re.compile(r"^(?:(?:ns=\d{1,5}|nsu=[^;]+);)?(?:i=\d{1,10}|s=.+|g=[0-9A-Fa-f-]{36}|b=[A-Za-z0-9+/=]+)$")
_METRIC = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_MAX_STRING: Final = 1024  # a Reading's value travels in every batch: keep huge strings/arrays bounded

_SEVERITY_MASK: Final = 0xC0000000
_UNCERTAIN: Final = 0x40000000


def status_quality(status_code: int) -> Quality:
    """Map an OPC UA status code to a reading quality by its severity bits."""
    severity = status_code & _SEVERITY_MASK
    if severity == 0:
        return Quality.GOOD
    if severity == _UNCERTAIN:
        return Quality.UNCERTAIN
    return Quality.BAD


def is_valid_node_id(node_id: str) -> bool:
    """True when the string is an OPC UA node id in the standard string notation."""
    return bool(_NODE_ID.match(node_id))


class SecurityMode(StrEnum):
    """Channel security the driver asks for."""

    NONE = "none"
    BASIC256SHA256 = "Basic256Sha256"  # always with SignAndEncrypt: signing alone leaks the values


class AcquisitionMode(StrEnum):
    """How values are fetched: subscriptions (falling back to polling when refused) or polling only."""

    SUBSCRIBE = "subscribe"
    POLL = "poll"


class NodeSpec(BaseModel):
    """One OPC UA variable and the metric it is reported as."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: str = Field(description='e.g. "ns=2;s=Analyzer1.ReactionTemp"')
    metric: str
    unit: str | None = Field(default=None, max_length=32)
    scale: float = 1.0
    offset: float = 0.0
    deadband: float | None = Field(default=None, ge=0, description="absolute, in engineering units")
    sampling_interval_ms: float | None = Field(default=None, ge=0, description="overrides the device's")

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, value: str) -> str:
        value = value.strip()
        if not is_valid_node_id(value):
            raise ValueError(f"not an OPC UA node id: {value!r} (expected e.g. 'ns=2;s=Analyzer1.Temp' or 'i=2258')")
        return value

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if not _METRIC.match(value):
            raise ValueError(f"metric must match {_METRIC.pattern}, got {value!r}")
        return value

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: float) -> float:
        if value == 0 or not math.isfinite(value):
            raise ValueError("scale must be finite and not zero")
        return value

    @property
    def raw_deadband(self) -> float | None:
        """The deadband in the server's raw units (the filter compares raw values, before scale/offset)."""
        return None if self.deadband is None else self.deadband / abs(self.scale)


class OpcUaConfig(BaseModel):
    """One OPC UA endpoint as a device: where, how securely, how values are fetched, which nodes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str = Field(description="opc.tcp://host:port[/path]")
    security: SecurityMode = SecurityMode.NONE
    certificate: str | None = Field(default=None, description="client certificate (PEM or DER file)")
    private_key: str | None = Field(default=None, description="client private key (PEM file)")
    server_certificate: str | None = Field(default=None, description="pin this server certificate (else trust on use)")
    application_uri: str = "urn:medfix:edge:opcua"
    username: str | None = None
    password: str | None = None
    mode: AcquisitionMode = AcquisitionMode.SUBSCRIBE
    publishing_interval_ms: float = Field(default=1000.0, gt=0)
    sampling_interval_ms: float = Field(default=500.0, ge=0)
    poll_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=4.0, gt=0)
    keepalive_s: float = Field(default=1.0, gt=0, description="how often a silent session is probed")
    nodes: list[NodeSpec] = Field(min_length=1)
    error_code_metrics: list[str] = Field(default_factory=list, description="metrics that raise error-code events")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "opc.tcp" or not parts.hostname:
            raise ValueError(f"endpoint must look like opc.tcp://host:port, got {value!r}")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError(f"endpoint has a bad port: {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OpcUaConfig:
        if self.security is not SecurityMode.NONE and not (self.certificate and self.private_key):
            raise ValueError(f"security {self.security} needs a client certificate and private_key")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        for attribute in ("node_id", "metric"):
            seen: set[str] = set()
            for node in self.nodes:
                value = getattr(node, attribute)
                if value in seen:
                    raise ValueError(f"duplicate {attribute} {value!r}")
                seen.add(value)
        unknown = set(self.error_code_metrics) - {node.metric for node in self.nodes}
        if unknown:
            raise ValueError(f"error_code_metrics not among the nodes' metrics: {sorted(unknown)}")
        return self

    def by_node_id(self) -> Mapping[str, NodeSpec]:
        """The node specs keyed by node id."""
        return {node.node_id: node for node in self.nodes}


@dataclass(frozen=True, slots=True)
class Converted:
    """A node's value as telemetry: the value, its quality, and why it is not good (if it is not)."""

    value: TelemetryValue
    quality: Quality = Quality.GOOD
    problem: str | None = None


def convert_value(raw: object, spec: NodeSpec, *, status_code: int = 0, status_name: str | None = None) -> Converted:
    """Turn a variant's Python value and its status code into a telemetry value with a quality."""
    quality = status_quality(status_code)
    problem = None
    if quality is not Quality.GOOD:
        problem = f"status {status_name or 'code'} (0x{status_code:08X})"
    if raw is None:
        return Converted("null", Quality.BAD, problem or "no value")
    value, issue = _scalar(raw)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            value = _scaled(value, spec)
        except OverflowError:  # an integer beyond any float meets a float scale/offset
            return Converted("overflow", Quality.BAD, problem or "value out of float range once scaled")
        if isinstance(value, float) and not math.isfinite(value):
            # Reading forbids NaN/inf: the text goes out with quality bad (see protocols/telemetry.py).
            return Converted(repr(value), Quality.BAD, problem or f"non-finite value {value!r}")
    if issue is not None and quality is Quality.GOOD:
        quality, problem = Quality.UNCERTAIN, issue
    return Converted(value, quality, problem)


def _scaled(value: int | float, spec: NodeSpec) -> int | float:
    if spec.scale == 1.0 and spec.offset == 0.0:
        return value
    return value * spec.scale + spec.offset


def _scalar(raw: object) -> tuple[TelemetryValue, str | None]:
    """A variant value as a scalar telemetry value, plus a note when something had to be squeezed."""
    if isinstance(raw, bool | str):
        return _bounded(raw) if isinstance(raw, str) else raw, None
    if isinstance(raw, Enum):
        inner = raw.value
        return (inner, None) if isinstance(inner, int | str) else (str(inner), None)
    if isinstance(raw, int | float):
        return raw, None
    if isinstance(raw, datetime):
        moment = raw if raw.tzinfo is not None else raw.replace(tzinfo=UTC)  # OPC UA DateTime is UTC
        try:
            return as_utc(moment).isoformat(), None
        except ValueError:  # e.g. 0001-01-01 at +08:00: no UTC instant Python can hold
            return moment.isoformat(), "date and time out of range in UTC, sent with its own offset"
    if isinstance(raw, bytes | bytearray):
        return _bounded(bytes(raw).hex()), None
    text = getattr(raw, "Text", None)  # LocalizedText
    if isinstance(text, str) or (text is None and hasattr(raw, "Locale")):
        return _bounded(text or ""), None
    name = getattr(raw, "Name", None)  # QualifiedName
    if isinstance(name, str) and hasattr(raw, "NamespaceIndex"):
        return _bounded(name), None
    if isinstance(raw, list | tuple):
        items = [_scalar(item)[0] for item in raw]
        return _bounded(json.dumps(items, ensure_ascii=False)), None
    return _bounded(str(raw)), f"unsupported variant type {type(raw).__name__}, sent as text"


def _bounded(text: str) -> str:
    return text if len(text) <= _MAX_STRING else text[: _MAX_STRING - 1] + "…"


def exceeds_deadband(previous: TelemetryValue | None, current: TelemetryValue, deadband: float | None) -> bool:
    """Whether a polled value counts as a change: numbers beyond the absolute deadband, others when different."""
    if previous is None:
        return True
    numeric = (int, float)
    if (
        deadband is not None
        and isinstance(previous, numeric)
        and isinstance(current, numeric)
        and not isinstance(previous, bool)
        and not isinstance(current, bool)
    ):
        return abs(current - previous) > deadband
    return previous != current or type(previous) is not type(current)
