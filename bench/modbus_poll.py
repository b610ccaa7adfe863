"""CPU of the Modbus poller: N simulated analyzers x M metrics polled at 1 Hz, printed as JSON.

The simulator runs in a child process (its CPU is reported apart, not charged to the poller). It serves
every analyzer as its own unit id on one TCP port; the poller side opens one hub (one TCP connection) per
analyzer, as a gateway does for networked analyzers that each have their own IP. `--topology shared`
puts every analyzer behind one hub instead (an RS-485 bus behind one TCP gateway: one lock, serialised).

    .venv/bin/python bench/modbus_poll.py --devices 100 --metrics 50 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import pymodbus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.drivers.modbus import ModbusHub, ModbusPoller  # noqa: E402
from edge.simulate.modbus import ERROR_CODE_POINTS, analyzer_register_map  # noqa: E402
from protocols.telemetry import Event, Reading  # noqa: E402

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_cpu_seconds(pid: int) -> float:
    """utime + stime of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def start_simulator(port: int, devices: int, metrics: int) -> subprocess.Popen[bytes]:
    """Run the simulator in its own process and wait until it listens."""
    code = (
        "from edge.simulate.modbus import simulate_modbus; "
        f"simulate_modbus(host='127.0.0.1', port={port}, units={devices}, pad_to={metrics})"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("simulator did not start")


async def bench(args: argparse.Namespace, port: int, sim_pid: int) -> dict[str, object]:
    """Poll every analyzer for the measured window and return the numbers."""
    counted = {"readings": 0, "events": 0}

    async def sink(items: list[Reading | Event]) -> None:
        for item in items:
            counted["readings" if isinstance(item, Reading) else "events"] += 1

    shared = ModbusHub.tcp("127.0.0.1", port, timeout=2.0) if args.topology == "shared" else None
    hubs: list[ModbusHub] = []
    pollers: list[ModbusPoller] = []
    for unit in range(1, args.devices + 1):
        hub = shared or ModbusHub.tcp("127.0.0.1", port, timeout=2.0)
        if hub not in hubs:
            hubs.append(hub)
        register_map = analyzer_register_map(unit, pad_to=args.metrics)
        pollers.append(
            ModbusPoller(
                hub,
                f"bench-{unit}",
                register_map,
                sink,
                interval=args.interval,
                error_code_points=ERROR_CODE_POINTS,
            )
        )

    async def staggered(index: int, poller: ModbusPoller) -> None:
        # Spread the devices over the interval, as their clocks would be; a herd at t=0 is not realistic.
        await asyncio.sleep(args.interval * index / len(pollers))
        await poller.run()

    tasks = [asyncio.create_task(staggered(i, p)) for i, p in enumerate(pollers)]
    await asyncio.sleep(args.warmup)
    before = {
        "cycles": sum(p.status.cycles for p in pollers),
        "failures": sum(p.status.failures for p in pollers),
        **counted,
    }
    cpu0, wall0, sim_cpu0 = time.process_time(), time.monotonic(), child_cpu_seconds(sim_pid)
    await asyncio.sleep(args.seconds)
    cpu1, wall1, sim_cpu1 = time.process_time(), time.monotonic(), child_cpu_seconds(sim_pid)
    cycles = sum(p.status.cycles for p in pollers) - before["cycles"]
    failures = sum(p.status.failures for p in pollers) - before["failures"]
    readings = counted["readings"] - before["readings"]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for hub in hubs:
        await hub.close()
    wall = wall1 - wall0
    cpu = cpu1 - cpu0
    return {
        "bench": "modbus_poll",
        "topology": args.topology,
        "devices": args.devices,
        "metrics_per_device": len(pollers[0].register_map.points),
        "requests_per_cycle": len(pollers[0].plan),
        "interval_s": args.interval,
        "wall_s": round(wall, 2),
        "cycles": cycles,
        "expected_cycles": int(args.devices * wall / args.interval),
        "errors": failures,
        "readings": readings,
        "readings_per_s": round(readings / wall, 1),
        "poller_cpu_s": round(cpu, 3),
        "poller_cpu_fraction_of_one_core": round(cpu / wall, 4),
        "poller_cpu_ms_per_device_cycle": round(1000 * cpu / max(cycles, 1), 3),
        "simulator_cpu_fraction_of_one_core": round((sim_cpu1 - sim_cpu0) / wall, 4),
        "python": platform.python_version(),
        "pymodbus": pymodbus.__version__,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    """Parse arguments, run the bench once, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--metrics", type=int, default=50, help="pad each analyzer's map to this many metrics")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--topology", choices=("per-device", "shared"), default="per-device")
    args = parser.parse_args()
    port = free_port()
    sim = start_simulator(port, args.devices, args.metrics)
    try:
        result = asyncio.run(bench(args, port, sim.pid))
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
