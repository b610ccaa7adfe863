"""The agent's YAML configuration: the schema, loading with line-numbered errors, and atomic saves.

One file describes a gateway: its id, how it reaches the cloud, where the outbox lives, and its devices.
Relative paths in it are taken relative to the file's own folder, so a config and its outbox can move
together. A bad file is refused as a whole with each problem's line and reason; saves never leave a
half-written file (temp file + fsync + rename), so the running agent and the next start always see either
the old file or the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edge.device_config import (
    DEVICE_KINDS,
    SIMULATED_ANALYZER,
    AstmSerialDevice,
    DeviceSettings,
    FilePath,
    LimitSettings,
    LineRuleSettings,
    LineSerialDevice,
    ModbusRtuDevice,
    ModbusTcpDevice,
    OpcUaDevice,
    OpcUaNode,
    OpcUaSecurity,
    SerialLine,
    Strict,
)
from protocols.telemetry import MQTT_TOPIC_ROOT

__all__ = [
    "DEVICE_KINDS", "SIMULATED_ANALYZER", "AgentSettings", "AstmSerialDevice", "CloudSettings", "ConfigError",
    "ConfigProblem", "DeviceSettings", "EdgeConfig", "LimitSettings", "LineRuleSettings", "LineSerialDevice",
    "ModbusRtuDevice", "ModbusTcpDevice", "OpcUaDevice", "OpcUaNode", "OpcUaSecurity", "OutboxSettings",
    "TlsSettings", "atomic_write_text", "default_config_path", "dump_yaml", "edit_config", "load_config",
    "parse_config", "save_config",
]

DEFAULT_CONFIG_PATH: Final = Path("var/edge.yaml")
CONFIG_ENV: Final = "MEDFIX_EDGE_CONFIG"

_KEY = r"^[A-Za-z0-9._-]{1,64}$"


def default_config_path() -> Path:
    """$MEDFIX_EDGE_CONFIG, else ./var/edge.yaml (read when called, never at import)."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


# --- cloud ------------------------------------------------------------------------------------------


class TlsSettings(Strict):
    """TLS towards the cloud: a private CA, a client certificate, or (for commissioning only) no checks."""

    ca_file: FilePath | None = None
    cert_file: FilePath | None = None
    key_file: FilePath | None = None
    insecure: bool = False  # skip certificate and host name checks; logged loudly at start

    @model_validator(mode="after")
    def _pairs(self) -> TlsSettings:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file (the client certificate)")
        return self


class CloudSettings(Strict):
    """Where batches go: an http(s):// base URL (POST /api/v1/ingest) or an mqtt(s):// broker."""

    url: str
    token: str | None = Field(default=None, repr=False)
    token_file: FilePath | None = None  # keeps the secret out of a file that admins edit and paste around
    tls: TlsSettings = TlsSettings()
    timeout_s: float = Field(default=30.0, gt=0)
    batch_max_items: int = Field(default=500, ge=1, le=50_000)
    batch_max_bytes: int = Field(default=256 * 1024, ge=1024)
    max_in_flight: int | None = Field(default=None, ge=1, le=16,
                                      description="batches sent before the first ack (default: 4 over HTTP, 1 MQTT)")
    # While more than backlog_batch_max_items wait (after an outage), batches are formed this large instead: fewer
    # round trips and acks per reading. Fixed when a batch is formed (its bytes are frozen) and kept on re-sends.
    # The cloud accepts up to 32 MiB decoded per upload (MEDFIX_INGEST_MAX_DECODED_BYTES); stay well below.
    # Each backlog batch takes 1/backlog_max_in_flight of the waiting devices (so about that many go out at once, with
    # disjoint streams): 2 large batches in flight kept the cloud's SQLite ingest busiest (docs/benchmarks-edge.md).
    backlog_batch_max_items: int = Field(default=10_000, ge=1, le=50_000)
    backlog_batch_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=16 * 1024 * 1024)
    backlog_max_in_flight: int = Field(default=2, ge=1, le=16)
    linger_s: float = Field(default=0.2, ge=0, description="wait this long after new data to fill a batch")
    retry_initial_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    rejected_retry_s: float = Field(default=600.0, gt=0, description="pause after a 4xx that re-sending won't fix")
    ack_timeout_s: float = Field(default=30.0, gt=0, description="MQTT: how long to wait for the cloud's ack")
    topic_root: str = MQTT_TOPIC_ROOT
    keepalive_s: int = Field(default=30, ge=5, le=3600)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        parts = urlparse(value)
        if parts.scheme not in ("http", "https", "mqtt", "mqtts") or not parts.hostname:
            raise ValueError("url must be http(s)://host[:port] or mqtt(s)://[user:pass@]host[:port]")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_token(self) -> CloudSettings:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give exactly one of token or token_file")
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be >= retry_initial_s")
        return self

    @property
    def transport(self) -> Literal["http", "mqtt"]:
        """Which uplink the URL asks for."""
        return "mqtt" if urlparse(self.url).scheme in ("mqtt", "mqtts") else "http"

    def read_token(self) -> str:
        """The gateway token, from the file when token_file is used."""
        if self.token is not None:
            return self.token.strip()
        assert self.token_file is not None
        return self.token_file.read_text(encoding="utf-8").strip()


