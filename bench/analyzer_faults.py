"""Predictive alerts on labelled analyzer faults (issue #14): event precision, recall, false alarms, delays; JSON.

Each seed is a hospital with one gateway and ``--devices`` chemistry analyzers whose run data (seven metrics, one
reading a minute for ``--days`` days) comes from protocols/simulators/analyzer_behaviour.py: faults of seven kinds
(heater drift, lamp decline, lamp drop, probe clog, electrode failure, error burst, pump fault) among benign
changes (the lab's daily rhythm, the morning ISE calibration, reagent lot changes, planned maintenance).

What runs is the product as deployed: the real cloud app under uvicorn in its own process, on a scratch PostgreSQL
database. The planned maintenance is declared beforehand as an admin declares it (POST /api/v1/maintenance-windows).
Each gateway posts its readings in time order through POST /api/v1/ingest, in batches of ``--batch`` readings (a
gateway delivering a backlog: edge `backlog_batch_max_items`), the seeds' gateways side by side. With them goes what
the analyzers report about themselves, as a gateway forwards it (``--no-context`` leaves it out): the `calibrating`
status point around each daily calibration, the calibration's result and each reagent lot change (the simulator's
`self_reports`); planned maintenance is declared beforehand instead. Then the cloud is
stopped with SIGTERM (its shutdown scores everything queued and checkpoints the detectors, so the bench can check
that every reading was scored), started again, and the alerts are read back from GET /api/v1/alerts.

Scoring (events, per device):
* an alert is a *true detection* when its start (``started_at``, stream time) lies in a fault window of its
  device, from the fault's first abnormal reading until ``--tolerance`` minutes after the repair (the return to
  normal, e.g. a new lamp, is part of the incident), on the metric the fault moves (the simulated faults move
  only their own metric, so an alert on another metric in the window is a false alarm that happened to fall
  there: with a few false alarms a day, counting it would inflate recall); ``overall_device_level`` also gives
  the looser count (any metric of the device), as the issue words it;
* every other alert is a *false alarm*; each is put down to the benign change (or fault recovery) that most
  plausibly caused it on that metric, to guide the fix (``false_alarms_by_cause``);
* precision = true alerts / alerts; recall = faults with at least one true alert / faults;
  false alarms per device per week = false alarms / (devices x days / 7); detection delay = first true alert's
  start - fault start, median per fault kind.

    .venv/bin/python bench/analyzer_faults.py                      # 6 devices x 14 days x seeds 1,2,3
    .venv/bin/python bench/analyzer_faults.py --quick              # 2 devices x 3 days x seed 1 (about a minute)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.alert_scoring import AlertSeen, add_arguments, finish_arguments, summarise, write_alerts  # noqa: E402
from bench.ingest import register_site, scratch_database  # noqa: E402
from cloud.alerts.models import DetectorState  # noqa: E402
from cloud.audit.service import Actor  # noqa: E402
from cloud.auth.models import Role  # noqa: E402
from cloud.auth.service import create_user, issue_token  # noqa: E402
from cloud.db import make_engine, make_sessionmaker  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402
from protocols.simulators.analyzer_behaviour import (  # noqa: E402
    METRIC_UNITS,
    Scenario,
    readings,
    scenario,
    self_reports,
    week_start,
)
from protocols.telemetry import Batch, Event, EventKind, Reading, encode_batch  # noqa: E402
from tests.edge.cloud_process import CloudProcess  # noqa: E402
from tests.edge.cloud_server import free_port  # noqa: E402

# --- the run ------------------------------------------------------------------------------------------------


@dataclass
class Site:
    """One seed's hospital: its scenario, gateway and devices."""

    sc: Scenario
    gateway: str = ""
    token: str = ""
    device_ids: dict[str, int] = field(default_factory=dict)


def set_up(url: str, scenarios: Sequence[Scenario]) -> tuple[list[Site], str]:
    """Migrate; per scenario a hospital, a gateway and its mapped devices; an admin; returns sites and admin token."""
    engine = make_engine(url)
    upgrade(engine)
    actor = Actor.system("bench-analyzer-faults")
    sites = []
    with make_sessionmaker(engine)() as session:
        for sc in scenarios:
            site = Site(sc, gateway=f"gw-{sc.seed}-{uuid.uuid4().hex[:6]}")
            site.token, site.device_ids = register_site(
                session, actor=actor, hospital=f"bench-seed-{sc.seed}", gateway=site.gateway,
                devices={key: key.upper() for key in sc.devices}, model="chemistry analyzer")
            sites.append(site)
        admin = create_user(session, username=f"bench-admin-{uuid.uuid4().hex[:6]}", password=uuid.uuid4().hex,
                            role=Role.admin, actor=actor, verified=True)
        token = issue_token(session, user=admin, ttl=timedelta(days=1))
        session.commit()
    engine.dispose()
    return sites, token


def declare_maintenance(client: httpx.Client, sites: Sequence[Site]) -> int:
    """Declare every planned maintenance through the admin API; returns how many windows."""
    n = 0
    for site in sites:
        for event in site.sc.benign:
            if event.declared:
                response = client.post("/api/v1/maintenance-windows", json={
                    "device_id": site.device_ids[event.device_key], "starts_at": event.start.isoformat(),
                    "ends_at": event.end.isoformat(), "reason": f"bench: {event.detail}"})
                response.raise_for_status()
                n += 1
    return n


