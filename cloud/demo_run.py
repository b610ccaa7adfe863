"""`medfix demo run`: the whole product on one machine — cloud, three analyzer simulators and an edge agent.

The demo gateway's token is kept in <data_dir>/edge/gateway.token (created once with the gateway), and the
agent's config in <data_dir>/edge/edge.yaml, so a restart keeps the same gateway and buffered data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.config import Settings
from cloud.demo_history import HISTORY_DEVICE, load_in_background  # the c 502: a week of history, not live
from cloud.errors import NotFound
from cloud.registry.models import Device, Hospital

GATEWAY = "demo-gw-ruijin"
MODBUS_PORT, ASTM_PORT, OPCUA_PORT = 5020, 5030, 4841
ACTOR = Actor.system("demo")

# (device key on the gateway, system number of the demo device it is attached to)
MODBUS_DEVICES = [("c702-modbus", "MF-000001", 1), ("xn1000-modbus", "MF-000005", 2), ("au5800-modbus", "MF-000007", 3)]
# The AU5800's reaction disk starts drifting a few minutes in (after the detector learned its normal at 1 reading/s),
# so `make run` shows a predictive alert and ticket; it drifts 1 °C/min for 5 minutes, then recovers.
DRIFTING_KEY, DRIFTING_UNIT, DRIFTING_INTERVAL_S = "au5800-modbus", 3, 1.0
DRIFT = ("reaction_disk_temp=1", 240, 300)  # (METRIC=°C per minute, seconds after start, seconds it lasts)
DRIFTING_LEARNING_HOURS = 0.05  # its streams learn for 3 minutes (an alert policy on that device: _learn_fast)
# On/off status points and the analyzer's clock are not behaviour to learn: an admin switches their alerts off.
# Counters (samples, tests, lamp hours, uptime) stay on: they are scored by their rate (models/anomaly/rate.py),
# which needs a day of it before it says anything.
STATUS_POINTS = ("fridge_compressor_on", "running", "alarm", "cover_closed", "device_clock")
ASTM_DEVICE = ("c311-astm", "MF-000008")
OPCUA_DEVICE = ("genexpert-opcua", "MF-000010")


@dataclass(frozen=True)
class EdgeFiles:
    """Where the demo agent's config and token live."""

    folder: Path

    @property
    def config(self) -> Path:
        """The agent's YAML config."""
        return self.folder / "edge.yaml"

    @property
    def token(self) -> Path:
        """The gateway token (secret)."""
        return self.folder / "gateway.token"


def prepare_gateway(session: Session, settings: Settings) -> EdgeFiles:
    """Register the demo gateway once, map its devices and write the agent's config."""
    from cloud.telemetry.service import create_gateway, find_gateway, list_mappings, map_device, rotate_token

    files = EdgeFiles(settings.data_dir.resolve() / "edge")
    files.folder.mkdir(parents=True, exist_ok=True)
    hospital = session.execute(select(Hospital).order_by(Hospital.id)).scalars().first()
    if hospital is None:
        raise RuntimeError("seed the demo data first")
    try:
        gateway = find_gateway(session, ref=GATEWAY)
        if not files.token.exists():  # the token was lost: issue a new one the agent can use
            files.token.write_text(rotate_token(session, gateway_id=gateway.id, actor=ACTOR))
    except NotFound:  # not registered yet
        gateway, token = create_gateway(session, name=GATEWAY, hospital_id=hospital.id, actor=ACTOR)
        files.token.write_text(token)
    files.token.chmod(0o600)
    mapped = {m.device_key for m in list_mappings(session, gateway_id=gateway.id) if m.device_id is not None}
    for key, number in [(k, n) for k, n, _ in MODBUS_DEVICES] + [ASTM_DEVICE, OPCUA_DEVICE, HISTORY_DEVICE]:
        device = session.execute(select(Device).where(Device.system_number == number)).scalar()
        if device is not None and key not in mapped:
            map_device(session, gateway_id=gateway.id, device_key=key, device_id=device.id, actor=ACTOR)
    _quiet_status_points(session)
    _learn_fast(session)
    session.commit()
    files.config.write_text(yaml.safe_dump(_edge_config(settings, files), allow_unicode=True, sort_keys=False))
    return files


def _quiet_status_points(session: Session) -> None:
    from cloud.alerts.service import list_policies, save_policy

    for metric in STATUS_POINTS:
        if not list_policies(session, metric=metric):
            save_policy(session, values={"metric": metric, "enabled": False}, actor=ACTOR)


