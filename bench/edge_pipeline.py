"""End-to-end rate on loopback: Modbus poll -> outbox -> HTTP uplink -> cloud ingest, and the agent's CPU, as JSON.

Readings come from simulated Modbus analyzers (edge/simulate/modbus.py, each padded to 50 metrics, unit ids 1..N
spread over 4 simulator ports like 4 TCP-to-RS-485 gateways) polled by the real agent (`medfix edge run`, a child
process with a YAML config). Why not synthetic readings appended straight into the outbox: the outbox file is locked
by the one agent that owns it, so a second process cannot feed it while the agent runs, and the agent's CPU would
then leave out the polling that a gateway really does. The cloud runs in its own process (SQLite). The measured
rate is readings *stored in the cloud* per second over the window (a count of the cloud's reading table), next to
the rate offered by the pollers and the outbox depth at both ends of the window (a growing depth = not keeping up).
The ceiling of the uplink + ingest part alone is what bench/backlog_replay.py measures.

    .venv/bin/python bench/edge_pipeline.py --devices 100 --metrics 50 --interval 1 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from edge.simulate.modbus import analyzer_register_map  # noqa: E402
from tests.edge.agent_process import AgentProcess  # noqa: E402
from tests.edge.cloud_process import CloudProcess  # noqa: E402
from tests.edge.cloud_server import CloudServer, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIM_PORTS = 4


def start_simulator(ports: list[int], devices: int, metrics: int) -> subprocess.Popen[bytes]:
    """Serve unit ids 1..devices (round-robin over ``ports``) in a child process; wait until all ports listen."""
    groups = {port: [u for u in range(1, devices + 1) if (u - 1) % len(ports) == i] for i, port in enumerate(ports)}
    code = (
        "import asyncio\n"
        "from edge.simulate.modbus import run_modbus_simulator\n"
        "async def main():\n"
        f"    for port, units in {groups!r}.items():\n"
        f"        await run_modbus_simulator('127.0.0.1', port, units, pad_to={metrics})\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    waiting = list(ports)
    while waiting and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.2):
                waiting.pop(0)
        except OSError:
            time.sleep(0.1)
    if waiting:
        proc.kill()
        proc.wait()
        raise RuntimeError("the Modbus simulator did not start")
    return proc


def agent_config(path: Path, cloud: CloudServer, ports: list[int], args: argparse.Namespace) -> None:
    """N Modbus TCP devices sharing one 50-point map (a YAML anchor), defaults for the uplink and the outbox."""
    points = [p.model_dump(mode="json", exclude_defaults=True, exclude={"unit_id"})
              for p in analyzer_register_map(1, pad_to=args.metrics).points]
    devices = [{"key": f"an{u:03d}", "kind": "modbus_tcp", "host": "127.0.0.1", "port": ports[(u - 1) % len(ports)],
                "unit": u, "interval": args.interval, "error_code_points": ["error_code"], "points": points}
               for u in range(1, args.devices + 1)]
    document = {"gateway_id": cloud.gateway_name, "cloud": {"url": cloud.url, "token": cloud.token},
                "outbox": {"path": "outbox.db"}, "agent": {"status_interval_s": 1.0}, "devices": devices}
    # The devices share one points list object, so the dump writes it once as an anchor and aliases it.
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")


def read_status(path: Path) -> dict[str, Any]:
    """The agent's status snapshot (empty if not written yet)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Start cloud, simulator and agent; warm up; measure the window."""
    cloud = CloudServer(tmp)
    ports = [free_port() for _ in range(SIM_PORTS)]
    config = tmp / "edge.yaml"
    agent_config(config, cloud, ports, args)
    agent = AgentProcess(config, tmp / "agent.log", log_level="WARNING")
    cloud_proc = CloudProcess(cloud.url_db, tmp, cloud.port, tmp / "cloud.log")
    sim: subprocess.Popen[bytes] | None = None
    status_path = tmp / "outbox.db.status.json"
    try:
        cloud_proc.start()
        sim = start_simulator(ports, args.devices, args.metrics)
        agent.start()
        time.sleep(args.warmup)
        before = read_status(status_path)
        stored0, t0 = cloud.stored(), time.monotonic()
        cpu0 = (agent.cpu_seconds() or 0.0, cloud_proc.cpu_seconds() or 0.0, proc_cpu(sim.pid))
        time.sleep(args.seconds)
        stored1, t1 = cloud.stored(), time.monotonic()
        cpu1 = (agent.cpu_seconds() or 0.0, cloud_proc.cpu_seconds() or 0.0, proc_cpu(sim.pid))
        after = read_status(status_path)
        if agent.pid is None:
            raise RuntimeError("the agent died:\n" + agent.log_tail())
    except BaseException:
        sys.stderr.write(agent.log_tail() + "\n")
        raise
    finally:
        agent.close()
        if sim is not None:
            sim.kill()
            sim.wait()
        cloud_proc.stop()
        cloud.close()
    window = t1 - t0
    depth = [((s.get("outbox") or {}).get("telemetry_rows")) for s in (before, after)]
    states = [d.get("state") for d in after.get("devices", [])]
    errors = sum(int(d.get("errors") or 0) for d in after.get("devices", []))
    return {
        "window_s": round(window, 1),
        "readings_offered_per_s": round(args.devices * args.metrics / args.interval),
        "readings_stored_per_s": round((stored1.readings - stored0.readings) / window),
        "events_stored": stored1.events - stored0.events,
        "batches_per_s": round((stored1.batches - stored0.batches) / window, 1),
        "outbox_depth_start_end": depth,
        "devices_online": sum(1 for s in states if s == "online"),
        "device_errors": errors,
        "agent_cpu_core": round((cpu1[0] - cpu0[0]) / window, 3),
        "cloud_cpu_core": round((cpu1[1] - cpu0[1]) / window, 3),
        "simulator_cpu_core": round((cpu1[2] - cpu0[2]) / window, 3),
    }


def main() -> None:
    """Run the bench and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--metrics", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval per device in seconds")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds before the window (start-up, first polls)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medfix-pipeline-") as name:
        numbers = measure(args, Path(name))
    result = {"bench": "edge_pipeline", "python": platform.python_version(), "cpus": os.cpu_count(),
              "source": f"{args.devices} simulated Modbus analyzers x {args.metrics} metrics, {SIM_PORTS} ports",
              "interval_s": args.interval, **numbers}
    print(json.dumps(result, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
