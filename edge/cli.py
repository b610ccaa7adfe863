"""`medfix edge`: the gateway agent's commands."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml

from edge.config import ConfigError, EdgeConfig, default_config_path, dump_yaml, edit_config, load_config, parse_config
from protocols.logs import log_handler

app = typer.Typer(help="The lab gateway agent: analyzers in, cloud out.", no_args_is_help=True)
simulate_app = typer.Typer(help="Run a simulated analyzer (for demos, tests and commissioning).",
                           no_args_is_help=True)
probe_app = typer.Typer(help="Look at raw device data to work out a register map.", no_args_is_help=True)
device_app = typer.Typer(help="Add, list, remove and test configured devices.", no_args_is_help=True)
config_app = typer.Typer(help="Create and check the agent's YAML config.", no_args_is_help=True)
buffer_app = typer.Typer(help="Look into the outbox (the store-and-forward buffer).", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
app.add_typer(probe_app, name="probe")
app.add_typer(device_app, name="device")
app.add_typer(config_app, name="config")
app.add_typer(buffer_app, name="buffer")

EDGE_PACKAGES = ("pymodbus", "serial", "asyncua", "paho")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file [default: $MEDFIX_EDGE_CONFIG or ./var/edge.yaml]."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class DeviceKind(StrEnum):
    """Device kinds the agent knows."""

    ASTM_SERIAL = "astm_serial"
    LINE_SERIAL = "line_serial"
    MODBUS_TCP = "modbus_tcp"
    MODBUS_RTU = "modbus_rtu"
    OPCUA = "opcua"


class LogFormat(StrEnum):
    """How the agent writes its log lines."""

    text = "text"
    json = "json"


def _path(config: Path | None) -> Path:
    return config or default_config_path()


def _load(config: Path | None) -> EdgeConfig:
    try:
        return load_config(_path(config))
    except ConfigError as exc:
        _refused(exc)


def _refused(exc: ConfigError) -> NoReturn:
    for problem in exc.problems:
        typer.echo(problem.render(exc.source), err=True)
    typer.echo("config refused; nothing was changed", err=True)
    raise typer.Exit(1)


def _needs_edge_extra() -> None:
    missing = [name for name in EDGE_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        typer.echo(f"this needs the 'edge' extra ({', '.join(missing)} missing): pip install 'medfix[edge]'",
                   err=True)
        raise typer.Exit(2)


@app.command()
def version() -> None:
    """Print the agent version."""
    from medfix import __version__

    typer.echo(__version__)


# --- run / status ---------------------------------------------------------------------------------


@app.command()
def run(
    config: ConfigOption = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    log_format: Annotated[LogFormat, typer.Option(help="text, or json: one JSON object per line for a log "
                                                       "collector.")] = LogFormat.text,
) -> None:
    """Run the agent: poll the devices, buffer durably, deliver to the cloud (until SIGTERM/Ctrl-C)."""
    _needs_edge_extra()
    cfg = _load(config)
    # Under systemd the journal stamps each line itself.
    handler = log_handler(log_format.value, stamp=not os.environ.get("JOURNAL_STREAM"))
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
    from edge.outbox import OutboxLockedError
    from edge.runtime import run_agent

    try:
        run_agent(cfg)
    except OutboxLockedError as exc:
        typer.echo(f"{exc}: is another agent running with this config?", err=True)
        raise typer.Exit(1) from exc


@app.command()
def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show each device's state, last data age, buffer depth, oldest unsent age, drops and errors."""
    from edge.runtime import agent_alive, format_age, read_status

    cfg = _load(config)
    snap = read_status(cfg.outbox.status_path)
    if snap is None:
        typer.echo(f"no status yet ({cfg.outbox.status_path} missing): has `medfix edge run` been started?", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(snap, indent=2))
        return
    now = time.time()
    alive = agent_alive(snap)
    age = now - float(snap.get("written_at") or 0)
    head = f"agent running (pid {snap.get('pid')})" if alive else f"agent NOT running (last state {snap.get('state')})"
    typer.echo(f"gateway {snap.get('gateway_id')}: {head}; snapshot {format_age(age)} old")
    uplink = snap.get("uplink") or {}
    last_ack = uplink.get("last_ack_at")
    line = (f"uplink {uplink.get('transport')} {uplink.get('url')}: {uplink.get('state')}, "
            f"{uplink.get('batches_acked', 0)} batches acked, last ack "
            f"{format_age(now - last_ack) + ' ago' if last_ack else 'never'}")
    if uplink.get("connected") is not None:
        line += ", connected" if uplink["connected"] else ", NOT connected"
    typer.echo(line)
    if uplink.get("last_error") and uplink.get("consecutive_failures"):
        typer.echo(f"  last error: {uplink['last_error']}")
    typer.echo(_buffer_line(snap.get("outbox")))
    rows = [("DEVICE", "KIND", "STATE", "LAST DATA", "RESTARTS", "ERRORS", "DROPS", "LAST ERROR")]
    for device in snap.get("devices") or []:
        seen = device.get("last_data_at")
        rows.append((
            device["key"], device["kind"], device["state"], format_age(None if seen is None else now - seen),
            str(device.get("restarts", 0)), str(device.get("errors", 0)), str(device.get("dropped", 0)),
            (device.get("last_error") or "")[:60],
        ))
    _table(rows)


