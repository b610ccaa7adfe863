"""Backlog replay after a cloud outage: how fast the agent drains its outbox once the cloud is back, printed as JSON.

The backlog is what N devices x M metrics at 1 Hz produce during an outage of S seconds. 100 x 50 at 1 Hz is 5,000
readings/s, so a 10-minute outage of that fleet is 3,000,000 readings (``--seconds 600``; the outbox's default
max_telemetry_rows of 20,000,000 holds 66 minutes of it); the default ``--seconds 60`` builds 300,000
readings (one minute of that fleet, or ten minutes of 10 devices) to keep the run short. The ratio to real time is
the replay rate over the fleet's production rate, which does not depend on the backlog's length. It is
appended straight into the agent's outbox file before the agent starts, shaped as the agent stores it (one group
of M readings per device, one group commit per simulated second), and its size on disk per reading is reported
(the outbox's cap sizing, docs/benchmarks-edge.md): producing it through 100 simulated Modbus devices would take
the 10 minutes themselves, and the polling side has its own bench (bench/modbus_poll.py). Then the real agent
(`medfix edge run`, no devices) starts with the cloud down, reaches its retry backoff, the cloud (its own process,
SQLite) comes up, and the clock runs until the agent's outbox is empty and the cloud holds every reading.

Then, to find the bottleneck, the two halves are timed apart: the edge side alone (outbox lease, which freezes the
batch's gzip wire bytes, + ack, with no network) and the cloud side alone (POSTs of ready-made gzip batches, one at
a time and with 4 concurrent clients, the latter being what a pipelined uplink could at best get).

    .venv/bin/python bench/backlog_replay.py --devices 100 --metrics 50 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from edge.outbox import Outbox  # noqa: E402
from protocols.telemetry import Batch, Reading, encode_batch  # noqa: E402 (encode_batch: the cloud-side probe)
from tests.edge.agent_process import AgentProcess  # noqa: E402
from tests.edge.cloud_process import CloudProcess  # noqa: E402
from tests.edge.cloud_server import CloudServer  # noqa: E402


def agent_config(path: Path, cloud: CloudServer, args: argparse.Namespace) -> None:
    """An agent with no devices: it only has to deliver what is in its outbox."""
    path.write_text(f"""gateway_id: {cloud.gateway_name}
cloud:
  url: {cloud.url}
  token: {cloud.token}
  batch_max_items: {args.batch_items}
  retry_initial_s: 0.2
  retry_max_s: 1
  timeout_s: 60
outbox:
  path: outbox.db
  max_telemetry_rows: {args.devices * args.metrics * args.seconds + 1}
agent:
  status_interval_s: 0.25
devices: []
""", encoding="utf-8")


def readings(devices: int, metrics: int, second: int, start: datetime) -> list[Reading]:
    """One second of the fleet: every device's every metric."""
    at = start + timedelta(seconds=second)
    return [Reading(device_key=f"an{d:03d}", metric=f"m{m:02d}", value=20.0 + d + m / 100 + second / 1000,
                    observed_at=at, unit="C") for d in range(devices) for m in range(metrics)]


def fill(path: Path, gateway_id: str, args: argparse.Namespace) -> dict[str, float]:
    """Append the outage's readings to the outbox (as the agent would have while the cloud was down)."""
    total = args.devices * args.metrics * args.seconds
    start = datetime.now(UTC) - timedelta(seconds=args.seconds)
    build = append = 0.0
    with Outbox(path, gateway_id=gateway_id, max_telemetry_rows=total + 1) as outbox:
        for second in range(args.seconds):
            t0 = time.perf_counter()
            tick = readings(args.devices, args.metrics, second, start)
            groups = [tick[d * args.metrics:(d + 1) * args.metrics] for d in range(args.devices)]
            t1 = time.perf_counter()
            outbox.append_many(groups)
            append += time.perf_counter() - t1
            build += t1 - t0
        stats = outbox.stats()
    assert stats.telemetry_rows == total and stats.telemetry_dropped_total == 0, stats
    return {"readings": total, "append_s": round(append, 2), "append_readings_per_s": round(total / append),
            "outbox_mib": round(stats.file_bytes / 2**20, 1),
            "outbox_bytes_per_reading": round(stats.file_bytes / total, 1),
            "json_bytes_per_reading": round(stats.payload_bytes / total, 1)}


