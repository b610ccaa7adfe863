"""Report PDF speed: a ticket's service report and a hospital's monthly report, read and rendered, as JSON.

Builds one busy hospital on a fresh database (SQLite file, or a scratch PostgreSQL database on --pg's server):
40 devices in 4 departments, --month-tickets tickets in the measured month (on-site, remote and self-served
repairs over the fault categories, ratings, a few still open) and --history tickets in each of the five months
before it (the trend), each with its timeline rows. Then it times, per report, the whole work the service does
for it: read the ticket or the month (the dashboards' aggregates for the month) and render the PDF.

- service reports: --reports tickets of the month, each with two 12-megapixel phone photos (before and after,
  4000x3000 JPEG): the first one cold (font loading included), then p50 / p95 / max;
- monthly report: the busy month --repeats times (p50 / max), and an empty month.

Times are wall clock of the whole work (the database's share included); cpu_p50_ms is this thread's CPU time,
which moves less when other work shares the machine.

    .venv/bin/python bench/report_pdf.py
    .venv/bin/python bench/report_pdf.py --pg postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import scratch_database  # noqa: E402
from cloud.audit.service import Actor, record  # noqa: E402
from cloud.auth.models import Role  # noqa: E402
from cloud.auth.service import create_user  # noqa: E402
from cloud.db import make_engine, make_sessionmaker  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402
from cloud.registry import service as registry  # noqa: E402
from cloud.registry.models import Hospital  # noqa: E402
from cloud.registry.schemas import DeviceIn, HospitalIn  # noqa: E402
from cloud.reports import monthly, pdf, service_report  # noqa: E402
from cloud.reports.stats import Month  # noqa: E402
from cloud.tickets.models import AttachmentKind, Source, Ticket, TicketAttachment, Urgency  # noqa: E402
from cloud.tickets.state import Status, Tier  # noqa: E402

ZONE = "Asia/Shanghai"
MONTH = Month(2026, 11, ZONE)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=ZoneInfo(ZONE))
ACTOR = Actor.system("bench")
FAULTS = ["temperature_control", "optics_lamp", "sample_probe", "reagent_fluidics", "mechanical",
          "communication_software", "operator_error", "other"]
MODELS = [("Roche", "cobas c 702", "chemistry"), ("Sysmex", "XN-1000", "hematology"),
          ("Abbott", "ARCHITECT i2000SR", "immunoassay"), ("Mindray", "BC-6800", "hematology")]


def phone_photo(path: Path, colour: str) -> None:
    """A 12-megapixel JPEG, as a phone takes them (what a report has to scale down)."""
    image = Image.new("RGB", (4000, 3000), colour)
    draw = ImageDraw.Draw(image)
    for i in range(0, 4000, 160):  # some detail, so the JPEG is not trivially small
        draw.line((i, 0, 4000 - i, 3000), fill="#2b3440", width=9)
    draw.rectangle((900, 700, 3100, 2300), fill="#20262e", outline="#dfe6ee", width=30)
    image.save(path, format="JPEG", quality=88)


def build(session: Any, data_dir: Path, month_tickets: int, history: int, reports: int) -> tuple[int, list[int]]:
    """The hospital and its tickets; returns (hospital id, ids of the tickets whose reports are timed)."""
    rng = random.Random(7)
    hospital = registry.create_hospital(session, actor=ACTOR, data=HospitalIn(
        name="上海交通大学医学院附属瑞金医院", aliases=["瑞金医院"]))
    departments = [registry.create_department(session, hospital_id=hospital.id, name=name, actor=ACTOR).id
                   for name in ("检验科", "急诊检验", "临床免疫", "分子诊断")]
    devices = []
    for i in range(40):
        maker, model, category = MODELS[i % len(MODELS)]
        devices.append(registry.create_device(session, actor=ACTOR, data=DeviceIn(
            serial=f"SN{i:06d}", manufacturer=maker, model=model, category=category, hospital_id=hospital.id,
            department_id=departments[i % 4])))
    engineers = [create_user(session, username=f"eng{i}", password="bench-password", role=Role.engineer,
                             actor=ACTOR, full_name=f"工程师{i}") for i in range(4)]
    reporter = create_user(session, username="lab", password="bench-password", role=Role.lab_user, actor=ACTOR,
                           full_name="陈老师", hospital_id=hospital.id, verified=True)
    session.flush()
    photos = data_dir / "uploads" / "bench"
    photos.mkdir(parents=True, exist_ok=True)
    phone_photo(photos / "before.jpg", "#8a9bb0")
    phone_photo(photos / "after.jpg", "#9fb3a0")
    size = (photos / "before.jpg").stat().st_size
    timed: list[int] = []
    number = 0
    for offset in range(5, -1, -1):
        month = MONTH.shifted(-offset)
        count = month_tickets if offset == 0 else history
        for _ in range(count):
            number += 1
            created = month.start + timedelta(seconds=rng.uniform(0, (month.end - month.start).total_seconds() - 1))
            device = rng.choice(devices)
            kind = rng.random()
            tier = Tier.on_site if kind < 0.45 else Tier.remote if kind < 0.8 else Tier.basic if kind < 0.92 else None
            resolved = created + timedelta(hours=rng.uniform(0.2, 30)) if tier else None
            engineer = rng.choice(engineers) if tier == Tier.on_site else None
            ticket = Ticket(
                number=f"WO-{number:06d}", hospital_id=hospital.id, device_id=device.id, group_id=None,
                source=Source.predictive if rng.random() < 0.1 else Source.web,
                status=Status.closed if tier else Status.submitted, urgency=Urgency.normal, priority=2,
                description="反应盘温度报警，无法开始测试，屏幕显示错误代码 E-231", reporter_user_id=reporter.id,
                reporter_name="陈老师", reporter_phone="13800001111", engineer_id=engineer.id if engineer else None,
                findings="更换反应盘加热器并校准温度传感器，运行质控全部在控" if tier else None,
                fault_category=rng.choice(FAULTS) if tier else None, root_cause="加热器老化" if tier else None,
                parts=[{"name": "反应盘加热器", "part_no": "04512345001", "qty": 1}] if tier == Tier.on_site else None,
                tier=tier, first_responded_at=created + timedelta(minutes=rng.uniform(2, 60)),
                first_response_due_at=created + timedelta(minutes=30), resolution_due_at=created + timedelta(hours=8),
                resolved_at=resolved, closed_at=resolved, created_at=created, updated_at=resolved or created,
                rating_overall=rng.choice([3, 4, 5, 5]) if tier else None, rated_at=resolved,
                rating_speed=4 if tier else None, rating_attitude=5 if tier else None, rating_skill=5 if tier else None,
                rating_comment="处理及时" if tier else None)
            session.add(ticket)
            session.flush()
            with_photos = offset == 0 and tier == Tier.on_site and len(timed) < reports
            attachments = []
            if with_photos:
                for name in ("before.jpg", "after.jpg"):
                    attachment = TicketAttachment(ticket_id=ticket.id, kind=AttachmentKind.photo,
                                                  path=f"uploads/bench/{name}", content_type="image/jpeg", size=size,
                                                  sha256="0" * 64, upload_key_hash="0" * 64, created_at=created)
                    session.add(attachment)
                    session.flush()
                    attachments.append(attachment.id)
                timed.append(ticket.id)
            if offset == 0:  # the timeline of the month's tickets (the service report reads it)
                steps: list[tuple[str, dict[str, Any]]] = [("submit", {})]
                if tier:
                    steps = [("submit", {"attachments": attachments[:1]}), ("dispatch", {"engineer": "工程师"}),
                             ("accept", {}), ("arrive", {}), ("complete", {"attachments": attachments[1:]}),
                             ("confirm", {}), ("rate", {"rating": {"overall": 5}})]
                for action, details in steps:
                    record(session, actor=ACTOR, action=action, entity="ticket", entity_id=ticket.id,
                           hospital_id=hospital.id, after={"status": "closed", "text": "处理记录", **details})
    session.commit()
    return hospital.id, timed


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


def run(url: str, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        started = time.perf_counter()
        hospital_id, timed = build(session, data_dir, args.month_tickets, args.history, args.reports)
        built_s = time.perf_counter() - started
    out: dict[str, Any] = {"build_s": round(built_s, 1)}

    times: list[float] = []
    cpu: list[float] = []
    sizes: list[int] = []
    pages: list[int] = []
    for ticket_id in timed:
        with sessions() as session:
            ticket = session.get(Ticket, ticket_id)
            assert ticket is not None
            started, cpu_started = time.perf_counter(), time.thread_time()
            content = service_report.render(service_report.collect(session, ticket, data_dir=data_dir, now=NOW))
            times.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - cpu_started)
            sizes.append(len(content))
            pages.append(content.count(b"/Type /Page") - content.count(b"/Type /Pages"))
    out["service_report"] = {"reports": len(times), "photos_each": 2, "font_embedded": pdf.embedded(),
                             "cold_ms": round(times[0] * 1000, 1), **_ms(times[1:] or times),
                             "cpu_p50_ms": _ms(cpu[1:] or cpu)["p50_ms"],
                             "pdf_kb": round(statistics.mean(sizes) / 1024, 1), "pages": max(pages)}

    times, cpu, sizes = [], [], []
    with sessions() as session:
        hospital = session.get(Hospital, hospital_id)
        assert hospital is not None
        for _ in range(args.repeats):
            started, cpu_started = time.perf_counter(), time.thread_time()
            data = monthly.collect(session, hospital, MONTH, now=NOW)
            collected = time.perf_counter()
            content = monthly.render(data)
            times.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - cpu_started)
            sizes.append(len(content))
            out.setdefault("monthly_split_ms", []).append({
                "figures": round((collected - started) * 1000, 1),
                "pdf": round((time.perf_counter() - collected) * 1000, 1)})
        out["monthly_report"] = {"tickets_in_month": data.stats.summary.tickets, "repeats": args.repeats,
                                 **_ms(times), "cpu_p50_ms": _ms(cpu)["p50_ms"],
                                 "pdf_kb": round(statistics.mean(sizes) / 1024, 1),
                                 "pages": content.count(b"/Type /Page") - content.count(b"/Type /Pages")}
        started = time.perf_counter()
        empty = monthly.render(monthly.collect(session, hospital, Month(2025, 1, ZONE), now=NOW))
        out["monthly_report_empty"] = {"ms": round((time.perf_counter() - started) * 1000, 1),
                                       "pdf_kb": round(len(empty) / 1024, 1)}
        out["monthly_split_ms"] = out["monthly_split_ms"][:3]
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="", help="a PostgreSQL URL: run on a scratch database on its server "
                                                  "(default: a SQLite file)")
    parser.add_argument("--month-tickets", type=int, default=300, help="tickets in the measured month")
    parser.add_argument("--history", type=int, default=150, help="tickets in each of the five months before")
    parser.add_argument("--reports", type=int, default=30, help="service reports to time (with two photos each)")
    parser.add_argument("--repeats", type=int, default=5, help="monthly reports to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        backend = "postgresql" if args.pg else "sqlite"
        with scratch_database(backend, Path(tmp), **({"server_url": args.pg} if args.pg else {})) as url:
            results = run(url, Path(tmp), args)
    print(json.dumps({
        "bench": "report_pdf", "backend": backend, "month_tickets": args.month_tickets, **results,
        "aim_ms": 1000, "python": platform.python_version(), "reportlab": metadata.version("reportlab"),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