def _buffer_line(stats: dict[str, Any] | None) -> str:
    from edge.runtime import format_age

    if not stats:
        return "buffer: unknown"
    return (f"buffer: {stats['clinical_rows']} clinical + {stats['telemetry_rows']} telemetry rows, "
            f"{stats['pending_batches']} batches pending, oldest unsent {format_age(stats['oldest_unsent_age_s'])}, "
            f"telemetry dropped {stats['telemetry_dropped_total']}, "
            f"clinical refused {stats['clinical_rejected_total']}")


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


# --- config ---------------------------------------------------------------------------------------


@config_app.command("validate")
def config_validate(config: ConfigOption = None) -> None:
    """Check the config; print each problem with its line number."""
    cfg = _load(config)
    enabled = sum(1 for device in cfg.devices if device.enabled)
    typer.echo(f"{_path(config)}: OK (gateway {cfg.gateway_id}, {cfg.cloud.transport} uplink, "
               f"{len(cfg.devices)} devices, {enabled} enabled)")


@config_app.command("init")
def config_init(
    gateway_id: Annotated[str, typer.Option(help="This gateway's name as registered in the cloud.")],
    cloud_url: Annotated[str, typer.Option(help="https://cloud.example.org or mqtts://broker:8883")],
    token: Annotated[str | None, typer.Option(help="The gateway token (or --token-file).")] = None,
    token_file: Annotated[Path | None, typer.Option(help="A file holding the gateway token.")] = None,
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing config.")] = False,
) -> None:
    """Write a minimal config (no devices yet)."""
    from edge.config import atomic_write_text

    path = _path(config)
    if path.exists() and not force:
        typer.echo(f"{path} exists; use --force to overwrite", err=True)
        raise typer.Exit(1)
    cloud: dict[str, Any] = {"url": cloud_url}
    if token is not None:
        cloud["token"] = token
    if token_file is not None:
        cloud["token_file"] = str(token_file)
    text = dump_yaml({"gateway_id": gateway_id, "cloud": cloud, "outbox": {"path": "outbox.db"}, "devices": []})
    try:
        parse_config(text, source=str(path))
    except ConfigError as exc:
        _refused(exc)
    atomic_write_text(path, text, mode=0o600)
    typer.echo(f"wrote {path}")


# --- devices --------------------------------------------------------------------------------------