def status(path: Path) -> dict[str, Any] | None:
    """The agent's last status snapshot."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def drain(agent: AgentProcess, cloud: CloudServer, cloud_proc: CloudProcess, status_path: Path,
          total: int) -> dict[str, Any]:
    """Cloud down -> agent in backoff -> cloud up -> time until the outbox is empty and the cloud has it all."""
    agent.start()
    deadline = time.monotonic() + 60
    while True:  # wait for a failed delivery: the agent is in backoff, as after a real outage
        snap = status(status_path)
        if snap and (snap.get("uplink") or {}).get("retries", 0) >= 1:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the agent never tried the cloud:\n" + agent.log_tail())
        time.sleep(0.1)
    cloud_proc.start()
    t0 = time.monotonic()
    agent_cpu0, cloud_cpu0 = agent.cpu_seconds() or 0.0, cloud_proc.cpu_seconds() or 0.0
    first_ack = None
    while True:
        snap = status(status_path) or {}
        uplink, outbox = snap.get("uplink") or {}, snap.get("outbox") or {}
        if first_ack is None and uplink.get("batches_acked"):
            first_ack = time.monotonic() - t0
        if outbox and outbox.get("telemetry_rows", 1) == 0 and uplink.get("items_acked") == total:
            break
        if time.monotonic() - t0 > 1800:
            raise RuntimeError("the backlog did not drain in 30 min")
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    agent_cpu = (agent.cpu_seconds() or 0.0) - agent_cpu0
    cloud_cpu = (cloud_proc.cpu_seconds() or 0.0) - cloud_cpu0
    stored = cloud.stored()
    assert stored.readings == total, f"the cloud holds {stored.readings} of {total} readings"
    return {"drain_s": round(elapsed, 2), "first_ack_after_s": round(first_ack or 0.0, 2),
            "batches": uplink["batches_acked"], "duplicate_acks": uplink.get("duplicates"),
            "agent_cpu_core": round(agent_cpu / elapsed, 3), "cloud_cpu_core": round(cloud_cpu / elapsed, 3),
            "status_poll_granularity_s": 0.25}


def edge_side(tmp: Path, gateway_id: str, args: argparse.Namespace, count: int) -> dict[str, float]:
    """The outbox's part alone: lease (forms the batch and freezes its gzip wire bytes) + re-lease after a nack (the
    stored bytes, no re-encoding) + ack, no network: what the uplink costs the agent per batch."""
    with Outbox(tmp / "edge_only.db", gateway_id=gateway_id, max_telemetry_rows=count + 1) as outbox:
        start = datetime.now(UTC)
        for second in range(count // (args.devices * args.metrics)):
            tick = readings(args.devices, args.metrics, second, start)
            outbox.append_many([tick[d * args.metrics:(d + 1) * args.metrics] for d in range(args.devices)])
        lease = re_lease = ack = 0.0
        batches = 0
        while True:
            t0 = time.perf_counter()
            batch = outbox.lease_wire(max_items=args.batch_items, max_bytes=256 * 1024)
            t1 = time.perf_counter()
            if batch is None:
                break
            outbox.nack(batch.idempotency_key)
            again = outbox.lease_wire(max_items=args.batch_items, max_bytes=256 * 1024)
            t2 = time.perf_counter()
            assert again is not None and again.wire == batch.wire
            outbox.ack(batch.idempotency_key)
            t3 = time.perf_counter()
            lease, re_lease, ack, batches = lease + t1 - t0, re_lease + t2 - t1, ack + t3 - t2, batches + 1
    total = lease + ack
    return {"readings": count, "batches": batches, "readings_per_s": round(count / total),
            "ms_per_batch_lease_incl_gzip": round(1000 * lease / batches, 2),
            "ms_per_batch_re_lease": round(1000 * re_lease / batches, 2),
            "ms_per_batch_ack": round(1000 * ack / batches, 2)}


async def cloud_side(cloud: CloudServer, batches: int, per_batch: int, concurrency: int, offset: int) -> dict[str, Any]:
    """POST ready-made gzip batches (fresh keys, fresh readings) with ``concurrency`` clients; readings/s stored."""
    start = datetime.now(UTC) + timedelta(days=offset)
    bodies = []
    for n in range(batches):
        items = [Reading(device_key=f"cs{offset}-{i % 100:03d}", metric=f"m{i // 100:02d}", value=float(i),
                         observed_at=start + timedelta(seconds=n)) for i in range(per_batch)]
        batch = Batch(gateway_id=cloud.gateway_name, stream_id=f"bench{offset}", sequence=n + 1,
                      created_at=datetime.now(UTC), readings=items)
        bodies.append(encode_batch(batch, compress=True))
    queue = list(reversed(bodies))
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {cloud.token}", "Content-Encoding": "gzip",
               "Content-Type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            t0 = time.perf_counter()
            response = await client.post("/api/v1/ingest", content=body, headers=headers)
            latencies.append(time.perf_counter() - t0)
            response.raise_for_status()

    async with httpx.AsyncClient(base_url=cloud.url, timeout=120) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {"concurrency": concurrency, "batches": batches, "readings_per_s": round(batches * per_batch / elapsed),
            "ms_per_batch_p50": round(1000 * latencies[len(latencies) // 2], 1)}


def main() -> None:
    """Run the bench and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--metrics", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60, help="outage length in seconds of 1 Hz data")
    parser.add_argument("--batch-items", type=int, default=500, help="cloud.batch_max_items (the default is 500)")
    parser.add_argument("--probe-batches", type=int, default=40, help="batches per cloud-side probe")
    args = parser.parse_args()
    total = args.devices * args.metrics * args.seconds
    with tempfile.TemporaryDirectory(prefix="medfix-backlog-") as name:
        tmp = Path(name)
        cloud = CloudServer(tmp)  # migrates the database and registers the gateway; never started in-process
        config = tmp / "edge.yaml"
        agent_config(config, cloud, args)
        agent = AgentProcess(config, tmp / "agent.log", log_level="WARNING")
        cloud_proc = CloudProcess(cloud.url_db, tmp, cloud.port, tmp / "cloud.log")
        try:
            filled = fill(tmp / "outbox.db", cloud.gateway_name, args)
            replay = drain(agent, cloud, cloud_proc, tmp / "outbox.db.status.json", total)
            agent.terminate()
            edge = edge_side(tmp, cloud.gateway_name, args, min(total, 50_000))
            serial = asyncio.run(cloud_side(cloud, args.probe_batches, args.batch_items, 1, 1))
            parallel = asyncio.run(cloud_side(cloud, args.probe_batches, args.batch_items, 4, 2))
        except BaseException:
            sys.stderr.write(agent.log_tail() + "\n")
            raise
        finally:
            agent.close()
            cloud_proc.stop()
            cloud.close()
    rate = total / replay["drain_s"]
    result = {
        "bench": "backlog_replay",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "backlog": {"devices": args.devices, "metrics": args.metrics, "outage_s": args.seconds, **filled},
        "batch_max_items": args.batch_items,
        "replay": {**replay, "readings_per_s": round(rate), "real_time_readings_per_s": args.devices * args.metrics,
                   "x_real_time": round(args.seconds / replay["drain_s"], 1)},
        "edge_only": edge,
        "cloud_only_sequential": serial,
        "cloud_only_4_concurrent": parallel,
    }
    print(json.dumps(result, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
