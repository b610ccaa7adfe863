"""The WeChat callback under load: requests/s and p99 of /wechat/callback for signed safe-mode SCAN events.

Starts the cloud as its own process (uvicorn, --workers of them; SQLite in a temporary folder, or a fresh PostgreSQL
database with --postgresql and the dedupe in Redis with --redis-url, as deployed; WeChat configured),
registers a device with a QR label, then fires distinct signed and encrypted SCAN events (each a new user and
time, so each one is deduped, answered with the repair link and logged after the response) from concurrent
clients on loopback; with --deliveries 3 each message arrives three times, as WeChat retries. Signing happens
before the clock starts: it is WeChat's cost, not ours. Then it waits until every message's effect (its inbound
log row) is written and checks none was written twice: `all_logged_after_s` is from the first request to the
last effect. Prints JSON.

    .venv/bin/python bench/wechat_callback.py --requests 3000 --concurrency 32
    .venv/bin/python bench/wechat_callback.py --workers 2 --postgresql --redis-url redis://127.0.0.1:6379/5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from cloud.audit.service import Actor  # noqa: E402
from cloud.db import make_engine, make_sessionmaker  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402
from cloud.qr import service as qr_service  # noqa: E402
from cloud.qr.models import TargetKind  # noqa: E402
from cloud.registry import service as registry  # noqa: E402
from cloud.registry.schemas import DeviceIn, HospitalIn  # noqa: E402
from cloud.wechat.callback import scene_for  # noqa: E402
from cloud.wechat.standin import StandIn  # noqa: E402

APPID, TOKEN, AES_KEY = "wxbench000000001", "bench-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PG_ADMIN_URL = os.environ.get("MEDFIX_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def _database(folder: Path, postgresql: bool) -> Iterator[str]:
    """A SQLite file in folder, or a fresh PostgreSQL database dropped afterwards."""
    if not postgresql:
        yield f"sqlite:///{folder / 'medfix.db'}"
        return
    from sqlalchemy import create_engine, text

    name = f"medfix_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _seed(url: str) -> str:
    """A hospital, a device and its label; returns the SCAN scene."""
    engine = make_engine(url)
    upgrade(engine)
    actor = Actor.system("bench")
    with make_sessionmaker(engine)() as session:
        hospital = registry.create_hospital(session, actor=actor, data=HospitalIn(name="基准医院"))
        device = registry.create_device(session, actor=actor, data=DeviceIn(
            serial="BENCH-1", manufacturer="Roche", model="cobas c 702", category="chemistry",
            hospital_id=hospital.id))
        code = qr_service.code_for(session, kind=TargetKind.device, target_id=device.id, actor=actor).code
        session.commit()
    engine.dispose()
    return scene_for(TargetKind.device, code)


def _start_server(data_dir: Path, port: int, *, database_url: str, redis_url: str,
                  workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MEDFIX_DATA_DIR": str(data_dir), "MEDFIX_SWEEP_INTERVAL_S": "0",
           "MEDFIX_DATABASE_URL": database_url, "MEDFIX_REDIS_URL": redis_url,
           "MEDFIX_SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",  # one key for every worker
           "MEDFIX_WECHAT_APPID": APPID, "MEDFIX_WECHAT_SECRET": "x", "MEDFIX_WECHAT_TOKEN": TOKEN,
           "MEDFIX_WECHAT_ENCODING_AES_KEY": AES_KEY, "MEDFIX_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cloud.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log", "--workers", str(workers)],
        cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the cloud did not start")


def _request_bytes(port: int, params: dict[str, str], body: str) -> bytes:
    """One HTTP/1.1 keep-alive POST, encoded before the clock starts."""
    payload = body.encode()
    head = (f"POST /wechat/callback?{urlencode(params)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def _fire(port: int, requests: list[tuple[dict[str, str], str]], concurrency: int) -> dict[str, Any]:
    """Each of `concurrency` keep-alive connections sends its next request when the previous answer is in.

    The client is a few lines over asyncio streams, not an HTTP library: it shares the 2 cores with the server,
    and WeChat's servers do not run on ours (httpx alone took half a core at 200 requests/s)."""
    latencies: list[float] = []
    errors = 0
    queue = deque(_request_bytes(port, params, body) for params, body in requests)

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                request = queue.popleft()
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if not head.startswith(b"HTTP/1.1 200") or b"<Encrypt>" not in body:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {"requests": len(latencies), "errors": errors, "seconds": round(elapsed, 3),
            "requests_per_s": round(len(latencies) / elapsed, 1), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(latencies[-1] * 1000, 2)}


def _logged(database_url: str, messages: int, *, started: float, timeout_s: float = 120.0) -> dict[str, Any]:
    """Wait until every message's effect (its inbound log row) is written; check each was written once."""
    from sqlalchemy import func, select

    from cloud.wechat.models import WechatInbound

    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            deadline = time.monotonic() + timeout_s
            while True:
                counts = session.execute(select(func.count()).where(WechatInbound.openid.like("o-bench-%"))
                                         .group_by(WechatInbound.dedupe_key)).scalars().all()
                if len(counts) >= messages or time.monotonic() > deadline:
                    break
                session.rollback()
                time.sleep(0.05)
    finally:
        engine.dispose()
    return {"messages": messages, "messages_logged": len(counts), "logged_twice": sum(1 for n in counts if n > 1),
            "all_logged_after_s": round(time.perf_counter() - started, 3)}


def main() -> None:
    """Run the benchmark and print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--postgresql", action="store_true", help="a fresh database on " + PG_ADMIN_URL)
    parser.add_argument("--redis-url", default="", help="the dedupe claims in Redis (as deployed)")
    parser.add_argument("--deliveries", type=int, default=1,
                        help="deliveries of each message (WeChat retries up to 3 times): each must act once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, _database(Path(tmp), args.postgresql) as database_url:
        data_dir = Path(tmp)
        scene = _seed(database_url)
        port = _free_port()
        server = _start_server(data_dir, port, database_url=database_url, redis_url=args.redis_url,
                               workers=args.workers)
        try:
            wechat = StandIn(appid=APPID, token=TOKEN, encoding_aes_key=AES_KEY)
            base = int(time.time())

            def scans(prefix: str, count: int) -> list[tuple[dict[str, str], str]]:
                return [wechat.signed(wechat.event_xml(f"{prefix}-{i}", {
                    "MsgType": "event", "Event": "SCAN", "EventKey": scene, "Ticket": "t"}, create_time=base))
                    for i in range(count)]

            asyncio.run(_fire(port, scans("o-warm", 200), args.concurrency))  # warm-up, not counted
            messages = scans("o-bench", args.requests // args.deliveries)
            # WeChat's retries of a message: its deliveries spread through the run, so they meet different
            # connections and workers (and some arrive while the first is still being logged).
            requests = [message for _ in range(args.deliveries) for message in messages]
            result = asyncio.run(_fire(port, requests, args.concurrency))
            result.update(_logged(database_url, len(messages), started=time.perf_counter() - result["seconds"]))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(json.dumps({"bench": "wechat_callback", "event": "SCAN (safe mode)", "concurrency": args.concurrency,
                      "server": f"uvicorn, {args.workers} worker(s), "
                                f"{'PostgreSQL' if args.postgresql else 'SQLite'}"
                                f"{', dedupe in Redis' if args.redis_url else ''}", "python": platform.python_version(),
                      "cpus": os.cpu_count(), **result}, indent=1))


if __name__ == "__main__":
    main()
