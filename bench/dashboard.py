"""Dashboard benchmark: every dashboard query and drill-down on 1,000,000 tickets, 50,000 devices, 200 hospitals.

Creates a PostgreSQL database (default `medfix_bench_dashboard` on 127.0.0.1), migrates it, and fills it with
COPY: 200 hospitals with 3–6 departments, 50,000 devices of 36 models in six categories (installed up to twelve
years ago, one in 25 in a device group of four), 300 engineers serving five hospitals each, and 1,000,000
tickets over the last twelve months with their pre-checks. How often a device fails depends on its model and age;
the tier, fault category, response and repair times, reopening and ratings follow the tier, so every chart has
something to show. Generation takes about two minutes; `--reuse` measures an existing database again.

Then it builds the monthly rollups (timed) and times each aggregate of cloud/dashboards/aggregates.py and the
drill-down pages under several filter sets (everything; one hospital; one category; one model; a hospital's
department; predictive only; an age band), `--repeat` times each, and prints JSON: p50/p95/max per query and
filter set, the worst p95, and whether every p95 is under the aim (300 ms).

    .venv/bin/python bench/dashboard.py                    # generate, build, measure
    .venv/bin/python bench/dashboard.py --reuse --repeat 30
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud.dashboards import aggregates as agg  # noqa: E402
from cloud.dashboards import rollups  # noqa: E402
from cloud.dashboards.aggregates import Dimension, Drill, Filters, Origin  # noqa: E402
from cloud.db import make_engine, make_sessionmaker  # noqa: E402
from cloud.localtime import zone  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402

AIM_MS = 300.0
# (model, manufacturer, category, relative failure rate)
MODELS = [
    ("cobas c 702", "Roche", "chemistry", 1.0), ("cobas c 502", "Roche", "chemistry", 1.1),
    ("cobas c 311", "Roche", "chemistry", 1.3), ("AU5800", "Beckman Coulter", "chemistry", 0.9),
    ("AU680", "Beckman Coulter", "chemistry", 1.2), ("BS-2000M", "Mindray", "chemistry", 1.0),
    ("BS-800M", "Mindray", "chemistry", 1.4), ("ARCHITECT c16000", "Abbott", "chemistry", 0.8),
    ("Atellica CH 930", "Siemens", "chemistry", 0.7), ("7600-110", "Hitachi", "chemistry", 1.5),
    ("XN-1000", "Sysmex", "hematology", 0.8), ("XN-550", "Sysmex", "hematology", 0.9),
    ("BC-6800Plus", "Mindray", "hematology", 1.0), ("BC-5390", "Mindray", "hematology", 1.2),
    ("DxH 800", "Beckman Coulter", "hematology", 0.9), ("Sapphire", "Abbott", "hematology", 1.1),
    ("cobas e 801", "Roche", "immunoassay", 0.9), ("cobas e 411", "Roche", "immunoassay", 1.2),
    ("ARCHITECT i2000SR", "Abbott", "immunoassay", 1.0), ("Alinity i", "Abbott", "immunoassay", 0.7),
    ("Access 2", "Beckman Coulter", "immunoassay", 1.3), ("CL-6000i", "Mindray", "immunoassay", 1.0),
    ("MAGLUMI X8", "Snibe", "immunoassay", 1.1), ("ADVIA Centaur XPT", "Siemens", "immunoassay", 1.0),
    ("GEM Premier 5000", "Werfen", "blood_gas", 1.4), ("ABL90 FLEX", "Radiometer", "blood_gas", 1.0),
    ("cobas b 123", "Roche", "blood_gas", 1.2), ("RAPIDPoint 500e", "Siemens", "blood_gas", 1.3),
    ("CS-5100", "Sysmex", "coagulation", 0.9), ("ACL TOP 750", "Werfen", "coagulation", 1.0),
    ("STA R Max", "Stago", "coagulation", 1.1), ("CA-1500", "Sysmex", "coagulation", 1.5),
    ("UF-5000", "Sysmex", "urinalysis", 1.0), ("AX-4030", "Arkray", "urinalysis", 1.2),
    ("iQ200", "Beckman Coulter", "urinalysis", 1.4), ("US-3100R", "Eiken", "urinalysis", 1.3),
]
DEPARTMENTS = ["检验科", "急诊检验", "门诊检验", "生化室", "免疫室", "临检室"]
FAULTS_BY_TIER = {
    "basic": (["operator_error", "reagent_fluidics", "communication_software"], [5, 4, 2]),
    "remote": (["communication_software", "reagent_fluidics", "temperature_control", "sample_probe",
                "operator_error", "other"], [4, 3, 2, 2, 2, 1]),
    "on_site": (["mechanical", "optics_lamp", "sample_probe", "temperature_control", "ise", "other"],
                [5, 3, 3, 2, 2, 1]),
}
OPEN = ["submitted", "escalated", "dispatched", "accepted", "on_site", "reopened"]


def _fmt(moment: datetime | None) -> str:
    return "\\N" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S+00")


def _copy(connection: Any, table: str, columns: list[str], rows: list[list[Any]]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row))
        buffer.write("\n")
    buffer.seek(0)
    raw = connection.connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def generate(url: str, *, hospitals: int, devices: int, tickets: int, seed: int, now: datetime) -> dict[str, Any]:
    """Fill the migrated database at url; returns what was made and how long it took."""
    rng = random.Random(seed)
    engine = create_engine(url)
    started = time.perf_counter()
    created = _fmt(now - timedelta(days=400))
    with engine.begin() as connection:
        _copy(connection, "hospital", ["id", "name", "aliases", "address", "geofence_radius_m", "created_at",
                                       "updated_at", "time_zone", "hotline"],
              [[h, f"基准医院{h:03d}", "[]", f"基准路{h}号", 1000, created, created, "Asia/Shanghai", ""]
               for h in range(1, hospitals + 1)])
        departments: dict[int, list[int]] = {}
        rows = []
        next_id = 1
        for h in range(1, hospitals + 1):
            for name in rng.sample(DEPARTMENTS, rng.randint(3, 6)):
                departments.setdefault(h, []).append(next_id)
                rows.append([next_id, h, name, created])
                next_id += 1
        _copy(connection, "department", ["id", "hospital_id", "name", "created_at"], rows)
        # Hospitals differ in size (a few large teaching hospitals, many smaller ones).
        sizes = [rng.paretovariate(1.6) for _ in range(hospitals)]
        weights = [s / sum(sizes) for s in sizes]
        device_rows, group_rows, device_info = [], [], []
        # Each hospital buys from a handful of models; popular models are popular everywhere.
        popularity = [1.0 / (1 + 0.15 * i) for i in range(len(MODELS))]
        fleet = {h: rng.choices(range(len(MODELS)), popularity, k=rng.randint(6, 14))
                 for h in range(1, hospitals + 1)}
        group_id, group_hospital = 0, 0
        # One device in 25 stands in a line of four (a device group); the rest stand alone.
        for d in range(1, devices + 1):
            if d % 100 in (2, 3, 4) and group_hospital:
                h = group_hospital  # the rest of a line of four stays in its hospital
            else:
                h = d if d <= hospitals else rng.choices(range(1, hospitals + 1), weights)[0]
            model, maker, category, rate = MODELS[rng.choice(fleet[h])]
            install = (now - timedelta(days=rng.uniform(0, 12 * 365.25))).date()
            in_group = None
            if d % 100 == 1:
                group_id, group_hospital = group_id + 1, h
                group_rows.append([group_id, f"MG-B{group_id:06d}", h, None, f"流水线{group_id}", "", "[]",
                                   created, created, "", "[]"])
            if d % 100 in (1, 2, 3, 4):
                in_group = group_id
            elif d % 100 == 5:
                group_hospital = 0
            dept = rng.choice(departments[h])
            age_years = (now.date() - install).days / 365.25
            weight = rate * (0.6 + 0.12 * age_years) * rng.uniform(0.5, 1.5)
            device_rows.append([d, f"MD-B{d:07d}", f"SN{d:08d}", maker, model, category, h, dept,
                                install.isoformat(), "[]", "[]", "in_service", 100, "false", in_group,
                                None, created, created])
            device_info.append((d, h, category, weight))
        _copy(connection, "device_group", ["id", "system_number", "hospital_id", "department_id", "name", "line",
                                           "compatible_models", "created_at", "updated_at", "notes", "tags"],
              group_rows)
        _copy(connection, "device", ["id", "system_number", "serial", "manufacturer", "model", "category",
                                     "hospital_id", "department_id", "install_date", "keywords", "photos", "status",
                                     "maintenance_score", "is_key", "group_id", "group_position", "created_at",
                                     "updated_at"], device_rows)
        engineers: dict[int, list[int]] = {}
        user_rows = []
        for e in range(1, 301):
            served = rng.sample(range(1, hospitals + 1), 5)
            for h in served:
                engineers.setdefault(h, []).append(e)
            user_rows.append([e, f"bench-eng-{e}", "x", f"工程师{e:03d}", "", "engineer", "verified", "true",
                              created, json.dumps(served), "[]", "false"])
        _copy(connection, "user_account", ["id", "username", "password_hash", "full_name", "phone", "role",
                                           "verification", "is_active", "created_at", "service_hospital_ids",
                                           "categories", "is_lab_manager"], user_rows)
        for table in ("hospital", "department", "device_group", "device", "user_account"):
            connection.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    setup_s = time.perf_counter() - started

    ticket_columns = ["id", "number", "hospital_id", "device_id", "source", "status", "urgency", "priority",
                      "description", "reporter_name", "reporter_phone", "engineer_id", "escalation_level", "tier",
                      "fault_category", "reopen_count", "rating_overall", "rating_speed", "rating_attitude",
                      "rating_skill", "first_response_due_at", "resolution_due_at", "first_responded_at",
                      "resolved_at", "closed_at", "created_at", "updated_at", "version"]
    precheck_columns = ["ticket_id", "hospital_id", "category", "metric", "checklist", "outcome", "finished_at",
                        "created_at", "updated_at", "version"]
    weights_cum = []
    total = 0.0
    for info in device_info:
        total += info[3]
        weights_cum.append(total)
    span = timedelta(days=365).total_seconds()
    # Tickets arrive in time order, as in a real table (the heap is then roughly ordered by created_at).
    ages = sorted((rng.random() for _ in range(tickets)), reverse=True)
    chunk = 200_000
    made = 0
    started = time.perf_counter()
    while made < tickets:
        rows, prechecks = [], []
        for i in range(made + 1, min(tickets, made + chunk) + 1):
            d, h, category, _w = device_info[_pick(weights_cum, rng.random() * total)]
            created_at = now - timedelta(seconds=ages[i - 1] * span)
            predictive = rng.random() < 0.15
            source = "predictive" if predictive else rng.choice(("web", "wechat", "wechat"))
            recent = (now - created_at).days < 7
            outcome = None
            if predictive:
                outcome = rng.choices(("fault_confirmed", "fixed", "false_alarm"), (5, 2, 3))[0]
            tier = rng.choices(("basic", "remote", "on_site"), (0 if predictive else 25, 40, 35))[0]
            if outcome == "false_alarm":
                tier = "remote"
            status = rng.choices(("closed", "cancelled", "merged", "resolved"), (94, 3, 1, 2))[0]
            if recent and rng.random() < 0.4:
                status = rng.choice(OPEN)
            response = timedelta(minutes=rng.lognormvariate(2.4, 0.7))
            repair = timedelta(hours={"basic": 1.0, "remote": 4.0, "on_site": 20.0}[tier] * rng.lognormvariate(0, 0.6))
            resolved_at = created_at + repair if status in ("closed", "resolved") else None
            if resolved_at and resolved_at > now:
                resolved_at, status = None, rng.choice(OPEN)
            responded = created_at + response if (tier != "basic" and status != "cancelled"
                                                  and created_at + response < now) else None
            solved = status in ("closed", "resolved")
            fault = None
            if solved and outcome != "false_alarm":
                names, w = FAULTS_BY_TIER[tier]
                fault = rng.choices(names, w)[0]
                if fault == "ise" and category not in ("chemistry", "blood_gas"):
                    fault = "mechanical"
            engineer = rng.choice(engineers.get(h) or [1]) if tier == "on_site" and status != "cancelled" else None
            rated = status == "closed" and rng.random() < 0.6
            stars = min(5, max(1, round(rng.gauss(4.3 if repair < timedelta(hours=24) else 3.4, 0.8))))
            rows.append([
                i, f"B{i:09d}", h, d, source, status, "normal", 3, "bench", "检验科", "13800000000", engineer,
                0, tier if solved else None, fault, 1 if solved and rng.random() < 0.07 else 0,
                stars if rated else None, stars if rated else None, stars if rated else None,
                stars if rated else None, _fmt(created_at + timedelta(minutes=30)),
                _fmt(created_at + timedelta(hours=24 if tier != "on_site" else 48)), _fmt(responded),
                _fmt(resolved_at), _fmt(resolved_at if status == "closed" else None), _fmt(created_at),
                _fmt(resolved_at or created_at), 1])
            if predictive:
                prechecks.append([i, h, category, "reaction_temp", f"temperature:{category}",
                                  outcome if status not in OPEN else None,
                                  _fmt(resolved_at), _fmt(created_at), _fmt(resolved_at or created_at), 1])
        with engine.begin() as connection:
            _copy(connection, "ticket", ticket_columns, rows)
            _copy(connection, "precheck_task", precheck_columns, prechecks)
        made += len(rows)
    with engine.begin() as connection:
        connection.execute(text("SELECT setval('ticket_id_seq', (SELECT max(id) FROM ticket))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    tickets_s = time.perf_counter() - started
    engine.dispose()
    return {"registry_s": round(setup_s, 1), "tickets_s": round(tickets_s, 1)}


def _pick(cumulative: list[float], x: float) -> int:
    lo, hi = 0, len(cumulative) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1), "max_ms": round(times[-1], 1)}


def _wanted(only: list[str] | None, query: str, scenario: str) -> bool:
    """Whether a cell is timed: every cell without --only, else those whose 'query/scenario' contains a pattern."""
    return not only or any(pattern in f"{query}/{scenario}" for pattern in only)


def measure(url: str, *, repeat: int, now: datetime, only: list[str] | None = None,
            rebuild: bool = True) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        started = time.perf_counter()
        built = session.execute(text("SELECT count(*) FROM dash_rollup_state WHERE refreshed_at IS NOT NULL")
                                ).scalar_one()
        if rebuild or not built:
            session.execute(text("DELETE FROM dash_rollup_state"))
        rollups.refresh(session)
        session.commit()
        build_s = time.perf_counter() - started
    # The build above deletes every rollup row and writes it again: without a vacuum the next queries wade through
    # the dead rows of the previous build (seen: 65 ms becoming 2 s after two --reuse runs). In service the first
    # build happens once and autovacuum follows; here it is made explicit so every run measures the same state.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE dash_rollup, dash_engineer_rollup, dash_fault_rollup, dash_exposure, "
                                "dash_device_rollup, dash_device_dims"))
    with sessions() as session:
        sizes = {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                 for t in ("ticket", "dash_rollup", "dash_engineer_rollup", "dash_fault_rollup", "dash_device_rollup")}
        big = session.execute(text("SELECT hospital_id FROM ticket GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
                              ).scalar_one()
        department, model_of_big = session.execute(text(
            "SELECT department_id, model FROM device WHERE hospital_id = :h GROUP BY 1, 2 ORDER BY count(*) DESC "
            "LIMIT 1"), {"h": big}).one()
        engineer = session.execute(text("SELECT engineer_id FROM ticket WHERE engineer_id IS NOT NULL LIMIT 1")
                                   ).scalar_one()
        device_of_big = session.execute(text("SELECT id FROM device WHERE hospital_id = :h AND department_id = :d "
                                             "LIMIT 1"), {"h": big, "d": department}).scalar_one()
    local = now.astimezone(zone("Asia/Shanghai"))
    end = rollups.month_bounds(rollups.next_month(date(local.year, local.month, 1)), "Asia/Shanghai")[0]
    start = agg._months_back(end, 12, None)
    base = Filters(start=start, end=end)
    last_month = rollups.month_start(now - timedelta(days=31), "Asia/Shanghai")
    scenarios = {
        "all": base,
        "hospital": replace(base, hospital_ids=(big,)),
        "category": replace(base, device_categories=("chemistry",)),
        "model": replace(base, models=("cobas c 702",)),
        "department": replace(base, hospital_ids=(big,), department_ids=(department,)),
        "predictive": replace(base, source=Origin.predictive),
        "age_band": replace(base, age_bands=("8+",)),
    }
    queries: dict[str, Callable[[Any, Filters], Any]] = {
        "metrics": lambda s, f: agg.metrics(s, f, now=now),
        "trend": lambda s, f: agg.trend(s, f, now=now),
        "faults": lambda s, f: agg.faults(s, f, now=now),
        "fault_trend": lambda s, f: agg.fault_trend(s, f, now=now),
        "engineers": lambda s, f: agg.engineers(s, f, now=now),
        **{f"breakdown_{d.value}": (lambda dim: lambda s, f: agg.breakdown(s, f, dim, now=now))(d)
           for d in (Dimension.hospital, Dimension.department, Dimension.model, Dimension.category,
                     Dimension.age_band, Dimension.group, Dimension.origin)},
        **{f"breakdown_trend_{d.value}": (lambda dim: lambda s, f: agg.breakdown_trend(s, f, dim, now=now))(d)
           for d in (Dimension.hospital, Dimension.model, Dimension.category)},
        "drill_faults": lambda s, f: agg.drill(s, f, Drill(measure="faults"), now=now),
        "drill_month_late": lambda s, f: agg.drill(s, f, Drill(measure="res_late", month=last_month), now=now),
        "drill_model": lambda s, f: agg.drill(s, f, Drill(measure="faults", by=Dimension.model,
                                                          key=model_of_big), now=now),
        "drill_fault_category": lambda s, f: agg.drill(s, f, Drill(measure="faults", fault_category="mechanical"),
                                                       now=now),
        "drill_engineer": lambda s, f: agg.drill(s, f, Drill(measure="tickets", engineer_id=engineer), now=now),
    }
    device_scopes = {"hospital": scenarios["hospital"], "department": scenarios["department"]}
    results: dict[str, dict[str, dict[str, float]]] = {}
    with sessions() as session:
        for name, query in queries.items():
            for scenario, filters in scenarios.items():
                if not _wanted(only, name, scenario):
                    continue
                run = partial(query, session, filters)
                run()  # warm the plan and the cache once
                results.setdefault(name, {})[scenario] = _timed(run, repeat)
                session.rollback()
        for scenario, filters in device_scopes.items():
            if _wanted(only, "breakdown_device", scenario):
                # As the dashboard's table asks: the first page of 100 devices, most faults first.
                run = partial(agg.breakdown, session, filters, Dimension.device, now=now, limit=100)
                run()
                results.setdefault("breakdown_device", {})[scenario] = _timed(run, repeat)
                session.rollback()
            if _wanted(only, "drill_device", scenario):
                run = partial(agg.drill, session, filters, Drill(measure="faults", by=Dimension.device,
                                                                  key=str(device_of_big)), now=now)
                run()
                results.setdefault("drill_device", {})[scenario] = _timed(run, repeat)
                session.rollback()
    engine.dispose()
    worst = max((v["p95_ms"], f"{q}/{s}") for q, per in results.items() for s, v in per.items())
    p95s = sorted(v["p95_ms"] for per in results.values() for v in per.values())
    within = sum(1 for p in p95s if p < AIM_MS)
    return {"rollup_build_s": round(build_s, 1), "rows": sizes, "results": results,
            "worst_p95_ms": worst[0], "worst": worst[1], "aim_ms": AIM_MS, "ok": worst[0] < AIM_MS,
            "p95_within_aim": f"{within}/{len(p95s)}", "median_p95_ms": p95s[len(p95s) // 2],
            # The machine is shared: its load says how much of the time went to waiting for a core.
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without a database name")
    parser.add_argument("--database", default="medfix_bench_dashboard")
    parser.add_argument("--hospitals", type=int, default=200)
    parser.add_argument("--devices", type=int, default=50_000)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--reuse", action="store_true", help="measure the existing database again")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (for --reuse)")
    parser.add_argument("--only", action="append", metavar="PATTERN",
                        help="time only the cells whose 'query/scenario' contains PATTERN (repeatable), e.g. "
                             "breakdown_device/ or breakdown_department/category")
    parser.add_argument("--no-rebuild", action="store_true",
                        help="with --reuse: keep the rollups as they are (refreshed, not rebuilt from nothing)")
    args = parser.parse_args()
    url = f"{args.server}/{args.database}"
    admin = create_engine(f"{args.server}/postgres", isolation_level="AUTOCOMMIT")
    report: dict[str, Any] = {"hospitals": args.hospitals, "devices": args.devices, "tickets": args.tickets,
                              "repeat": args.repeat}
    if args.reuse:
        engine = make_engine(url)
        upgrade(engine)  # a database kept from before a new migration (the rollups are rebuilt below anyway)
        engine.dispose()
        with create_engine(url).connect() as connection:
            latest = connection.execute(text("SELECT max(created_at) FROM ticket")).scalar_one()
        # Ask at the real time, as the service does, while it is still the month the data ends in (the same twelve
        # months): the running month's device time then comes from the rollup refreshed within the hour, as in
        # service. Asked as of the last ticket, hours after the build, every question computed the running month
        # from the device table instead (a path the service does not take).
        current = datetime.now(UTC).replace(microsecond=0)
        same_month = rollups.month_start(current, "Asia/Shanghai") == rollups.month_start(latest, "Asia/Shanghai")
        now = current - timedelta(seconds=1) if same_month and current > latest else latest
    else:
        now = datetime.now(UTC).replace(microsecond=0)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{args.database}"'))
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        report["generate"] = generate(url, hospitals=args.hospitals, devices=args.devices, tickets=args.tickets,
                                      seed=args.seed, now=now)
    report.update(measure(url, repeat=args.repeat, now=now + timedelta(seconds=1), only=args.only,
                          rebuild=not (args.reuse and args.no_rebuild)))
    if not args.keep and not args.reuse:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'))
    admin.dispose()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
