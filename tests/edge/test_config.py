"""The agent's YAML config: schema, line-numbered refusals, atomic saves and the device CLI."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.cli import app
from edge.config import (
    AstmSerialDevice,
    ConfigError,
    ModbusRtuDevice,
    ModbusTcpDevice,
    OpcUaDevice,
    atomic_write_text,
    edit_config,
    load_config,
    parse_config,
    save_config,
)
from edge.simulate.modbus import run_modbus_simulator

GOOD = """\
gateway_id: lab-gw-01
cloud:
  url: https://medfix.example.org
  token_file: secrets/token
  tls:
    ca_file: ca.pem
outbox:
  path: var/outbox.db
devices:
  - key: c702-1
    kind: modbus_tcp
    host: 10.0.0.5
    profile: simulated-analyzer
  - key: fridge-3
    kind: modbus_rtu
    url: /dev/ttyUSB0
    unit: 3
    points:
      - {name: temp, address: 0, type: int16, scale: 0.1, unit: "°C"}
      - {name: err, address: 1}
    error_code_points: [err]
    limits: {temp: {low: -40, high: 60}}
  - key: fridge-4
    kind: modbus_rtu
    url: /dev/ttyUSB0
    unit: 4
    points: [{name: temp, address: 0, type: int16}]
  - key: xn-1000
    kind: astm_serial
    url: socket://10.0.0.9:4001
    timezone: Asia/Shanghai
  - key: incubator
    kind: line_serial
    url: /dev/ttyUSB1
    rules:
      - pattern: 'T=(?P<temp>[\\d.]+)'
        units: {temp: "°C"}
  - key: opc-1
    kind: opcua
    endpoint: opc.tcp://10.0.0.7:4840
    security: {mode: basic256sha256, cert_file: pki/gw.der, key_file: pki/gw.pem}
    nodes:
      - {node_id: "ns=2;s=Temp", metric: temp, unit: "°C"}
    sampling_interval_ms: 500
    deadband: 0.1
"""


def problems(text: str) -> list[tuple[int | None, str, str]]:
    """(line, path, message) of each problem the text has."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="edge.yaml")
    return [(p.line, p.path, p.message) for p in caught.value.problems]


