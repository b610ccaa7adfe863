"""Device sections of the agent's YAML config: one pydantic model per kind (see edge/config.py for the file)."""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from protocols.modbus import RegisterMap, RegisterPoint
from protocols.telemetry import EventKind, RetentionClass, Severity

SIMULATED_ANALYZER: Final = "simulated-analyzer"
_DEVICE_KEY = r"^[A-Za-z0-9._:-]{1,128}$"


def _resolve(value: Path, info: ValidationInfo) -> Path:
    # Relative to the config file's folder (passed as validation context), not to the cwd of whoever runs it.
    base = (info.context or {}).get("base_dir")
    value = value.expanduser()
    return value if value.is_absolute() or base is None else Path(base) / value


FilePath = Annotated[Path, AfterValidator(_resolve)]


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are frozen."""

    # A misspelt option must be an error, not silently ignored: that is how devices end up unpolled.
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- devices ----------------------------------------------------------------------------------------


class _DeviceBase(Strict):
    key: Annotated[str, Field(pattern=_DEVICE_KEY)]
    enabled: bool = True
    description: str = ""


class SerialLine(Strict):
    """Serial line settings shared by the serial device kinds."""

    url: str = Field(min_length=1, description="/dev/ttyUSB0, a pty, or socket://host:port")
    baudrate: int = Field(default=9600, gt=0)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: float = 1
    xonxoff: bool = False
    rtscts: bool = False

    @field_validator("stopbits")
    @classmethod
    def _stopbits(cls, value: float) -> float:
        if value not in (1, 1.5, 2):
            raise ValueError("stopbits must be 1, 1.5 or 2")
        return value

    def line_settings(self) -> tuple[int, int, str, float]:
        """(baudrate, bytesize, parity, stopbits): devices sharing one RS-485 port must agree on these."""
        return self.baudrate, self.bytesize, self.parity, self.stopbits


class LimitSettings(Strict):
    """Plausible range of a Modbus metric (outside it the reading is flagged bad)."""

    low: float | None = None
    high: float | None = None


class _ModbusCommon(Strict):
    unit: int = Field(default=1, ge=0, le=255, description="unit id (slave address); default for every point")
    profile: Literal["simulated-analyzer"] | None = None
    points: list[RegisterPoint] = Field(default_factory=list)
    interval: float = Field(default=1.0, gt=0)
    error_code_points: list[str] | None = None
    limits: dict[str, LimitSettings] = Field(default_factory=dict)
    timeout: float = Field(default=1.0, gt=0)
    retries: int = Field(default=1, ge=0, le=10)
    gap: float | None = Field(default=None, ge=0, description="pause between requests on this endpoint")
    max_gap: int = Field(default=0, ge=0, le=125, description="merge reads across holes of up to this many registers")

    @model_validator(mode="before")
    @classmethod
    def _default_unit(cls, data: Any) -> Any:
        # Points inherit the device's unit id unless they name their own (a TCP gateway fronting several).
        unit = data.get("unit", 1) if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(unit, int) and isinstance(data.get("points"), list):
            data = {**data, "points": [
                {"unit_id": unit, **p} if isinstance(p, dict) and "unit_id" not in p else p for p in data["points"]
            ]}
        return data

    @model_validator(mode="after")
    def _map(self) -> _ModbusCommon:
        if (self.profile is None) == (not self.points):
            raise ValueError("give either points (the register map) or profile: simulated-analyzer")
        names = set(self.metric_names())
        unknown = (set(self.error_code_points or ()) | set(self.limits)) - names if names else set()
        if unknown:
            raise ValueError(f"error_code_points/limits name points not in the register map: {sorted(unknown)}")
        return self

    def register_map(self) -> RegisterMap:
        """The device's register map: inline points, or the simulated analyzer's profile."""
        if self.profile == SIMULATED_ANALYZER:
            from edge.simulate.modbus import analyzer_register_map

            return analyzer_register_map(self.unit)
        return RegisterMap(points=self.points)  # raises on duplicate names (validation calls it first)

    def metric_names(self) -> list[str]:
        """Names of the mapped points (empty if the profile cannot be loaded here)."""
        try:
            return [p.name for p in self.register_map().points]
        except ImportError:  # the profile lives with the simulator (edge extra); checked again at run time
            return []

    def error_codes(self) -> list[str]:
        """Points whose changes become error-code events (the profile brings its own default)."""
        if self.error_code_points is not None:
            return list(self.error_code_points)
        return ["error_code"] if self.profile == SIMULATED_ANALYZER else []


class ModbusTcpDevice(_DeviceBase, _ModbusCommon):
    """A Modbus TCP device (or one unit behind a TCP-to-RS-485 gateway)."""

    kind: Literal["modbus_tcp"]
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)

    def endpoint(self) -> str:
        """Devices with the same endpoint share one connection and lock."""
        return f"tcp://{self.host}:{self.port}"


class ModbusRtuDevice(_DeviceBase, _ModbusCommon, SerialLine):
    """A Modbus RTU device on an RS-485 port (several unit ids may share the port)."""

    kind: Literal["modbus_rtu"]

    def endpoint(self) -> str:
        """Devices with the same port share one owner (a lock and the inter-frame gap)."""
        return f"rtu://{self.url}"


class AstmSerialDevice(_DeviceBase, SerialLine):
    """An analyzer speaking ASTM E1381/E1394 on a serial line or a terminal server."""

    kind: Literal["astm_serial"]
    timezone: str | None = Field(default=None, description="the analyzer clock's zone, e.g. Asia/Shanghai")
    max_text: int = Field(default=240, ge=16, le=64_000)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class LineRuleSettings(Strict):
    """One regex of a line device (see edge/drivers/line_serial.py LineRule)."""

    pattern: str
    produce: Literal["readings", "event"] = "readings"
    units: dict[str, str] = Field(default_factory=dict)
    metric_prefix: str = ""
    event_kind: EventKind = EventKind.ERROR_CODE
    severity: Severity = Severity.WARNING
    code_group: str = "code"
    text_group: str = "text"
    retention: RetentionClass | None = None

    @model_validator(mode="after")
    def _compiles(self) -> LineRuleSettings:
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from exc
        if self.produce == "readings" and not compiled.groupindex:
            raise ValueError("a readings rule needs named groups, e.g. (?P<temp>[\\d.]+)")
        return self


class LineSerialDevice(_DeviceBase, SerialLine):
    """A simple status device that prints lines (fridges, incubators, water systems)."""

    kind: Literal["line_serial"]
    rules: list[LineRuleSettings] = Field(min_length=1)
    encoding: str = "ascii"
    max_pending: int = Field(default=10_000, ge=1)


class OpcUaSecurity(Strict):
    """OPC UA security: none, or Basic256Sha256 with the gateway's certificate and key."""

    mode: Literal["none", "basic256sha256"] = "none"  # always SignAndEncrypt: signing alone leaks the values
    cert_file: FilePath | None = None
    key_file: FilePath | None = None
    server_cert_file: FilePath | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _certs(self) -> OpcUaSecurity:
        if self.mode == "basic256sha256" and (self.cert_file is None or self.key_file is None):
            raise ValueError("basic256sha256 needs cert_file and key_file")
        return self