class OutboxSettings(Strict):
    """The durable buffer (edge/outbox/): where it lives and how much it may hold."""

    path: FilePath = Path("outbox.db")
    # Telemetry items (readings) waiting at most; beyond it the oldest are dropped and counted. 20 million is
    # 66 min of 100 devices x 50 metrics at 1 Hz, ~0.5 GB on disk (edge/outbox/types.py, docs/benchmarks-edge.md).
    max_telemetry_rows: int = Field(default=20_000_000, ge=0)
    max_clinical_rows: int = Field(default=100_000, ge=1)
    clinical_high_water: float = Field(default=0.8, gt=0, le=1)
    durable_telemetry: bool = False

    @property
    def status_path(self) -> Path:
        """The agent's status snapshot, next to the outbox (read by `medfix edge status`)."""
        return self.path.with_name(self.path.name + ".status.json")


class AgentSettings(Strict):
    """Supervisor pacing."""

    restart_initial_s: float = Field(default=1.0, gt=0)
    restart_max_s: float = Field(default=60.0, gt=0)
    stable_after_s: float = Field(default=30.0, gt=0, description="a task running this long counts as recovered")
    status_interval_s: float = Field(default=5.0, gt=0)
    drain_timeout_s: float = Field(default=5.0, ge=0, description="on stop: time the uplink may finish a batch")
    metrics_port: int | None = Field(default=None, ge=1, le=65535,
                                     description="serve Prometheus metrics (outbox, uplink, devices) on this port")
    metrics_host: str = Field(default="127.0.0.1", description="address the metrics port binds to")


class EdgeConfig(Strict):
    """The whole gateway configuration."""

    gateway_id: Annotated[str, Field(pattern=_KEY)]
    cloud: CloudSettings
    outbox: OutboxSettings = OutboxSettings()
    agent: AgentSettings = AgentSettings()
    devices: list[DeviceSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> EdgeConfig:
        # parse_config runs these itself so it can point at the offending device's line.
        if not (info.context or {}).get("conflicts_later"):
            found = self.conflicts()
            if found:
                raise ValueError("; ".join(message for _, message in found))
        return self

    def conflicts(self) -> list[tuple[int, str]]:
        """Rules across devices, as (device index, message): unique keys, one owner per serial port."""
        found: list[tuple[int, str]] = []
        first_key: dict[str, int] = {}
        owners: dict[str, int] = {}
        for index, device in enumerate(self.devices):
            if device.key in first_key:
                found.append((index, f"device key {device.key!r} is already used by devices[{first_key[device.key]}]"))
            first_key.setdefault(device.key, index)
            if not isinstance(device, SerialLine) or not device.enabled:
                continue
            # ASTM and line devices own their port; RTU devices may share one only with identical line
            # settings, because the hub opens the port once for all of them.
            owner = owners.setdefault(device.url, index)
            if owner == index:
                continue
            other = self.devices[owner]
            assert isinstance(other, SerialLine)
            if not (isinstance(device, ModbusRtuDevice) and isinstance(other, ModbusRtuDevice)):
                message = f"serial port {device.url} is already owned by {other.key!r} (one owner per port)"
                found.append((index, message))
            elif device.line_settings() != other.line_settings():
                found.append((index, f"RTU devices on {device.url} disagree on baudrate/bytesize/parity/stopbits"))
        return found

    def device(self, key: str) -> DeviceSettings | None:
        """The device with this key, or None."""
        return next((device for device in self.devices if device.key == key), None)


# --- loading with line numbers ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file."""

    line: int | None
    path: str
    message: str

    def render(self, source: str) -> str:
        """"file:line: path: message"."""
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(ValueError):
    """The config was refused; `problems` says where and why."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problem.render(source) for problem in problems))


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> EdgeConfig:
    """Validate YAML text; ConfigError with line numbers if anything is wrong."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(source, [ConfigProblem(mark.line + 1 if mark else None, "", f"not valid YAML: "
                                                 f"{exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, [ConfigProblem(None, "", f"not valid YAML: {exc}")]) from exc
    problems = list(_duplicate_keys(root)) if root is not None else []
    if problems:
        raise ConfigError(source, problems)
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem(1, "", "the config must be a mapping (gateway_id, cloud, devices)")])
    try:
        config = EdgeConfig.model_validate(data, context={"base_dir": base_dir, "conflicts_later": True})
    except ValidationError as exc:
        raise ConfigError(source, [_locate(root, error) for error in exc.errors()]) from exc
    conflicts = config.conflicts()
    if conflicts:
        raise ConfigError(source, [_locate(root, {"loc": ("devices", index), "msg": message})
                                   for index, message in conflicts])
    return config


