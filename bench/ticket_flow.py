"""Ticket flow benchmark: submits against M connected consoles; submit→console latency, POST times, CPU per ticket.

Starts `medfix cloud serve` on freshly seeded demo data, connects M agent consoles over /ws/console (in a child
process of their own, so receiving thousands of pushes a second does not delay the submitters), then posts
tickets either

* open loop (`--rate R`): one POST every 1/R s, each its own task, so a slow answer never delays the next
  submit (what a crowd of reporters does), or
* closed loop (no `--rate`): N submitters post one after the other as fast as the server answers.

Latency runs from the moment a POST starts to each console's receipt of that ticket's `ticket.submitted` push
(both clocks are CLOCK_MONOTONIC, shared by the two processes). Prints JSON: latency percentiles, how many
tickets reached every console, errors, offered and achieved rates, POST response times, and the CPU each party
spent per ticket (API workers, PostgreSQL backends of the bench database, Redis, this client, the consoles),
so a missed aim on a shared machine says where the time went.

With a PostgreSQL URL the bench creates a scratch database on that server and drops it afterwards (the URL's
database name is not used, so nothing of an earlier run is ever measured).

    .venv/bin/python bench/ticket_flow.py --submitters 10 --consoles 5 --tickets 300
    .venv/bin/python bench/ticket_flow.py --rate 50 --consoles 50 --tickets 1500 --workers 2 \
        --redis redis://127.0.0.1:6379/0 --database postgresql+psycopg://postgres@127.0.0.1/medfix_bench
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
# The consoles read only what they measure: a regular-expression look at the raw frame instead of a JSON parse
# of every message (each console also hears the in-app notification and the on-site estimate of every ticket,
# which it skips). They ask for batches as the desk's pages do (a frame may be a JSON array of messages): every
# ticket.submitted message in a frame counts, its number found before the message's closing brace.
SUBMITTED = re.compile(rb'"event":\s*"ticket\.submitted"[^{}]*?"number":\s*"([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def bench_database(url: str, tmp: Path) -> Iterator[str]:
    """The database the server runs on: a fresh SQLite file, or a scratch PostgreSQL database on url's server."""
    if not url:
        yield ""
        return
    sys.path.insert(0, str(ROOT))
    from bench.ingest import scratch_database

    with scratch_database("postgresql", tmp, server_url=url) as scratch:
        yield scratch


