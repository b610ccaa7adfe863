"""Readings/s through ingest + store + scoring, and the wall-clock delay from fault onset to ticket; prints JSON.

Everything runs in this process through the service calls the ingest endpoint makes (decode_upload +
ingest_batch + commit; no HTTP), on a fresh SQLite file and a scratch PostgreSQL database:

* ``inproc``: the default install: the ingest queues each committed batch for the app's scoring thread, which
  scores every batch waiting in one feed; the clock stops when the last reading is stored *and* scored
  (``Scorer.wait_idle``); ``ingest_returned_readings_per_s`` is the rate at which the ingest calls returned;
* ``partitioned``: MEDFIX_SCORING_PARTITIONS=P with the local Redis; the ingest XADDs to the partitions and
  ``--workers`` ScoringWorker threads (same process, same 2 shared cores) score; the clock stops when every
  reading is both stored and scored.
* ``processes``: the same, but ``--score-processes`` ``medfix cloud score`` processes score (the ingest process
  only stores and XADDs); the clock stops when their checkpoints (every second) cover every reading.

Raw COPY (PostgreSQL): as many rows as one timed run, shaped alike, COPYed straight into the same reading table
in one transaction right after the runs; each mode's ``ratio_to_raw_copy`` is its stored-and-scored rate over
that (issue #14: at least 0.5).

Delay: one device's temperature at ``--rate`` readings/s in real time (after a back-filled normal history so
the detector has learned), batched every ``--flush`` s as a gateway would; the value steps by 20 noise sigmas;
the delay is the ticket's creation time minus the first anomalous reading's timestamp.

    .venv/bin/python bench/scoring.py --backends sqlite,postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.ingest import LIMIT, Fleet, scratch_database  # noqa: E402
from cloud.alerts.models import DetectorState  # noqa: E402
from cloud.alerts.partition import ScoringWorker  # noqa: E402
from cloud.alerts.scoring import Scorer  # noqa: E402
from cloud.config import Settings  # noqa: E402
from cloud.main import create_app  # noqa: E402
from cloud.telemetry import service  # noqa: E402
from cloud.telemetry.codec import decode_upload  # noqa: E402
from cloud.telemetry.models import Gateway, GatewayDevice  # noqa: E402
from cloud.tickets.models import Source, Ticket  # noqa: E402
from protocols.telemetry import Batch, encode_batch  # noqa: E402
from protocols.telemetry import Reading as WireReading  # noqa: E402

REDIS = "redis://127.0.0.1:6379/0"


def ingest(app: Any, token: str, body: bytes) -> int:
    """The endpoint's calls: decode, ingest, commit (the bus then scores or publishes)."""
    batch = decode_upload(body, max_body_bytes=LIMIT, max_decoded_bytes=LIMIT)
    with app.state.sessionmaker() as session:
        gateway = service.gateway_for_token(session, token=token)
        assert gateway is not None
        ack = service.ingest_batch(session, gateway=gateway, batch=batch)
        session.commit()
    return ack.accepted_readings


def settings_for(url: str, tmp: Path, partitions: int, prefix: str) -> Settings:
    """Bench settings: no background jobs; partitioned scoring when partitions > 0 (workers run by the bench)."""
    return Settings(database_url=url, data_dir=tmp, mqtt_url="", sweep_interval_s=0, alert_checkpoint_interval_s=0,
                    redis_url=REDIS if partitions else "", scoring_partitions=partitions, scoring_workers=0,
                    scoring_key_prefix=prefix)


def start_workers(app: Any, settings: Settings, n: int) -> list[ScoringWorker]:
    """n workers in threads, balanced before the clock starts."""
    workers = [ScoringWorker(Scorer(app.state.sessionmaker, settings), redis.Redis.from_url(REDIS),
                             prefix=settings.scoring_key_prefix, partitions=settings.scoring_partitions,
                             lease_ms=settings.scoring_lease_ms, checkpoint_s=10.0, worker_id=f"bench-{i}")
               for i in range(n)]
    for _ in range(3):
        for w in workers:
            w.tick()
    for w in workers:
        w.start()
    return workers


def scored(workers: list[ScoringWorker]) -> int:
    """Readings fed so far by the workers' scorers."""
    return sum(s.points for w in workers for s in list(w.scorer.streams.values()))