class OpcUaNode(Strict):
    """One subscribed node and the metric it becomes."""

    node_id: str = Field(min_length=1, description="e.g. ns=2;s=Analyzer.ReactionDiskTemp")
    metric: str = Field(min_length=1, max_length=128)
    unit: str | None = None


class OpcUaDevice(_DeviceBase):
    """An OPC UA server: subscriptions with deadband, polling as the fallback."""

    kind: Literal["opcua"]
    endpoint: str
    security: OpcUaSecurity = OpcUaSecurity()
    nodes: list[OpcUaNode] = Field(min_length=1)
    sampling_interval_ms: float = Field(default=1000.0, ge=0)
    deadband: float = Field(default=0.0, ge=0, description="absolute deadband; 0 = every change")
    poll_fallback_s: float = Field(default=5.0, gt=0, description="poll this often when subscriptions fail")

    @field_validator("endpoint")
    @classmethod
    def _opc_tcp(cls, value: str) -> str:
        if not value.startswith("opc.tcp://"):
            raise ValueError("endpoint must start with opc.tcp://")
        return value

    @model_validator(mode="after")
    def _unique_metrics(self) -> OpcUaDevice:
        metrics = [node.metric for node in self.nodes]
        if len(set(metrics)) != len(metrics):
            raise ValueError("node metrics must be unique")
        return self


DeviceSettings = Annotated[
    ModbusTcpDevice | ModbusRtuDevice | AstmSerialDevice | LineSerialDevice | OpcUaDevice,
    Field(discriminator="kind"),
]
DEVICE_KINDS: Final = ("astm_serial", "line_serial", "modbus_tcp", "modbus_rtu", "opcua")