def start_server(args: argparse.Namespace, database: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MEDFIX_DATA_DIR": str(data_dir), "MEDFIX_DATABASE_URL": database,
           "MEDFIX_REDIS_URL": args.redis or "", "MEDFIX_LOG_LEVEL": "WARNING", "MEDFIX_SWEEP_INTERVAL_S": "0"}
    subprocess.run([sys.executable, "-m", "medfix.cli", "demo", "seed"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    log = open(args.server_log, "ab") if args.server_log else subprocess.DEVNULL  # noqa: SIM115 - the server's life
    server = subprocess.Popen([sys.executable, "-m", "medfix.cli", "cloud", "serve", "--port", str(port),
                               "--workers", str(args.workers)], env=env, cwd=ROOT,
                              stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    os.killpg(server.pid, signal.SIGKILL)  # its workers too: they would outlive the dropped database otherwise
    server.wait(timeout=5)
    raise SystemExit("server did not start")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Stop uvicorn and its workers; kill the whole group when a graceful stop takes too long."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


# --- CPU accounting (from /proc: comparable from run to run when wall times are not) -------------------------

def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def _children(pid: int) -> list[int]:
    """Every descendant of pid (uvicorn's supervisor and its worker processes)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            child = int(entry.name)
            found += [child, *_children(child)]
    return found


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
    return pids


def _pg_backends(database: str) -> list[int]:
    """PostgreSQL backend processes serving the bench database."""
    if not database:
        return []
    from sqlalchemy import create_engine, text

    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [int(p) for (p,) in conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))]
    finally:
        engine.dispose()


class CpuMeter:
    """CPU seconds spent by the server's processes, the database's backends and Redis between two readings."""

    def __init__(self, server_pid: int, database: str) -> None:
        self.server = [server_pid, *_children(server_pid)]
        self.database = database
        self.redis = _pids_named("redis-server")

    def read(self) -> dict[str, float]:
        return {"api_workers": sum(_cpu_s(p) for p in self.server),
                "postgresql": sum(_cpu_s(p) for p in _pg_backends(self.database)),
                "redis": sum(_cpu_s(p) for p in self.redis),
                "bench_client": time.process_time()}


# --- consoles, in their own process ----------------------------------------------------------------------------

def consoles_main(ws_url: str, token: str, count: int, deflate: bool,
                  pipe: multiprocessing.connection.Connection) -> None:
    """Connect count consoles; tell the parent when all listen; collect receipt times until told to stop."""
    asyncio.run(_consoles(ws_url, token, count, deflate, pipe))


async def _consoles(ws_url: str, token: str, count: int, deflate: bool,
                    pipe: multiprocessing.connection.Connection) -> None:
    seen: dict[str, list[float]] = {}
    connected = 0
    ready = asyncio.Event()

    async def console() -> None:
        nonlocal connected
        # Offer permessage-deflate as browsers do (the server decides whether to compress each push per console).
        # The token goes in the handshake's header, never in the URL (security finding 7 of issue #13).
        async with websockets.connect(ws_url, max_queue=None, compression="deflate" if deflate else None,
                                      ping_interval=None,
                                      additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.recv()  # hello
            connected += 1
            if connected == count:
                ready.set()
            while True:
                frame = await ws.recv(decode=False)
                received = time.monotonic()
                for submitted in SUBMITTED.finditer(frame):
                    seen.setdefault(submitted.group(1).decode(), []).append(received)

    tasks = [asyncio.create_task(console()) for _ in range(count)]
    if count == 0:  # submits alone: what the fan-out costs is the difference to a run with consoles
        ready.set()
    await asyncio.wait_for(ready.wait(), 60)
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    # The parent sends the numbers it created once its submits are done; wait until each reached every console.
    expected: list[str] = await loop.run_in_executor(None, pipe.recv)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(len(seen.get(n, ())) < count for n in expected):
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    pipe.send((seen, time.process_time()))


# --- submitters -----------------------------------------------------------------------------------------------

class LeanHttp:
    """Just enough HTTP/1.1 for the submits (keep-alive, Content-Length bodies): a fraction of httpx's CPU per
    request, and no pool whose bookkeeping grows with the requests in flight when the server falls behind."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: bytes, headers: str) -> tuple[int, bytes]:
        """(status, body) of one POST; a kept-alive connection the server closed meanwhile is retried once."""
        request = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
                   ).encode() + body
        while True:
            reused = bool(self.idle)
            reader, writer = self.idle.pop() if reused else await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(request)
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed by the server")
                length, keep = 0, True
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and "close" in value.lower():
                        keep = False
                answer = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError):
                writer.close()
                if reused:
                    continue
                raise
            if keep:
                self.idle.append((reader, writer))
            else:
                writer.close()
            return int(status_line.split()[1]), answer

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


# --- measuring -----------------------------------------------------------------------------------------------

def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    cut = statistics.quantiles(values, n=100) if len(values) >= 2 else [values[0]] * 99
    return {"p50": round(cut[49], 1), "p95": round(cut[94], 1), "p99": round(cut[98], 1),
            "max": round(max(values), 1)}


async def run(args: argparse.Namespace, url: str, meter: CpuMeter) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as setup:
        token = (await setup.post("/api/v1/auth/token", data={"username": "agent", "password": "medfix-demo"})
                 ).json()["access_token"]
        devices = (await setup.get("/api/v1/devices?limit=50", headers={"Authorization": f"Bearer {token}"})
                   ).json()["items"]
    http = LeanHttp(url)
    try:
        return await _measure(args, url, meter, http, token, devices)
    finally:
        http.close()


async def _measure(args: argparse.Namespace, url: str, meter: CpuMeter, http: LeanHttp, token: str,
                   devices: list[dict[str, Any]]) -> dict[str, Any]:
    headers = f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    ws_url = url.replace("http", "ws", 1) + "/ws/console?batch=1"  # as the desk's LiveSocket
    consoles = context.Process(target=consoles_main, args=(ws_url, token, args.consoles, not args.no_deflate, theirs),
                               daemon=True)
    consoles.start()
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, ours.poll, 90):
        raise SystemExit("the consoles did not connect")
    assert ours.recv() == "ready"

    sent_at: dict[str, float] = {}
    post_ms: list[float] = []
    start_lag_ms: list[float] = []
    errors: dict[str, int] = {}

    async def post(i: int, scheduled: float | None) -> None:
        device = devices[i % len(devices)]
        started = time.monotonic()
        if scheduled is not None:
            start_lag_ms.append((started - scheduled) * 1000)
        body = json.dumps({"device_id": device["id"], "description": f"bench ticket {i}"}).encode()
        try:
            status, answer = await http.post("/api/v1/tickets", body,
                                             headers + f"Idempotency-Key: {uuid.uuid4().hex}\r\n")
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        post_ms.append((time.monotonic() - started) * 1000)
        if status != 201:
            errors[str(status)] = errors.get(str(status), 0) + 1
            return
        sent_at[json.loads(answer)["ticket"]["number"]] = started

    cpu_before = meter.read()
    began = time.monotonic()
    if args.rate:
        tasks = []
        for i in range(args.tickets):
            scheduled = began + i / args.rate
            if (delay := scheduled - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(i, scheduled)))
        offered_seconds = time.monotonic() - began
        await asyncio.gather(*tasks)
    else:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.tickets):
            queue.put_nowait(i)

        async def submitter() -> None:
            while not queue.empty():
                await post(queue.get_nowait(), None)

        await asyncio.gather(*(submitter() for _ in range(args.submitters)))
        offered_seconds = time.monotonic() - began
    submit_seconds = time.monotonic() - began

    ours.send(list(sent_at))
    seen, consoles_cpu = await loop.run_in_executor(None, ours.recv)
    cpu_after = meter.read()
    consoles.join(10)

    latencies = sorted((t - sent_at[n]) * 1000 for n, times in seen.items() if n in sent_at for t in times)
    delivered = sum(1 for n in sent_at if len(seen.get(n, ())) >= args.consoles)
    created = len(sent_at)
    per_ticket = {name: round((cpu_after[name] - cpu_before[name]) * 1000 / max(created, 1), 2) for name in cpu_after}
    per_ticket["consoles"] = round(consoles_cpu * 1000 / max(created, 1), 2)  # includes their connecting
    result: dict[str, Any] = {
        "benchmark": "ticket_flow", "database": "postgresql" if args.database else "sqlite",
        "workers": args.workers, "redis": bool(args.redis), "mode": "open" if args.rate else "closed",
        "consoles": args.consoles, "tickets": args.tickets, "created": created, "errors": errors,
        "delivered_to_every_console": delivered, "deliveries": len(latencies),
        "achieved_submits_per_s": round(created / submit_seconds, 1),
        "submit_to_console_ms": percentiles(latencies),
        "post_ms": percentiles(sorted(post_ms)),
        "cpu_ms_per_ticket": per_ticket,
        "cpu_cores_busy": round(sum(cpu_after[k] - cpu_before[k] for k in cpu_after) / submit_seconds, 2),
    }
    if args.rate:
        result["offered_submits_per_s"] = args.rate
        result["started_submits_per_s"] = round(args.tickets / offered_seconds, 1) if offered_seconds else None
        result["client_start_lag_ms"] = percentiles(sorted(start_lag_ms))  # how late the client fired: its own load
    else:
        result["submitters"] = args.submitters
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: submits per second (0 = closed loop)")
    parser.add_argument("--submitters", type=int, default=10, help="closed loop: concurrent submitters")
    parser.add_argument("--consoles", type=int, default=5)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database", default="", help="a PostgreSQL URL: a scratch database is created on its "
                                                       "server and dropped afterwards; empty = SQLite in a temp folder")
    parser.add_argument("--redis", default="", help="Redis URL for cross-worker fan-out (needed with --workers > 1)")
    parser.add_argument("--server-log", default="", help="append the server's output (warnings and errors) here")
    parser.add_argument("--no-deflate", action="store_true", help="consoles do not offer permessage-deflate "
                                                                 "(browsers do)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_database(args.database, Path(tmp)) as database:
        server, url = start_server(args, database, Path(tmp))
        try:
            result = asyncio.run(run(args, url, CpuMeter(server.pid, database)))
        finally:
            stop_server(server)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