def throughput(fleet: Fleet, url: str, tmp: Path, args: argparse.Namespace, partitions: int) -> dict[str, Any]:
    """Readings/s from the first timed batch until every reading is stored and scored."""
    prefix = f"bench:scoring:{uuid.uuid4().hex[:8]}"
    settings = settings_for(url, tmp, partitions, prefix)
    app = create_app(settings)
    scorer = app.state.scorer
    workers = start_workers(app, settings, args.workers) if partitions else []
    if not partitions:
        scorer.start()  # what the app's lifespan does: the scoring thread drains the ingest's queue
    warm = fleet.bodies(args.batch_size, 2, args.devices, args.metrics)
    bodies = fleet.bodies(args.batch_size, args.batches, args.devices, args.metrics)
    total = sum(ingest(app, fleet.token, b) for b in warm)
    while workers and scored(workers) < total:
        time.sleep(0.01)
    assert scorer.wait_idle(120)
    base = scored(workers) if workers else 0
    t0 = time.perf_counter()
    n = sum(ingest(app, fleet.token, b) for b in bodies)
    ingested = time.perf_counter() - t0
    while workers and scored(workers) - base < n:
        time.sleep(0.005)
    assert scorer.wait_idle(600)
    elapsed = time.perf_counter() - t0
    for w in workers:
        w.stop()
    scorer.close()
    app.state.engine.dispose()
    out = {"readings": n, "seconds": round(elapsed, 3), "readings_per_s": round(n / elapsed),
           "ingest_returned_readings_per_s": round(n / ingested)}
    if workers:
        out |= {"workers": len(workers), "partitions": partitions}
    return out


