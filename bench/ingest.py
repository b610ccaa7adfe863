"""Cloud ingest throughput (decode + dedupe + store + scoring), printed as JSON.

For each backend (SQLite file, PostgreSQL scratch database on 127.0.0.1:5432) and each batch size, gzip batches
of D devices x M metrics (all mapped to registry devices, so every reading is also scored) go through:

* ``inproc``: decode_upload + service.ingest_batch + commit (+ the scorer, run by the bus after commit), the same
  calls the HTTP endpoint makes, in this process;
* ``http``: POSTs to the real app under uvicorn in its own process (tests/edge/cloud_process.py), one at a time
  and with ``--clients`` concurrent clients.

On a shared machine readings/s swing with whatever else runs, so ``inproc`` also reports CPU time per 1,000
readings: this process's (decode, ingest, scoring) and, on PostgreSQL, that of the database's server processes
serving this benchmark's database (from /proc), which stay comparable from run to run when wall time does not.

    .venv/bin/python bench/ingest.py --backends sqlite,postgresql --batch-sizes 500,2000 --batches 20
    .venv/bin/python bench/ingest.py --backends postgresql --batch-sizes 2000 --profile 25   # cProfile top 25
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from cloud.audit.service import Actor  # noqa: E402
from cloud.config import Settings  # noqa: E402
from cloud.db import make_engine, make_sessionmaker  # noqa: E402
from cloud.main import create_app  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402
from cloud.registry import service as registry  # noqa: E402
from cloud.registry.schemas import DeviceCategory, DeviceIn, HospitalIn  # noqa: E402
from cloud.telemetry import service  # noqa: E402
from cloud.telemetry.codec import decode_upload  # noqa: E402
from cloud.telemetry.models import Reading  # noqa: E402
from protocols.telemetry import Batch, encode_batch  # noqa: E402
from protocols.telemetry import Reading as WireReading  # noqa: E402
from tests.edge.cloud_process import CloudProcess  # noqa: E402
from tests.edge.cloud_server import free_port  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LIMIT = 8 * 1024 * 1024


def register_site(session: Session, *, actor: Actor, hospital: str, gateway: str, devices: dict[str, str],
                  model: str) -> tuple[str, dict[str, int]]:
    """A hospital with one gateway and chemistry analyzers mapped on it (device key -> serial); returns the
    gateway's token and each device key's device id."""
    site = registry.create_hospital(session, data=HospitalIn(name=hospital), actor=actor)
    session.flush()
    gw, token = service.create_gateway(session, name=gateway, hospital_id=site.id, actor=actor)
    ids: dict[str, int] = {}
    for key, serial in devices.items():
        device = registry.create_device(session, actor=actor, data=DeviceIn(
            serial=serial, manufacturer="Bench", model=model, category=DeviceCategory.chemistry, hospital_id=site.id))
        service.map_device(session, gateway_id=gw.id, device_key=key, device_id=device.id, actor=actor)
        ids[key] = device.id
    return token, ids


class Fleet:
    """A migrated database with a hospital, D mapped devices and one gateway."""

    def __init__(self, url: str, devices: int) -> None:
        self.url = url
        engine = make_engine(url)
        upgrade(engine)
        with make_sessionmaker(engine)() as session:
            self.name = f"gw-{uuid.uuid4().hex[:8]}"
            self.token, _ids = register_site(session, actor=Actor.system("bench"),
                                             hospital=f"bench-{uuid.uuid4().hex[:6]}", gateway=self.name,
                                             devices={f"an{d:03d}": f"B{d:04d}" for d in range(devices)}, model="an")
            session.commit()
        self.engine = engine
        self.clock = datetime.now(UTC) - timedelta(days=1)

    def bodies(self, size: int, count: int, devices: int, metrics: int) -> list[bytes]:
        """count gzip batches of size readings each, at instants nobody has sent yet (fresh stream)."""
        stream = uuid.uuid4().hex[:12]
        out = []
        per_instant = devices * metrics
        pending: list[WireReading] = []
        seq = 0
        while len(out) < count:
            at = self.clock
            self.clock += timedelta(seconds=1)
            pending += [WireReading(device_key=f"an{d:03d}", metric=f"m{m:02d}", observed_at=at, unit="C",
                                    value=20.0 + d + m / 100 + (at.second % 7) / 10)
                        for d in range(devices) for m in range(metrics)]
            while len(pending) >= size and len(out) < count:
                chunk, pending = pending[:size], pending[size:]
                out.append(encode_batch(Batch(gateway_id=self.name, stream_id=stream, sequence=seq,
                                              created_at=at, readings=chunk), compress=True))
                seq += 1
            assert per_instant > 0
        return out

    def stored(self) -> int:
        """Readings in the table."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Reading)).scalar_one())