def test_a_full_config_loads_with_paths_relative_to_its_file(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(GOOD, encoding="utf-8")
    config = load_config(path)
    assert config.cloud.transport == "http" and config.cloud.token_file == tmp_path / "secrets" / "token"
    assert config.outbox.path == tmp_path / "var" / "outbox.db"
    assert config.outbox.status_path == tmp_path / "var" / "outbox.db.status.json"
    kinds = [type(d) for d in config.devices]
    assert kinds == [ModbusTcpDevice, ModbusRtuDevice, ModbusRtuDevice, AstmSerialDevice,
                     type(config.devices[4]), OpcUaDevice]
    modbus = config.devices[1]
    assert isinstance(modbus, ModbusRtuDevice)
    assert {p.unit_id for p in modbus.register_map().points} == {3}  # points inherit the device's unit id
    assert config.devices[0].error_codes() == ["error_code"]  # type: ignore[union-attr]
    assert len(config.devices[0].register_map().points) > 20  # type: ignore[union-attr]
    opc = config.devices[5]
    assert isinstance(opc, OpcUaDevice) and opc.security.cert_file == tmp_path / "pki" / "gw.der"


def test_each_problem_is_reported_with_its_line_and_reason() -> None:
    bad = (GOOD.replace("host: 10.0.0.5", "hots: 10.0.0.5")
           .replace("timezone: Asia/Shanghai", "timezone: Mars/Olympus")
           .replace("unit: 4", "unit: four"))
    found = problems(bad)
    assert (10, "devices[0].host", "Field required") in found  # missing: the device's first line
    assert (12, "devices[0].hots", "Extra inputs are not permitted") in found
    assert any(line == 26 and path == "devices[2].unit" for line, path, _ in found)
    assert any(line == 31 and "unknown time zone" in message for line, _, message in found)


def test_union_tags_model_rules_and_cross_device_rules_point_at_the_right_lines() -> None:
    found = problems(GOOD.replace("kind: line_serial", "kind: telnet"))
    assert found[0][0] == 32 and "does not match any of the expected tags" in found[0][2]
    found = problems(GOOD.replace("    profile: simulated-analyzer\n", ""))
    assert found[0][:2] == (10, "devices[0]") and "either points" in found[0][2]
    found = problems(GOOD.replace("url: /dev/ttyUSB1", "url: /dev/ttyUSB0"))
    assert found == [(32, "devices[4]", "serial port /dev/ttyUSB0 is already owned by 'fridge-3' (one owner per port)")]
    found = problems(GOOD.replace("key: fridge-4", "key: fridge-3"))
    assert found == [(23, "devices[2]", "device key 'fridge-3' is already used by devices[1]")]
    found = problems(GOOD.replace("unit: 4", "unit: 4\n    baudrate: 19200"))
    assert found[0][:2] == (23, "devices[2]") and "disagree" in found[0][2]


def test_yaml_syntax_errors_and_duplicate_keys_are_refused_with_their_line() -> None:
    assert problems("gateway_id: a\ncloud: [\n")[0][0] == 3
    found = problems("gateway_id: a\ncloud: {url: 'http://x', token: t}\ngateway_id: b\n")
    assert found == [(3, "gateway_id", "duplicate key (first at line 1)")]
    assert problems("- just\n- a list\n")[0][2].startswith("the config must be a mapping")
    assert "exactly one of token or token_file" in problems("gateway_id: a\ncloud: {url: 'http://x'}\n")[0][2]
    assert "mqtt(s)" in problems("gateway_id: a\ncloud: {url: 'ftp://x', token: t}\n")[0][2]


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "edge.yaml"
    atomic_write_text(path, "old: 1\n")
    assert path.read_text() == "old: 1\n" and (path.stat().st_mode & 0o777) == 0o600  # it will hold a token

    def crash(*_args: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_text(path, "new: 2\n")
    monkeypatch.undo()
    assert path.read_text() == "old: 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["edge.yaml"]  # no temp file left behind


def test_save_and_edit_round_trip_and_a_bad_edit_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(GOOD, encoding="utf-8")
    config = load_config(path)
    copy = tmp_path / "copy.yaml"
    save_config(config, copy)
    assert load_config(copy).devices[1] == config.devices[1]
    edit_config(path, lambda data: data["devices"].pop())
    assert len(load_config(path).devices) == 5
    before = path.read_text()
    with pytest.raises(ConfigError):
        edit_config(path, lambda data: data["devices"].append({"key": "x", "kind": "modbus_tcp"}))
    assert path.read_text() == before


def test_device_add_list_remove_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    runner = CliRunner()
    init = runner.invoke(app, ["config", "init", "--gateway-id", "gw1", "--cloud-url", "http://127.0.0.1:9",
                               "--token", "mfgw_t", "--config", str(path)])
    assert init.exit_code == 0, init.output
    added = runner.invoke(app, ["device", "add", "a1", "modbus_tcp", "--host", "127.0.0.1", "--port", "5020",
                                "--profile", "simulated-analyzer", "--set", "limits.vacuum.low=-100",
                                "--config", str(path)])
    assert added.exit_code == 0, added.output
    refused = runner.invoke(app, ["device", "add", "a2", "modbus_tcp", "--config", str(path)])
    assert refused.exit_code == 1 and "devices[1].host: Field required" in refused.output
    again = runner.invoke(app, ["device", "add", "a1", "astm_serial", "--url", "/dev/null", "--config", str(path)])
    assert again.exit_code != 0 and "exists" in again.output
    listed = runner.invoke(app, ["device", "list", "--config", str(path)])
    assert "a1" in listed.output and "tcp://127.0.0.1:5020" in listed.output and "a2" not in listed.output
    assert runner.invoke(app, ["config", "validate", "--config", str(path)]).exit_code == 0
    assert runner.invoke(app, ["device", "remove", "a1", "--config", str(path)]).exit_code == 0
    assert load_config(path).devices == []


async def test_device_test_prints_a_reading_or_the_error(tmp_path: Path) -> None:
    sim = await run_modbus_simulator("127.0.0.1", 0, units=(1,))
    path = tmp_path / "edge.yaml"
    path.write_text(f"""gateway_id: gw1
cloud: {{url: 'http://127.0.0.1:9', token: mfgw_t}}
devices:
  - {{key: a1, kind: modbus_tcp, host: 127.0.0.1, port: {sim.port}, profile: simulated-analyzer}}
  - {{key: dead, kind: modbus_tcp, host: 127.0.0.1, port: 1, profile: simulated-analyzer, timeout: 0.2}}
""", encoding="utf-8")
    runner = CliRunner()
    try:
        good = await asyncio.to_thread(runner.invoke, app, ["device", "test", "a1", "--config", str(path)])
        dead = await asyncio.to_thread(runner.invoke, app, ["device", "test", "dead", "--config", str(path),
                                                            "--timeout", "3"])
    finally:
        await sim.stop()
    assert good.exit_code == 0, good.output
    assert "a1 reaction_disk_temp = 3" in good.output and "°C" in good.output and "OK" in good.output
    assert dead.exit_code == 1 and "failed" in dead.output and "cannot connect" in dead.output


async def test_an_opcua_device_from_the_config_reads_through_the_opcua_driver(tmp_path: Path) -> None:
    from edge.simulate.opcua import node_id, run_opcua_simulator

    sim = await run_opcua_simulator("127.0.0.1", 0)
    path = tmp_path / "edge.yaml"
    path.write_text(f"""gateway_id: gw1
cloud: {{url: 'http://127.0.0.1:9', token: mfgw_t}}
devices:
  - key: opc-1
    kind: opcua
    endpoint: {sim.endpoint}
    sampling_interval_ms: 100
    nodes:
      - {{node_id: "{node_id(1, 'ReactionTemperature')}", metric: reaction_temp, unit: "°C"}}
""", encoding="utf-8")
    try:
        result = await asyncio.to_thread(CliRunner().invoke, app, ["device", "test", "opc-1", "--config", str(path)])
    finally:
        await sim.stop()
    assert result.exit_code == 0, result.output
    assert "opc-1 reaction_temp = 3" in result.output and "°C" in result.output