def copy_rate(fleet: Fleet, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Rows/s of a raw COPY of n readings shaped like the timed ones (the fleet's devices and metrics, fresh
    instants) into the same reading table, in one transaction: the floor under any ingest (issue #14 asks the
    ingest + store + score path for at least half of it). PostgreSQL only."""
    with fleet.engine.connect() as conn:
        gateway_id = conn.execute(select(Gateway.id).where(Gateway.name == fleet.name)).scalar_one()
        ids = dict(conn.execute(select(GatewayDevice.device_key, GatewayDevice.device_id)
                                .where(GatewayDevice.gateway_id == gateway_id)).all())
    rows = []
    while len(rows) < n:
        at = fleet.clock
        fleet.clock += timedelta(seconds=1)
        rows += [(ids.get(f"an{d:03d}"), gateway_id, f"an{d:03d}", f"m{m:02d}", at,
                  20.0 + d + m / 100 + (at.second % 7) / 10, None, "C", "good")
                 for d in range(args.devices) for m in range(args.metrics)]
    rows = rows[:n]
    raw = fleet.engine.raw_connection()
    try:
        t0 = time.perf_counter()
        with raw.cursor() as cursor, cursor.copy(  # type: ignore[attr-defined]
                "COPY reading (device_id, gateway_id, device_key, metric, observed_at, value_num, value_text, unit,"
                " quality) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
        elapsed = time.perf_counter() - t0
    finally:
        raw.close()
    return {"rows": n, "seconds": round(elapsed, 3), "rows_per_s": round(n / elapsed)}


def checkpointed(app: Any) -> int:
    """Readings covered by every committed checkpoint so far."""
    with app.state.sessionmaker() as session:
        return int(session.execute(select(func.coalesce(func.sum(DetectorState.points), 0))).scalar_one())


def processes(fleet: Fleet, url: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Readings/s with the ingest here (XADD only) and `medfix cloud score` processes scoring.

    The clock stops when the score processes' checkpoints (every second) cover every reading, so the figure is a
    lower bound (up to a checkpoint interval late).
    """
    prefix = f"bench:scoring:{uuid.uuid4().hex[:8]}"
    settings = settings_for(url, tmp, args.partitions, prefix)
    app = create_app(settings)
    env = {**os.environ, "MEDFIX_DATABASE_URL": url, "MEDFIX_DATA_DIR": str(tmp), "MEDFIX_REDIS_URL": REDIS,
           "MEDFIX_SCORING_PARTITIONS": str(args.partitions), "MEDFIX_SCORING_KEY_PREFIX": prefix,
           "MEDFIX_ALERT_CHECKPOINT_INTERVAL_S": "1", "MEDFIX_SCORING_WORKERS": "1", "MEDFIX_LOG_LEVEL": "WARNING"}
    procs = [subprocess.Popen([sys.executable, "-m", "medfix.cli", "cloud", "score"], env=env,
                              cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL)
             for _ in range(args.score_processes)]
    client = redis.Redis.from_url(REDIS)
    try:
        deadline = time.monotonic() + 60
        while not all(client.exists(f"{prefix}:lease:{p}") for p in range(args.partitions)):
            assert time.monotonic() < deadline, "the score processes took no partitions"
            time.sleep(0.1)
        time.sleep(1.5)  # a few rounds of balancing between the processes
        base = checkpointed(app)
        warm = sum(ingest(app, fleet.token, b) for b in fleet.bodies(args.batch_size, 2, args.devices, args.metrics))
        while checkpointed(app) - base < warm:
            time.sleep(0.05)
        base = checkpointed(app)
        bodies = fleet.bodies(args.batch_size, args.batches, args.devices, args.metrics)
        t0 = time.perf_counter()
        n = sum(ingest(app, fleet.token, b) for b in bodies)
        ingested = time.perf_counter() - t0
        while checkpointed(app) - base < n:
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
        client.close()
        app.state.engine.dispose()
    return {"readings": n, "seconds": round(elapsed, 3), "readings_per_s": round(n / elapsed),
            "ingest_returned_readings_per_s": round(n / ingested), "score_processes": len(procs),
            "partitions": args.partitions, "clock_stops_at": "checkpoint (every 1 s) covering every reading"}


def delay(fleet: Fleet, url: str, tmp: Path, args: argparse.Namespace, partitions: int, device: int,
          ) -> dict[str, Any]:
    """Seconds from the first anomalous reading's timestamp to the predictive ticket, readings in real time."""
    prefix = f"bench:scoring:{uuid.uuid4().hex[:8]}"
    settings = settings_for(url, tmp, partitions, prefix)
    app = create_app(settings)
    workers = start_workers(app, settings, args.workers) if partitions else []
    if not partitions:
        app.state.scorer.start()
    rng = random.Random(7)
    stream = uuid.uuid4().hex[:12]
    seq = 0
    metric = f"fault_{uuid.uuid4().hex[:6]}"

    def send(points: list[tuple[datetime, float]]) -> None:
        nonlocal seq
        readings = [WireReading(device_key=f"an{device:03d}", metric=metric, observed_at=at, unit="C", value=v)
                    for at, v in points]
        body = encode_batch(Batch(gateway_id=fleet.name, stream_id=stream, sequence=seq,
                                  created_at=datetime.now(UTC), readings=readings), compress=True)
        seq += 1
        ingest(app, fleet.token, body)

    now = datetime.now(UTC)  # a device of its own per run: an open predictive ticket would absorb a new alert
    history = [(now - timedelta(seconds=(args.history - i) / args.rate), 37.0 + rng.gauss(0, 0.05))
               for i in range(args.history)]
    for i in range(0, len(history), 500):
        send(history[i:i + 500])
    onset: datetime | None = None
    ticket_at: datetime | None = None
    deadline = time.monotonic() + args.timeout
    pending: list[tuple[datetime, float]] = []
    last_flush = time.monotonic()
    with app.state.sessionmaker() as session:
        while time.monotonic() < deadline and ticket_at is None:
            at = datetime.now(UTC)
            if onset is None:  # the history is in: the fault starts with the first real-time reading
                onset = at
            pending.append((at, 37.0 + (1.0 if onset is not None else 0.0) + rng.gauss(0, 0.05)))
            if time.monotonic() - last_flush >= args.flush:
                send(pending)
                pending, last_flush = [], time.monotonic()
            time.sleep(1 / args.rate)
            session.rollback()
            newest = select(Ticket.created_at).where(Ticket.source == Source.predictive, Ticket.created_at >= now)
            ticket_at = session.execute(newest.order_by(Ticket.id.desc()).limit(1)).scalar()
    for w in workers:
        w.stop()
    app.state.scorer.close()
    app.state.engine.dispose()
    if onset is None or ticket_at is None:
        return {"ticket": None}
    return {"onset_to_ticket_s": round((ticket_at - onset).total_seconds(), 3), "rate_per_s": args.rate,
            "flush_s": args.flush}


def bench_backend(backend: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Throughput and delay, in-process and partitioned, on one fresh database."""
    with scratch_database(backend, tmp) as url:
        fleet = Fleet(url, args.devices)
        out: dict[str, Any] = {}
        modes = args.modes.split(",")
        for device, (mode, partitions) in enumerate((("inproc", 0), ("partitioned", args.partitions))):
            if mode not in modes:
                continue
            out[mode] = {"throughput": throughput(fleet, url, tmp, args, partitions)}
            if args.delay:
                out[mode]["delay"] = delay(fleet, url, tmp, args, partitions, device)
        if "processes" in modes:
            out["processes"] = {"throughput": processes(fleet, url, tmp, args)}
        if backend == "postgresql" and out:
            # As many rows as a timed run, straight into the same table on the same box, right after.
            copied = copy_rate(fleet, args.batch_size * args.batches, args)
            out["raw_copy"] = copied
            for mode in modes:
                if mode in out:
                    rate = out[mode]["throughput"]["readings_per_s"]
                    out[mode]["ratio_to_raw_copy"] = round(rate / copied["rows_per_s"], 3)
        fleet.engine.dispose()
        return out


def main() -> None:
    """Parse arguments, run every backend, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--metrics", type=int, default=50)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", default="inproc,partitioned,processes",
                        help="inproc (scoring thread), partitioned (worker threads), processes (medfix cloud score)")
    parser.add_argument("--score-processes", type=int, default=2, help="`medfix cloud score` processes")
    parser.add_argument("--history", type=int, default=600, help="back-filled normal readings before real time")
    parser.add_argument("--rate", type=float, default=1.0, help="readings/s of the faulty stream")
    parser.add_argument("--flush", type=float, default=5.0, help="seconds between the gateway's batches")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--no-delay", dest="delay", action="store_false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {"machine": platform.machine(), "python": platform.python_version(),
                  "in_process_service_calls": True,
                  "backends": {b: bench_backend(b, args, Path(tmp)) for b in args.backends.split(",")}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
