"""Ticket flow benchmark: N concurrent submitters, M connected consoles; submit→console latency and throughput.

Starts `medfix cloud serve` on a fresh demo database (SQLite by default, or a PostgreSQL URL), connects M agent
consoles over /ws/console, then N submitters post tickets as fast as the server answers. Prints JSON.

    .venv/bin/python bench/ticket_flow.py --submitters 10 --consoles 5 --tickets 300
    .venv/bin/python bench/ticket_flow.py --database postgresql+psycopg://postgres@127.0.0.1/medfix_bench --workers 2 \
        --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(args: argparse.Namespace, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MEDFIX_DATA_DIR": str(data_dir), "MEDFIX_DATABASE_URL": args.database or "",
           "MEDFIX_REDIS_URL": args.redis or "", "MEDFIX_LOG_LEVEL": "WARNING", "MEDFIX_SWEEP_INTERVAL_S": "0"}
    subprocess.run([sys.executable, "-m", "medfix.cli", "demo", "seed"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "medfix.cli", "cloud", "serve", "--port", str(port),
                               "--workers", str(args.workers)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("server did not start")


async def run(args: argparse.Namespace, url: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        token = (await http.post("/api/v1/auth/token", data={"username": "agent", "password": "medfix-demo"})
                 ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        devices = (await http.get("/api/v1/devices?limit=50", headers=headers)).json()["items"]
        sent_at: dict[str, float] = {}
        seen: dict[str, list[float]] = {}
        ready = asyncio.Event()
        connected = 0

        async def console() -> None:
            nonlocal connected
            ws_url = url.replace("http", "ws") + f"/ws/console?token={token}"
            async with websockets.connect(ws_url, max_queue=None) as ws:
                await ws.recv()  # hello
                connected += 1
                if connected == args.consoles:
                    ready.set()
                while True:
                    message = json.loads(await ws.recv())
                    if message.get("event") == "ticket.submitted":
                        seen.setdefault(message["number"], []).append(time.perf_counter())

        consoles = [asyncio.create_task(console()) for _ in range(args.consoles)]
        await asyncio.wait_for(ready.wait(), 30)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.tickets):
            queue.put_nowait(i)
        errors = 0

        async def submitter() -> None:
            nonlocal errors
            while not queue.empty():
                i = queue.get_nowait()
                device = devices[i % len(devices)]
                started = time.perf_counter()
                response = await http.post("/api/v1/tickets", headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                                           json={"device_id": device["id"], "description": f"bench ticket {i}"})
                if response.status_code != 201:
                    errors += 1
                    continue
                sent_at[response.json()["ticket"]["number"]] = started

        began = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(args.submitters)))
        submit_seconds = time.perf_counter() - began
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and any(len(seen.get(n, [])) < args.consoles for n in sent_at):
            await asyncio.sleep(0.05)
        for task in consoles:
            task.cancel()
        latencies = sorted((t - sent_at[n]) * 1000 for n, times in seen.items() if n in sent_at for t in times)
        delivered = sum(1 for n in sent_at if len(seen.get(n, [])) == args.consoles)
    quantile = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return {
        "benchmark": "ticket_flow", "database": "postgresql" if args.database else "sqlite",
        "workers": args.workers, "redis": bool(args.redis), "submitters": args.submitters,
        "consoles": args.consoles, "tickets": args.tickets, "created": len(sent_at), "errors": errors,
        "delivered_to_every_console": delivered, "tickets_per_s": round(len(sent_at) / submit_seconds, 1),
        "submit_to_console_ms": {"p50": round(quantile[49], 1), "p99": round(quantile[98], 1),
                                 "max": round(max(latencies), 1) if latencies else None},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submitters", type=int, default=10)
    parser.add_argument("--consoles", type=int, default=5)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database", default="", help="SQLAlchemy URL; empty = SQLite in a temporary folder")
    parser.add_argument("--redis", default="", help="Redis URL for cross-worker fan-out (needed with --workers > 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server(args, Path(tmp))
        try:
            result = asyncio.run(run(args, url))
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