@device_app.command("list")
def device_list(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List the configured devices."""
    cfg = _load(config)
    if as_json:
        typer.echo(json.dumps([d.model_dump(mode="json", by_alias=True) for d in cfg.devices], indent=2))
        return
    rows = [("KEY", "KIND", "WHERE", "ENABLED")]
    for device in cfg.devices:
        where = getattr(device, "endpoint", None)
        where = where() if callable(where) else where or getattr(device, "url", "")
        rows.append((device.key, device.kind, str(where), "yes" if device.enabled else "no"))
    _table(rows)


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected FIELD=VALUE, got {item!r}")
        target = out
        *parents, leaf = name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = yaml.safe_load(raw) if raw else ""
    return out


@device_app.command("add")
def device_add(
    key: Annotated[str, typer.Argument(help="Device key, as the cloud will see it.")],
    kind: Annotated[DeviceKind, typer.Argument(help="Protocol.")],
    host: Annotated[str | None, typer.Option(help="Modbus TCP host.")] = None,
    port: Annotated[int | None, typer.Option(help="Modbus TCP port.")] = None,
    url: Annotated[str | None, typer.Option(help="Serial port or socket://host:port.")] = None,
    baudrate: Annotated[int | None, typer.Option(help="Serial speed.")] = None,
    unit: Annotated[int | None, typer.Option(help="Modbus unit id.")] = None,
    profile: Annotated[str | None, typer.Option(help="Modbus register map profile (simulated-analyzer).")] = None,
    interval: Annotated[float | None, typer.Option(help="Modbus poll interval, seconds.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="OPC UA endpoint opc.tcp://host:port.")] = None,
    node: Annotated[list[str] | None, typer.Option(help="OPC UA NODE_ID=METRIC[:UNIT] (repeatable).")] = None,
    timezone: Annotated[str | None, typer.Option(help="ASTM: the analyzer clock's time zone.")] = None,
    rule: Annotated[list[str] | None, typer.Option(help="Line device regex with named groups (repeatable).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Any FIELD=VALUE (YAML value; a.b nests).")] = None,
    from_file: Annotated[Path | None, typer.Option(help="YAML file with more fields (e.g. points:).")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Add it switched off.")] = False,
    replace: Annotated[bool, typer.Option(help="Replace a device with the same key.")] = False,
    config: ConfigOption = None,
) -> None:
    """Add a device to the config (validated as a whole, written atomically)."""
    entry: dict[str, Any] = {"key": key, "kind": kind.value}
    if from_file is not None:
        extra = yaml.safe_load(from_file.read_text(encoding="utf-8")) or {}
        if not isinstance(extra, dict):
            raise typer.BadParameter(f"{from_file} must hold a mapping of device fields")
        entry.update(extra)
    simple = {"host": host, "port": port, "url": url, "baudrate": baudrate, "unit": unit, "profile": profile,
              "interval": interval, "endpoint": endpoint, "timezone": timezone}
    entry.update({name: value for name, value in simple.items() if value is not None})
    if node:
        entry["nodes"] = [_node(spec) for spec in node]
    if rule:
        entry["rules"] = [{"pattern": pattern} for pattern in rule]
    if disabled:
        entry["enabled"] = False
    entry.update(_parse_set(set_ or []))
    entry["key"], entry["kind"] = key, kind.value

    def change(data: dict[str, Any]) -> None:
        devices = data.setdefault("devices", None) or []
        existing = [i for i, d in enumerate(devices) if isinstance(d, dict) and d.get("key") == key]
        if existing and not replace:
            raise typer.BadParameter(f"device {key!r} exists; use --replace")
        if existing:
            devices[existing[0]] = entry
        else:
            devices.append(entry)
        data["devices"] = devices

    _edit(config, change)
    typer.echo(f"{'replaced' if replace else 'added'} {key} ({kind.value}) in {_path(config)}")


def _node(spec: str) -> dict[str, str]:
    node_id, sep, rest = spec.rpartition("=")
    if not sep:
        raise typer.BadParameter(f"expected NODE_ID=METRIC[:UNIT], got {spec!r}")
    metric, _, unit = rest.partition(":")
    return {"node_id": node_id, "metric": metric, **({"unit": unit} if unit else {})}


def _edit(config: Path | None, change: Any) -> None:
    path = _path(config)
    if not path.exists():
        typer.echo(f"no config at {path}; create one with `medfix edge config init`", err=True)
        raise typer.Exit(1)
    try:
        edit_config(path, change)
    except ConfigError as exc:
        _refused(exc)


@device_app.command("remove")
def device_remove(key: str, config: ConfigOption = None) -> None:
    """Remove a device from the config."""

    def change(data: dict[str, Any]) -> None:
        devices = data.get("devices") or []
        kept = [d for d in devices if not (isinstance(d, dict) and d.get("key") == key)]
        if len(kept) == len(devices):
            raise typer.BadParameter(f"no device {key!r}")
        data["devices"] = kept

    _edit(config, change)
    typer.echo(f"removed {key} from {_path(config)}")


@device_app.command("test")
def device_test(
    key: str,
    config: ConfigOption = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for data.")] = 10.0,
) -> None:
    """Connect to one device once and print what it sends (or the error)."""
    _needs_edge_extra()
    cfg = _load(config)
    device = cfg.device(key)
    if device is None:
        typer.echo(f"no device {key!r} in {_path(config)}", err=True)
        raise typer.Exit(1)
    from edge.devices import probe_device
    from edge.drivers.modbus import quiet_pymodbus_logging
    from protocols.telemetry import Reading

    quiet_pymodbus_logging()
    try:
        items, driver_status = asyncio.run(probe_device(device, timeout=timeout))
    except Exception as exc:  # show the operator the reason, not a traceback
        typer.echo(f"{key}: failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from exc
    failure = next((i for i in items if getattr(i, "code", None) == "unavailable"), None)
    if failure is not None or not items:
        reason = getattr(failure, "text", None) or driver_status.get("last_error") or f"no data within {timeout:g} s"
        typer.echo(f"{key}: failed: {reason}", err=True)
        raise typer.Exit(1)
    for item in items:
        if isinstance(item, Reading):
            unit = f" {item.unit}" if item.unit else ""
            flag = "" if item.quality == "good" else f" [{item.quality}]"
            typer.echo(f"{item.device_key} {item.metric} = {item.value}{unit}{flag}")
        else:
            typer.echo(f"{item.device_key} event {item.kind} {item.code or ''} {item.text[:100]}".rstrip())
    typer.echo(f"{key}: OK, {len(items)} items")


# --- buffer ---------------------------------------------------------------------------------------


@buffer_app.command("stats")
def buffer_stats(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Outbox depth, oldest unsent age, drops and acks (from the running agent, or the file itself)."""
    from edge.devices import plain
    from edge.outbox import Outbox, OutboxLockedError
    from edge.runtime import agent_alive, read_status

    cfg = _load(config)
    snap = read_status(cfg.outbox.status_path)
    stats: dict[str, Any] | None = None
    source = "outbox file"
    if snap is not None and agent_alive(snap):
        stats, source = snap.get("outbox"), "running agent's snapshot"
    elif cfg.outbox.path.exists():
        try:
            with Outbox(cfg.outbox.path, gateway_id=cfg.gateway_id) as outbox:
                stats = plain(outbox.stats())
        except OutboxLockedError:  # an agent holds it but its snapshot is stale: show what we have
            stats, source = (snap or {}).get("outbox"), "last snapshot (agent holds the outbox)"
    if stats is None:
        typer.echo(f"no outbox at {cfg.outbox.path} yet", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
        return
    typer.echo(f"{cfg.outbox.path} ({source})")
    typer.echo(_buffer_line(stats))
    typer.echo(f"acked: {stats['acked_batches_total']} batches, {stats['acked_items_total']} items; "
               f"in flight {stats['in_flight_batches']}; next sequence {stats['next_sequence']}; "
               f"{stats['file_bytes'] / 1e6:.1f} MB on disk")


if all(importlib.util.find_spec(name) for name in EDGE_PACKAGES):
    from edge.probe import probe_modbus
    from edge.simulate.astm import simulate_astm
    from edge.simulate.modbus import simulate_modbus

    simulate_app.command("astm")(simulate_astm)
    simulate_app.command("modbus")(simulate_modbus)
    probe_app.command("modbus")(probe_modbus)
    if importlib.util.find_spec("edge.simulate.opcua") is not None:  # the OPC UA simulator, when present
        from edge.simulate import opcua as _opcua_sim

        if hasattr(_opcua_sim, "simulate_opcua"):
            simulate_app.command("opcua")(_opcua_sim.simulate_opcua)
else:  # a machine without the edge extra: say how to get it rather than failing at import

    @simulate_app.callback(invoke_without_command=True)
    @probe_app.callback(invoke_without_command=True)
    def _edge_extra_missing() -> None:
        typer.echo("this needs the 'edge' extra: pip install 'medfix[edge]'", err=True)
        raise typer.Exit(2)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