def _learn_fast(session: Session) -> None:
    """The AU5800's streams learn for 3 minutes, not a day: its drift comes 4 minutes in, after 3 minutes of
    readings at one a second. A policy on that device alone, so every other stream (the history analyzer's week
    included) keeps the day a real analyzer's new stream is given."""
    from cloud.alerts.models import ANY_METRIC
    from cloud.alerts.service import list_policies, save_policy

    number = next(n for k, n, _ in MODBUS_DEVICES if k == DRIFTING_KEY)
    device = session.execute(select(Device).where(Device.system_number == number)).scalar()
    if device is not None and not list_policies(session, device_id=device.id, metric=ANY_METRIC):
        save_policy(session, values={"metric": ANY_METRIC, "device_id": device.id,
                                     "learning_hours": DRIFTING_LEARNING_HOURS}, actor=ACTOR)


def _edge_config(settings: Settings, files: EdgeFiles) -> dict[str, object]:
    from edge.simulate.opcua import analyzer_nodes

    devices: list[dict[str, object]] = [
        {"key": key, "kind": "modbus_tcp", "host": "127.0.0.1", "port": MODBUS_PORT, "unit": unit,
         "profile": "simulated-analyzer", "interval": DRIFTING_INTERVAL_S if key == DRIFTING_KEY else 5.0}
        for key, _, unit in MODBUS_DEVICES
    ]
    # No timezone: the simulator stamps results with this machine's clock, like an analyzer set to local time.
    devices.append({"key": ASTM_DEVICE[0], "kind": "astm_serial", "url": f"socket://127.0.0.1:{ASTM_PORT}"})
    devices.append({"key": OPCUA_DEVICE[0], "kind": "opcua", "endpoint": f"opc.tcp://127.0.0.1:{OPCUA_PORT}",
                    "nodes": [{"node_id": n.node_id, "metric": n.metric, "unit": n.unit} for n in analyzer_nodes(1)],
                    "sampling_interval_ms": 1000})
    return {
        "gateway_id": GATEWAY,
        "cloud": {"url": f"http://{settings.host}:{settings.port}", "token_file": str(files.token)},
        "outbox": {"path": str(files.folder / "outbox.db")},
        "devices": devices,
    }


def run_everything(settings: Settings, files: EdgeFiles) -> int:
    """Start the cloud, the simulators and the agent; stop them all on Ctrl-C. Returns an exit code."""
    me = [sys.executable, "-m", "medfix.cli"]
    env = {**os.environ, "MEDFIX_EDGE_CONFIG": str(files.config)}
    log_dir = settings.data_dir.resolve() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stop_standin = None
    if not settings.wechat_appid:  # a real Official Account in the settings wins over the stand-in
        from cloud.wechat.demo import start_standin_for_demo

        _standin_url, stop_standin, wechat_env = start_standin_for_demo(settings)
        env.update(wechat_env)
        print(f"  WeChat sandbox       {settings.public_url.rstrip('/')}/wechat/sandbox", flush=True)  # noqa: T201
    specs = [
        ("cloud", [*me, "cloud", "serve"]),
        ("modbus-simulator", [*me, "edge", "simulate", "modbus", "--port", str(MODBUS_PORT), "--units", "3",
                              "--drift", DRIFT[0], "--drift-after", str(DRIFT[1]), "--drift-for", str(DRIFT[2]),
                              "--fault-units", str(DRIFTING_UNIT)]),
        ("astm-simulator", [*me, "edge", "simulate", "astm", "--listen", f"127.0.0.1:{ASTM_PORT}",
                            "--interval", "30"]),
        ("opcua-simulator", [*me, "edge", "simulate", "opcua", "--port", str(OPCUA_PORT)]),
    ]
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, command: list[str]) -> None:
        log = (log_dir / f"{name}.log").open("ab")
        stdout = None if name == "cloud" else log
        processes[name] = subprocess.Popen(command, env=env, stdout=stdout, stderr=stdout)

    try:
        for name, command in specs:
            start(name, command)
        # The history analyzer's week goes in beside the live streams, as soon as the cloud answers.
        load_in_background(settings, gateway=GATEWAY, token=files.token.read_text().strip())
        time.sleep(3)  # let the cloud and simulators listen before the agent connects (it retries anyway)
        start("edge-agent", [*me, "edge", "run", "--config", str(files.config)])
        print(f"  edge agent and simulators are running; their logs are in {log_dir}", flush=True)  # noqa: T201
        while True:
            for name, process in processes.items():
                if process.poll() is not None and name == "cloud":
                    return process.returncode or 1
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        if stop_standin is not None:
            stop_standin()
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
