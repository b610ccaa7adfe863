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

``--receiver cloud`` (the default) is the real cloud: the app under uvicorn in its own process, on SQLite.
``--receiver sink`` replaces it, *for this benchmark only* (never in tests), with a minimal HTTP server in its own
process that does what the cloud does to a batch up to the database and no more: checks the bearer token, gunzips
and decodes the body with ``protocols.telemetry.decode_batch`` (the same wire contract and full validation, the
cloud's 32 MiB decoded-size limit), dedupes by idempotency key and answers the real ``BatchAck``. Nothing is
stored, so the number is what the agent itself sustains over real HTTP when the cloud keeps up. The probes after
the drain then time that sink alone (to show it was not the limit).

    .venv/bin/python bench/backlog_replay.py --devices 100 --metrics 50 --seconds 60
    .venv/bin/python bench/backlog_replay.py --devices 100 --metrics 50 --seconds 60 --receiver sink
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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from edge.outbox import Outbox  # noqa: E402
from protocols.telemetry import (  # noqa: E402 (encode_batch: the receiver-side probe)
    DEFAULT_MAX_DECODED_BYTES,
    Batch,
    BatchAck,
    Reading,
    TelemetryError,
    decode_batch,
    encode_ack,
    encode_batch,
)
from tests.edge.agent_process import AgentProcess  # noqa: E402
from tests.edge.cloud_process import CloudProcess  # noqa: E402
from tests.edge.cloud_server import CloudServer, free_port  # noqa: E402

SINK_GATEWAY = "bench-gw"
SINK_TOKEN = "mfgw_bench_sink"


def serve_sink(port: int, token: str) -> None:
    """The sink receiver (child process): the ingest's HTTP + wire contract without a database. Benchmark only."""
    import uvicorn

    seen: set[str] = set()
    counts = {"batches": 0, "duplicates": 0, "readings": 0, "events": 0, "rejected": 0}
    expected = f"Bearer {token}".encode()

    async def reply(send: Any, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["method"] == "GET" and scope["path"] == "/stats":
            await reply(send, 200, json.dumps(counts).encode())
            return
        if scope["method"] != "POST" or scope["path"] != "/api/v1/ingest":
            await reply(send, 404, b'{"detail":"not found"}')
            return
        if dict(scope["headers"]).get(b"authorization") != expected:
            await reply(send, 401, b'{"detail":"bad token"}')
            return
        try:  # the same decoder and limit the cloud uses (cloud.config ingest_max_decoded_bytes defaults to it)
            batch = decode_batch(b"".join(chunks), max_decoded_bytes=DEFAULT_MAX_DECODED_BYTES)
        except TelemetryError as exc:
            counts["rejected"] += 1
            await reply(send, 422, json.dumps({"detail": str(exc)}).encode())
            return
        key = batch.idempotency_key
        duplicate = key in seen
        if not duplicate:
            seen.add(key)
            counts["batches"] += 1
            counts["readings"] += len(batch.readings)
            counts["events"] += len(batch.events)
        counts["duplicates"] += int(duplicate)
        ack = BatchAck(idempotency_key=key, accepted_readings=len(batch.readings), accepted_events=len(batch.events),
                       duplicate=duplicate)
        await reply(send, 200, encode_ack(ack))

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


class SinkProcess(CloudProcess):
    """The sink receiver as a child process (same start/stop/CPU accounting as the cloud's)."""

    def __init__(self, tmp: Path) -> None:
        super().__init__("", tmp, free_port(), tmp / "sink.log")
        self.gateway_name, self.token = SINK_GATEWAY, SINK_TOKEN
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """This script in sink mode."""
        return [sys.executable, __file__, "--serve-sink", str(self.port)]

    def stored_readings(self) -> int:
        """Distinct readings the sink acked (it dedupes by batch key)."""
        return int(httpx.get(f"{self.url}/stats", timeout=10).json()["readings"])


def agent_config(path: Path, url: str, gateway: str, token: str, args: argparse.Namespace) -> None:
    """An agent with no devices: it only has to deliver what is in its outbox."""
    extra = "".join(f"\n  {name}: {value}" for name, value in (
        ("max_in_flight", args.max_in_flight), ("backlog_batch_max_items", args.backlog_batch_items),
        ("backlog_batch_max_bytes", args.backlog_batch_bytes), ("backlog_max_in_flight", args.backlog_max_in_flight),
    ) if value)
    path.write_text(f"""gateway_id: {gateway}
cloud:
  url: {url}
  token: {token}
  batch_max_items: {args.batch_items}
  batch_max_bytes: {args.batch_bytes}{extra}
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


def drain(agent: AgentProcess, receiver: CloudProcess, stored_readings: Callable[[], int], status_path: Path,
          total: int) -> dict[str, Any]:
    """Receiver down -> agent in backoff -> receiver up -> time until the outbox is empty and the receiver has it
    all."""
    agent.start()
    deadline = time.monotonic() + 60
    while True:  # wait for a failed delivery: the agent is in backoff, as after a real outage
        snap = status(status_path)
        if snap and (snap.get("uplink") or {}).get("retries", 0) >= 1:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the agent never tried the cloud:\n" + agent.log_tail())
        time.sleep(0.1)
    receiver.start()
    t0 = time.monotonic()
    agent_cpu0, cloud_cpu0 = agent.cpu_seconds() or 0.0, receiver.cpu_seconds() or 0.0
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
    cloud_cpu = (receiver.cpu_seconds() or 0.0) - cloud_cpu0
    stored = stored_readings()
    assert stored == total, f"the receiver holds {stored} of {total} readings"
    return {"drain_s": round(elapsed, 2), "first_ack_after_s": round(first_ack or 0.0, 2),
            "batches": uplink["batches_acked"], "duplicate_acks": uplink.get("duplicates"),
            # The uplink's own counters: most batches in flight at once, batches that waited for an earlier one
            # sharing a stream (per-stream ordering).
            "peak_in_flight": uplink.get("peak_in_flight"), "ordered_waits": uplink.get("ordered_waits"),
            "agent_cpu_core": round(agent_cpu / elapsed, 3), "receiver_cpu_core": round(cloud_cpu / elapsed, 3),
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
            batch = outbox.lease_wire(max_items=args.batch_items, max_bytes=args.batch_bytes)
            t1 = time.perf_counter()
            if batch is None:
                break
            outbox.nack(batch.idempotency_key)
            again = outbox.lease_wire(max_items=args.batch_items, max_bytes=args.batch_bytes)
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


def edge_side_backlog(tmp: Path, gateway_id: str, args: argparse.Namespace, count: int) -> dict[str, float]:
    """The outbox's part alone as the uplink leases a backlog: backlog-size batches, each leaving out the devices
    of the ones in flight (``lanes`` = backlog_max_in_flight in flight, the oldest acked first), no network."""
    from edge.config import CloudSettings

    settings = CloudSettings(url="http://x", token="t")
    items = args.backlog_batch_items or settings.backlog_batch_max_items
    max_bytes = max(args.batch_bytes, args.backlog_batch_bytes or settings.backlog_batch_max_bytes)
    lanes = args.backlog_max_in_flight or settings.backlog_max_in_flight
    with Outbox(tmp / "edge_backlog.db", gateway_id=gateway_id, max_telemetry_rows=count + 1) as outbox:
        start = datetime.now(UTC)
        for second in range(count // (args.devices * args.metrics)):
            tick = readings(args.devices, args.metrics, second, start)
            outbox.append_many([tick[d * args.metrics:(d + 1) * args.metrics] for d in range(args.devices)])
        window: list[Any] = []
        lease = ack = 0.0
        batches = sizes = 0
        while True:
            t0 = time.perf_counter()
            busy = frozenset().union(*(b.devices for b in window))
            batch = outbox.lease_wire(max_items=items, max_bytes=max_bytes, lanes=lanes, busy_devices=busy)
            lease += time.perf_counter() - t0
            if batch is not None:
                window.append(batch)
                batches, sizes = batches + 1, sizes + batch.items
                if len(window) < lanes:
                    continue
            if not window:
                break
            t0 = time.perf_counter()
            outbox.ack(window.pop(0).idempotency_key)
            ack += time.perf_counter() - t0
    assert sizes == count, (sizes, count)
    return {"readings": count, "batches": batches, "mean_batch_items": round(sizes / batches),
            "readings_per_s": round(count / (lease + ack)),
            "ms_per_batch_lease_incl_gzip": round(1000 * lease / batches, 2),
            "ms_per_batch_ack": round(1000 * ack / batches, 2)}


async def cloud_side(cloud: CloudServer | SinkProcess, batches: int, per_batch: int, concurrency: int,
                     offset: int) -> dict[str, Any]:
    """POST ready-made gzip batches (fresh keys, fresh readings) with ``concurrency`` clients; readings/s acked."""
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
    parser.add_argument("--receiver", choices=("cloud", "sink"), default="cloud",
                        help="the real cloud (SQLite), or the benchmark's decode-and-ack sink (no database)")
    parser.add_argument("--batch-items", type=int, default=500, help="cloud.batch_max_items (the default is 500)")
    parser.add_argument("--batch-bytes", type=int, default=256 * 1024,
                        help="cloud.batch_max_bytes (the default is 262144)")
    parser.add_argument("--max-in-flight", type=int, default=0, help="cloud.max_in_flight (0: the uplink's default)")
    parser.add_argument("--backlog-batch-items", type=int, default=0,
                        help="cloud.backlog_batch_max_items (0: the config's default)")
    parser.add_argument("--backlog-batch-bytes", type=int, default=0,
                        help="cloud.backlog_batch_max_bytes (0: the config's default)")
    parser.add_argument("--backlog-max-in-flight", type=int, default=0,
                        help="cloud.backlog_max_in_flight (0: the config's default)")
    parser.add_argument("--probe-batches", type=int, default=40, help="batches per receiver-side probe")
    parser.add_argument("--serve-sink", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the sink's own process
    args = parser.parse_args()
    if args.serve_sink:
        serve_sink(args.serve_sink, SINK_TOKEN)
        return
    total = args.devices * args.metrics * args.seconds
    with tempfile.TemporaryDirectory(prefix="medfix-backlog-") as name:
        tmp = Path(name)
        receiver: CloudProcess
        target: CloudServer | SinkProcess
        if args.receiver == "sink":
            sink = SinkProcess(tmp)
            receiver = target = sink
            stored = sink.stored_readings
            cloud: CloudServer | None = None
        else:
            cloud = CloudServer(tmp)  # migrates the database and registers the gateway; never started in-process
            receiver = CloudProcess(cloud.url_db, tmp, cloud.port, tmp / "cloud.log")
            target = cloud

            def stored() -> int:
                assert cloud is not None
                return cloud.stored().readings
        config = tmp / "edge.yaml"
        agent_config(config, target.url, target.gateway_name, target.token, args)
        agent = AgentProcess(config, tmp / "agent.log", log_level="WARNING")
        try:
            filled = fill(tmp / "outbox.db", target.gateway_name, args)
            replay = drain(agent, receiver, stored, tmp / "outbox.db.status.json", total)
            agent.terminate()
            edge = edge_side(tmp, target.gateway_name, args, min(total, 50_000))
            edge_backlog = edge_side_backlog(tmp, target.gateway_name, args, min(total, 300_000))
            serial = asyncio.run(cloud_side(target, args.probe_batches, args.batch_items, 1, 1))
            parallel = asyncio.run(cloud_side(target, args.probe_batches, args.batch_items, 4, 2))
        except BaseException:
            sys.stderr.write(agent.log_tail() + "\n")
            raise
        finally:
            agent.close()
            receiver.stop()
            if cloud is not None:
                cloud.close()
    rate = total / replay["drain_s"]
    sending = replay["drain_s"] - replay["first_ack_after_s"]
    result = {
        "bench": "backlog_replay",
        "receiver": args.receiver,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "backlog": {"devices": args.devices, "metrics": args.metrics, "outage_s": args.seconds, **filled},
        "batch_max_items": args.batch_items,
        "batch_max_bytes": args.batch_bytes,
        "max_in_flight": args.max_in_flight or "default",
        "backlog_batch_max_items": args.backlog_batch_items or "default",
        "backlog_max_in_flight": args.backlog_max_in_flight or "default",
        "replay": {**replay, "readings_per_s": round(rate), "real_time_readings_per_s": args.devices * args.metrics,
                   "x_real_time": round(args.seconds / replay["drain_s"], 1),
                   # Without the agent's wait for its retry backoff to end (up to retry_max_s = 1 s) before the
                   # first send: the sustained rate once sending.
                   # (None when the whole backlog went in the first answered batch: nothing to measure after it)
                   "readings_per_s_after_first_ack": round(total / sending) if sending > 0 else None,
                   "x_real_time_after_first_ack": round(args.seconds / sending, 1) if sending > 0 else None},
        "edge_only": edge,
        "edge_only_backlog_batches": edge_backlog,
        f"{args.receiver}_only_sequential": serial,
        f"{args.receiver}_only_4_concurrent": parallel,
    }
    print(json.dumps(result, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