def _server_cpu_s(engine: Any) -> float:
    """CPU seconds (user + system) of the other PostgreSQL processes on engine's database; 0 elsewhere."""
    if engine.dialect.name != "postgresql":
        return 0.0
    with engine.connect() as conn:
        pids = [p for (p,) in conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                                 "AND pid <> pg_backend_pid()"))]
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # not on this machine, or gone
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def run_inproc(fleet: Fleet, settings: Settings, warm: list[bytes], bodies: list[bytes],
               profile: int) -> dict[str, Any]:
    """The endpoint's calls without HTTP: decode, ingest, commit, score (bus after commit)."""
    app = create_app(settings)
    sessions = app.state.sessionmaker
    prof = cProfile.Profile() if profile else None
    n = 0
    t0 = cpu0 = server0 = 0.0
    for i, body in enumerate([*warm, *bodies]):
        if i == len(warm):  # the warm-up batches create the detectors; only steady state is timed
            server0 = _server_cpu_s(fleet.engine)
            t0, cpu0, n = time.perf_counter(), time.process_time(), 0
            if prof:
                prof.enable()
        batch = decode_upload(body, max_body_bytes=LIMIT, max_decoded_bytes=LIMIT)
        with sessions() as session:
            gateway = service.gateway_for_token(session, token=fleet.token)
            assert gateway is not None
            ack = service.ingest_batch(session, gateway=gateway, batch=batch)
            session.commit()
        n += ack.accepted_readings
    if prof:
        prof.disable()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    server = _server_cpu_s(fleet.engine) - server0
    app.state.engine.dispose()
    out: dict[str, Any] = {"readings": n, "seconds": round(elapsed, 3), "readings_per_s": round(n / elapsed),
                           "cpu_ms_per_1k": {"python": round(cpu * 1e6 / n, 1), "postgres": round(server * 1e6 / n, 1)}}
    if prof:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(profile)
        print(buf.getvalue(), file=sys.stderr)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(profile)
        print(buf.getvalue(), file=sys.stderr)
    return out


def run_http(url: str, token: str, bodies: list[bytes], clients: int) -> dict[str, Any]:
    """POST the bodies with `clients` concurrent clients; readings/s and latency."""
    headers = {"Authorization": f"Bearer {token}", "Content-Encoding": "gzip", "Content-Type": "application/json"}
    latencies: list[float] = []

    def post(client: httpx.Client, body: bytes) -> int:
        t = time.perf_counter()
        response = client.post(url + "/api/v1/ingest", content=body, headers=headers)
        latencies.append(time.perf_counter() - t)
        response.raise_for_status()
        return int(response.json()["accepted_readings"])

    pool = [httpx.Client(timeout=120) for _ in range(clients)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex:
        n = sum(ex.map(lambda ib: post(pool[ib[0] % clients], ib[1]), enumerate(bodies)))
    elapsed = time.perf_counter() - t0
    for client in pool:
        client.close()
    latencies.sort()
    return {"clients": clients, "readings": n, "seconds": round(elapsed, 3), "readings_per_s": round(n / elapsed),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1)}


@contextmanager
def scratch_database(backend: str, tmp: Path, server_url: str = PG_ADMIN) -> Iterator[str]:
    """The URL of a fresh database (a SQLite file, or a PostgreSQL database dropped afterwards).

    server_url: any PostgreSQL URL on the server to use (its database name is replaced by the scratch one)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp}/bench-{uuid.uuid4().hex[:6]}.db"
        return
    name = f"medfix_bench_{uuid.uuid4().hex[:8]}"
    server = server_url.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0]
    admin = create_engine(server + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_backend(backend: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Every batch size through in-process and HTTP on one fresh database."""
    results: dict[str, Any] = {}
    with scratch_database(backend, tmp) as url:
        fleet = Fleet(url, args.devices)
        settings = Settings(database_url=url, data_dir=tmp, mqtt_url="", alert_checkpoint_interval_s=0,
                            sweep_interval_s=0)
        for size in args.batch_sizes:
            row: dict[str, Any] = {}
            warm = fleet.bodies(size, 2, args.devices, args.metrics)
            row["inproc"] = run_inproc(fleet, settings, warm, fleet.bodies(size, args.batches, args.devices,
                                                                            args.metrics), args.profile)
            if not args.no_http:
                proc = CloudProcess(url, tmp, free_port(), tmp / "cloud.log")
                proc.start()
                try:
                    base = f"http://127.0.0.1:{proc.port}"
                    run_http(base, fleet.token, fleet.bodies(size, 2, args.devices, args.metrics), 1)  # warm-up
                    for clients in sorted({1, args.clients}):
                        row[f"http_{clients}"] = run_http(base, fleet.token, fleet.bodies(
                            size, args.batches, args.devices, args.metrics), clients)
                finally:
                    proc.stop()
            results[str(size)] = row
        results["stored_readings"] = fleet.stored()
        fleet.engine.dispose()
    return results


def main() -> None:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--batch-sizes", default="500,2000")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per mode")
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--metrics", type=int, default=50)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N (in-process) to stderr")
    args = parser.parse_args()
    args.batch_sizes = [int(s) for s in args.batch_sizes.split(",")]
    out: dict[str, Any] = {"python": platform.python_version(), "devices": args.devices, "metrics": args.metrics,
                           "batches": args.batches}
    with tempfile.TemporaryDirectory(prefix="medfix-ingest-") as tmp:
        for backend in args.backends.split(","):
            out[backend] = bench_backend(backend, args, Path(tmp))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
