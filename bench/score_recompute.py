"""Score recomputation benchmark: the time one ticket or alert event costs the maintenance profiles (aim < 10 ms).

Builds a fleet (default 5,000 devices in 50 hospitals) with a year of generated history (cloud/profiles/history.py,
about 10 tickets per device), a predictor trained on it, then feeds events to the same handler the app installs
on its event bus (cloud/profiles/flows.ProfileFlows.on_event) and times each call from start to commit:

* rescore: `ticket.submitted` / `alert.opened` — the device's year of tickets and open alerts read, score and
  30-day risk computed, the device row updated, committed;
* resolve: `ticket.answer` — the same work for a resolution (the predictor learns it later, off the request path);
* learner: one run of the periodic learner (cloud/profiles/predictor.learn_pending) over 1,000 resolved tickets,
  per ticket learned (its report read back with two queries, one SGD step), the model written once.

The fleet's priors are computed once per process and cached (PriorCache); the first event pays for
them, so it is reported apart (`priors_ms`) and left out of the percentiles. Prints JSON per backend: wall times
per event, this process's CPU per event (the database server's is not in it), and the machine's load average.

    .venv/bin/python bench/score_recompute.py                       # SQLite and PostgreSQL (127.0.0.1:5432)
    .venv/bin/python bench/score_recompute.py --devices 20000 --events 2000 --backend postgresql

With PostgreSQL a scratch database is created on the server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud.db import make_engine, make_sessionmaker  # noqa: E402
from cloud.events import DomainEvent  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402
from cloud.profiles import predictor  # noqa: E402
from cloud.profiles.flows import ProfileFlows  # noqa: E402
from cloud.profiles.history import FleetDevice, generate  # noqa: E402
from cloud.profiles.service import PriorCache  # noqa: E402
from cloud.registry.models import Department, Device, Hospital  # noqa: E402
from cloud.tickets.models import Ticket  # noqa: E402
from models.maintenance.onsite import OnsitePredictor, Report  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CATEGORIES = ("chemistry", "immunoassay", "hematology", "coagulation", "blood_gas", "automation")
MODELS = {"chemistry": ("AU5800", "cobas c 702", "BS-2000M"), "immunoassay": ("cobas e 801", "ARCHITECT i2000SR"),
          "hematology": ("XN-1000", "XN-550"), "coagulation": ("CS-5100",), "blood_gas": ("ABL90 FLEX PLUS",),
          "automation": ("cobas 8100",)}


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"n": len(values), "mean": round(statistics.fmean(values), 3), "p50": at(0.5), "p95": at(0.95),
            "p99": at(0.99), "max": round(ordered[-1], 3)}


def build(url: str, devices: int, seed: int) -> dict[str, Any]:
    """Migrate, then write the fleet and its year of history in bulk; returns counts and timings."""
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with make_sessionmaker(engine)() as session:
        hospital_ids = []
        for h in range(max(1, devices // 100)):
            hospital = Hospital(name=f"bench hospital {h}", aliases=[], address="")
            session.add(hospital)
            session.flush()
            session.add(Department(hospital_id=hospital.id, name="检验科"))
            hospital_ids.append(hospital.id)
        session.flush()
        rows = []
        for i in range(devices):
            category = CATEGORIES[i % len(CATEGORIES)]
            rows.append({"system_number": f"BX-{i:07d}", "serial": f"S{i}", "manufacturer": "bench",
                         "model": rng.choice(MODELS[category]), "category": category,
                         "hospital_id": hospital_ids[i % len(hospital_ids)],
                         "install_date": date(2012 + rng.randint(0, 12), rng.randint(1, 12), 1),
                         "keywords": [], "photos": [], "status": "in_service", "maintenance_score": rng.randint(50, 98),
                         "is_key": False, "created_at": now, "updated_at": now})
        session.execute(insert(Device), rows)
        fleet = [FleetDevice(id=d.id, hospital_id=d.hospital_id, category=d.category, model=d.model,
                             install_date=d.install_date, condition=d.maintenance_score)
                 for d in session.execute(select(Device)).scalars()]
        cases = generate(fleet, start=now - timedelta(days=365), end=now - timedelta(hours=1), seed=seed)
        tickets = [{"number": f"BT-{n:08d}", "hospital_id": c.hospital_id, "device_id": c.device_id,
                    "source": c.source, "status": "closed", "urgency": c.urgency, "priority": 3,
                    "description": c.description, "reporter_name": "", "reporter_phone": "", "tier": c.tier,
                    "fault_category": c.fault_category, "reopen_count": c.reopen_count,
                    "first_response_due_at": c.created_at, "resolution_due_at": c.created_at,
                    "first_responded_at": c.first_responded_at, "resolved_at": c.resolved_at,
                    "closed_at": c.closed_at, "created_at": c.created_at, "updated_at": c.closed_at,
                    "escalation_level": 0, "version": 1} for n, c in enumerate(cases)]
        for start in range(0, len(tickets), 5000):
            session.execute(insert(Ticket), tickets[start:start + 5000])
        model = OnsitePredictor()
        for c in cases:
            model.learn_one(Report(text=c.description, source=c.source, urgency=c.urgency), c.tier == "on_site")
        predictor.save(session, model)
        session.commit()
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"devices": devices, "tickets": len(tickets), "predictor_weights": len(model.to_state()["weights"]),
            "build_s": round(seconds, 1)}


def measure(url: str, events: int, seed: int) -> dict[str, Any]:
    """Time the handler for `events` rescoring and `events` resolving events."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    flows = ProfileFlows(sessions, PriorCache())
    rng = random.Random(seed)
    with sessions() as session:
        pairs = list(session.execute(select(Ticket.id, Ticket.device_id)).all())
    first = rng.choice(pairs)
    started = time.perf_counter()
    flows.on_event(DomainEvent("ticket.submitted", {"ticket_id": first[0]}))
    priors_ms = (time.perf_counter() - started) * 1000
    timings: dict[str, list[float]] = {"rescore": [], "resolve": []}
    cpu: dict[str, list[float]] = {"rescore": [], "resolve": []}
    for i in range(events * 2):
        ticket_id, device_id = rng.choice(pairs)
        if i % 2 == 0:
            kind = "rescore"
            event = (DomainEvent("ticket.submitted", {"ticket_id": ticket_id}) if i % 4 == 0
                     else DomainEvent("alert.opened", {"device_id": device_id}))
        else:
            kind, event = "resolve", DomainEvent("ticket.answer", {"ticket_id": ticket_id})
        started, started_cpu = time.perf_counter(), time.process_time()
        flows.on_event(event)
        timings[kind].append((time.perf_counter() - started) * 1000)
        cpu[kind].append((time.process_time() - started_cpu) * 1000)
    with sessions() as session:
        started = time.perf_counter()
        learned = predictor.learn_pending(session, limit=1000)
        session.commit()
        learn_ms = (time.perf_counter() - started) * 1000
    engine.dispose()
    return {"priors_ms": round(priors_ms, 1), **{k: percentiles(v) for k, v in timings.items()},
            "learner": {"tickets": learned, "ms_per_ticket": round(learn_ms / max(1, learned), 3)},
            "this_process_cpu_ms_p50": {k: percentiles(v)["p50"] for k, v in cpu.items()}}


def run(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            built = build(url, args.devices, args.seed)
            return {"backend": backend, **built, "ms_per_event": measure(url, args.events, args.seed)}
    admin = create_engine(args.pg_admin, isolation_level="AUTOCOMMIT")
    name = f"medfix_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = args.pg_admin.rsplit("/", 1)[0] + "/" + name
        built = build(url, args.devices, args.seed)
        return {"backend": backend, **built, "ms_per_event": measure(url, args.events, args.seed)}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--events", type=int, default=500, help="events of each kind")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="a PostgreSQL URL to create the scratch database with")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = [run(backend, args) for backend in backends]
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(json.dumps({"aim_ms": 10, "load_average": load, "results": results}, indent=2))


if __name__ == "__main__":
    main()