def post_site(base: str, site: Site, batch_size: int, context: bool = True) -> int:
    """Post one gateway's readings in time order, one batch after another, as its uplink would; returns readings.
    With context, also what the analyzers report about themselves (simulator: self_reports)."""
    headers = {"Authorization": f"Bearer {site.token}", "Content-Encoding": "gzip",
               "Content-Type": "application/json"}
    stream, sequence, sent = uuid.uuid4().hex[:12], 0, 0
    pending: list[Reading] = []
    events: list[Event] = []
    with httpx.Client(base_url=base, timeout=600) as client:
        def flush() -> None:
            nonlocal sequence, sent, pending, events
            body = encode_batch(Batch(gateway_id=site.gateway, stream_id=stream, sequence=sequence,
                                      created_at=pending[-1].observed_at, readings=pending, events=events),
                                compress=True)
            client.post("/api/v1/ingest", content=body, headers=headers).raise_for_status()
            sequence, sent, pending, events = sequence + 1, sent + len(pending), [], []

        reports = self_reports(site.sc) if context else []
        next_report = 0
        for at, key, metric, value, unit in readings(site.sc):
            # What the analyzers say about themselves goes with the readings of its moment, as a gateway sends it.
            while next_report < len(reports) and reports[next_report][0] <= at:
                when, device, what, said = reports[next_report]
                if what == "calibrating":
                    pending.append(Reading(device_key=device, metric=what, observed_at=when, value=said))
                elif what == "calibration":
                    events.append(Event(device_key=device, occurred_at=when, kind=EventKind.CALIBRATION,
                                        payload={"passed": said, "tests": ["Na"]}))
                else:
                    events.append(Event(device_key=device, occurred_at=when, kind=EventKind.REAGENT,
                                        payload={"lot": said}))
                next_report += 1
            pending.append(Reading(device_key=key, metric=metric, observed_at=at, value=value, unit=unit))
            if len(pending) >= batch_size:
                flush()
        if pending or events:
            flush()
    return sent


def read_alerts(client: httpx.Client, site: Site) -> list[AlertSeen]:
    """Every alert of the site's devices, from the alerts API (all pages)."""
    keys = {device_id: key for key, device_id in site.device_ids.items()}
    out: list[AlertSeen] = []
    for device_id, key in keys.items():
        offset = 0
        while True:
            page = client.get("/api/v1/alerts", params={"device_id": device_id, "limit": 500, "offset": offset})
            page.raise_for_status()
            body = page.json()
            out += [AlertSeen(key, a["metric"], datetime.fromisoformat(a["started_at"]),
                              datetime.fromisoformat(a["last_abnormal_at"]), a["peak_score"]) for a in body["items"]]
            offset += len(body["items"])
            if not body["items"] or offset >= body["total"]:
                break
    return out


def scored_points(url: str) -> int:
    """Readings the detectors' last checkpoints cover (all of them once the cloud shut down cleanly)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(select(func.coalesce(func.sum(DetectorState.points), 0))).scalar_one())
    engine.dispose()
    return n


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up, declare, post, drain, read back, score."""
    t0 = time.perf_counter()
    # A Monday's local midnight, so the whole run lies in the past and every run has the same week pattern.
    monday = week_start(datetime.now(UTC) - timedelta(days=args.days + 1))
    scenarios = [scenario(seed, devices=args.devices, days=args.days, start=monday) for seed in args.seeds]
    with tempfile.TemporaryDirectory(prefix="medfix-faults-") as tmp, \
            scratch_database("postgresql", Path(tmp), args.database) as url:
        sites, admin_token = set_up(url, scenarios)
        proc = CloudProcess(url, Path(tmp), free_port(), Path(tmp) / "cloud.log")
        proc.start(timeout=60)
        base = f"http://127.0.0.1:{proc.port}"
        admin = {"Authorization": f"Bearer {admin_token}"}
        try:
            with httpx.Client(base_url=base, headers=admin, timeout=120) as client:
                windows = declare_maintenance(client, sites)
            t_post = time.perf_counter()
            with ThreadPoolExecutor(len(sites)) as pool:
                posted = sum(pool.map(lambda s: post_site(base, s, args.batch, not args.no_context), sites))
            post_s = time.perf_counter() - t_post
            t_drain = time.perf_counter()
            proc.stop(timeout=900)  # SIGTERM: the app's shutdown scores what is queued and writes the last checkpoint
            drain_s = time.perf_counter() - t_drain
            scored = scored_points(url)
            proc.start(timeout=60)
            with httpx.Client(base_url=base, headers=admin, timeout=120) as client:
                alerts = {site.sc.seed: read_alerts(client, site) for site in sites}
        finally:
            proc.stop()
    if args.out is not None:
        write_alerts(args.out, scenarios, alerts, args.tolerance)
    scored_alerts = summarise(scenarios, alerts, tolerance_min=args.tolerance)
    return {
        "python": platform.python_version(), "devices": args.devices, "days": args.days, "seeds": args.seeds,
        "metrics_per_device": list(METRIC_UNITS), "first_day": scenarios[0].start.isoformat(),
        "batch_readings": args.batch, "tolerance_min": args.tolerance, "maintenance_windows_declared": windows,
        "instrument_context_sent": not args.no_context,
        "readings_posted": posted, "readings_scored": scored,
        "every_reading_scored": scored == posted, **scored_alerts,
        "runtime_s": {"post": round(post_s, 1), "drain_after_post": round(drain_s, 1),
                      "readings_per_s": round(posted / post_s), "total": round(time.perf_counter() - t0, 1)},
    }


def main() -> None:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--batch", type=int, default=2000, help="readings per ingest batch")
    parser.add_argument("--no-context", action="store_true",
                        help="send only the readings, not what the analyzers report about themselves (their "
                             "calibrating status point, calibration results and reagent lot changes)")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL URL on the server to use (the bench makes and drops a scratch database)")
    args = finish_arguments(parser.parse_args())
    print(json.dumps(run(args), indent=2, default=str))


if __name__ == "__main__":
    main()