def load_config(path: str | os.PathLike[str]) -> EdgeConfig:
    """Read and validate a config file; ConfigError (with line numbers) if it is missing or wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem(None, "", f"cannot read: {exc.strerror or exc}")]) from exc
    return parse_config(text, source=str(path), base_dir=path.resolve().parent)


def _duplicate_keys(node: yaml.Node) -> Iterator[ConfigProblem]:
    # PyYAML silently keeps the last of two equal keys; a second "devices:" would drop the first list.
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name in seen:
                yield ConfigProblem(key.start_mark.line + 1, str(name),
                                    f"duplicate key (first at line {seen[name]})")
            elif name is not None:
                seen[name] = key.start_mark.line + 1
            yield from _duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def _locate(root: yaml.Node | None, error: Any) -> ConfigProblem:
    """Walk the YAML node tree along a pydantic error location to the line it refers to."""
    node, line, shown = root, (root.start_mark.line + 1 if root is not None else None), ""
    loc = list(error["loc"])
    for index, part in enumerate(loc):
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    child, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is not None:
            node = child
            shown += f"[{part}]" if isinstance(part, int) else (f".{part}" if shown else str(part))
        elif index == len(loc) - 1 and isinstance(part, str) and not _is_tag(node, part):
            shown += f".{part}" if shown else part  # a missing field: name it, point at its parent
        # Anything else is a union tag pydantic adds ("modbus_tcp"): not in the file, so skipped.
    return ConfigProblem(line, shown, str(error["msg"]))


def _is_tag(node: yaml.Node | None, part: str) -> bool:
    if not isinstance(node, yaml.MappingNode):
        return False
    return any(isinstance(k, yaml.ScalarNode) and k.value == "kind" and getattr(v, "value", None) == part
               for k, v in node.value)


# --- saving atomically ------------------------------------------------------------------------------


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, mode: int | None = None, durable: bool = True
) -> None:
    """Replace a file in one step: write a temp file beside it, fsync, rename, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    owner: tuple[int, int] | None = None
    if path.exists():
        info = path.stat()
        owner = (info.st_uid, info.st_gid)
        mode = info.st_mode & 0o777 if mode is None else mode
    elif mode is None:
        mode = 0o600  # a new config holds the gateway token
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if owner is not None and owner != (os.geteuid(), os.getegid()):
            # root editing /etc/medfix/edge.yaml (root:medfix 0640) must not take the agent's group away.
            with contextlib.suppress(PermissionError):
                os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a power cut
        finally:
            os.close(directory)


def dump_yaml(data: Any) -> str:
    """YAML text the way humans write it: keys in their order, unicode kept."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def save_config(config: EdgeConfig, path: str | os.PathLike[str]) -> None:
    """Write a config atomically (defaults left out, so the file stays short)."""
    data = config.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    atomic_write_text(path, dump_yaml(data))


@contextlib.contextmanager
def _edit_lock(path: Path) -> Iterator[None]:
    # Two admins running `device add` at once must not both read the old file and lose one edit.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def edit_config(path: str | os.PathLike[str], change: Callable[[dict[str, Any]], None]) -> EdgeConfig:
    """Apply `change` to the file's data, validate the result, and only then replace the file atomically."""
    path = Path(path)
    with _edit_lock(path):
        load_config(path)  # refuse to build on a file that is already broken: fix that first
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        text = dump_yaml(data)
        config = parse_config(text, source=f"{path} (after the change)", base_dir=path.resolve().parent)
        atomic_write_text(path, text)
    return config
