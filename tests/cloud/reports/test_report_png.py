"""Both report PDFs rendered to PNG with pdftoppm (poppler-utils, from `make browser`), the way a viewer shows
them: pages of A4 proportions with ink on them, written to test-artifacts/reports/ to be looked at."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from cloud.registry.models import Hospital
from cloud.reports import service
from cloud.reports.stats import Month
from tests.cloud.reports.helpers import set_times
from tests.cloud.tickets.helpers import act, submit, upload
from tests.cloud.world import World
from tests.conftest import need

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "reports"
SHANGHAI = ZoneInfo("Asia/Shanghai")
FAULTS = ["temperature_control", "optics_lamp", "sample_probe", "reagent_fluidics", "mechanical",
          "communication_software", "operator_error"]


def photo(colour: str, label: str) -> bytes:
    """A phone-sized picture with something drawn on it (a screen with an alarm), as JPEG."""
    image = Image.new("RGB", (1600, 1200), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((300, 250, 1300, 950), fill="#20262e", outline="#9aa5b1", width=18)
    draw.rectangle((360, 310, 1240, 420), fill="#c0392b" if label == "alarm" else "#1a7f4b")
    draw.ellipse((700, 600, 900, 800), outline="#dfe6ee", width=14)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _to_png(pdf: Path, prefix: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "80", "-png", str(pdf), str(prefix)], check=True, timeout=60)
    return sorted(prefix.parent.glob(f"{prefix.name}-*.png"))


def _looks_like_a_page(path: Path) -> None:
    with Image.open(path) as image:
        width, height = image.size
        assert abs(height / width - 297 / 210) < 0.02  # A4 portrait
        grey = image.convert("L")
        inked = sum(1 for value in grey.getdata() if value < 200)
        assert inked > width * height * 0.01, f"{path.name} is nearly blank"


def _month_of_tickets(client: TestClient, db: Session, world: World) -> str:
    """A busy June at hospital A: on-site repairs with photos, remote answers, a couple still open."""
    rng = random.Random(11)
    agent, engineer = world.headers("agent"), world.headers("engineer")
    first = None
    for day in range(1, 31):
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            device = rng.choice(world.devices_a)
            fault = rng.choice(FAULTS)
            created = datetime(2026, 6, day, rng.randint(8, 17), rng.randint(0, 59), tzinfo=SHANGHAI).astimezone(UTC)
            kind = rng.random()
            if kind < 0.45:
                before = upload(client, "photo", photo("#8a9bb0", "alarm")).json()
                ticket = submit(client, world, device_id=device, headers=world.headers("lab_a"),
                                description="反应盘温度报警，无法开始测试，屏幕显示错误代码 E-231",
                                attachments=[{"id": before["id"], "key": before["key"]}]).json()["ticket"]
                tid = ticket["id"]
                act(client, tid, agent, "dispatch", engineer_id=world.users["engineer"])
                act(client, tid, engineer, "accept")
                act(client, tid, engineer, "arrive")
                after = upload(client, "photo", photo("#9fb3a0", "ok")).json()
                act(client, tid, engineer, "complete", findings="更换反应盘加热器并校准温度传感器，运行质控全部在控",
                    fault_category=fault, root_cause="加热器老化导致控温偏差",
                    parts=[{"name": "反应盘加热器", "part_no": "04512345001", "qty": 1},
                           {"name": "温度传感器", "part_no": "04512345002", "qty": 2}],
                    attachments=[{"id": after["id"], "key": after["key"]}])
                act(client, tid, world.headers("lab_a"), "confirm")
                act(client, tid, world.headers("lab_a"), "rate", rating_overall=rng.choice([4, 5, 5]),
                    rating_speed=rng.choice([3, 4, 5]), rating_attitude=5, rating_skill=rng.choice([4, 5]),
                    rating_comment="工程师响应及时，处理专业")
                hours = rng.uniform(2, 9)
                first = first or ticket["number"]
            elif kind < 0.9:
                tid = submit(client, world, device_id=device,
                             description="质控失控，请求远程指导").json()["ticket"]["id"]
                act(client, tid, agent, "answer", text="已远程指导重新定标，质控恢复在控", fault_category=fault)
                hours = rng.uniform(0.2, 1.5)
            else:
                tid = submit(client, world, device_id=device, description="样本针报警").json()["ticket"]["id"]
                hours = None
            set_times(db, tid, created_at=created, first_responded_at=created + timedelta(minutes=rng.randint(3, 40)),
                      first_response_due_at=created + timedelta(minutes=30),
                      resolution_due_at=created + timedelta(hours=8),
                      **({"resolved_at": created + timedelta(hours=hours)} if hours else {}))
    assert first is not None
    return first


def test_both_reports_render_to_pages_that_look_like_reports(client: TestClient, app, db: Session,  # noqa: ANN001
                                                             world: World, backend: str) -> None:
    need(shutil.which("pdftoppm") is not None, "pdftoppm (poppler-utils)")
    number = _month_of_tickets(client, db, world)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{backend}-*"):
        old.unlink()
    served = client.get(f"/t/{number}/report.pdf", headers=world.headers("agent"))
    assert served.status_code == 200
    service_pdf = ARTIFACTS / f"{backend}-service-report.pdf"
    service_pdf.write_bytes(served.content)
    pages = _to_png(service_pdf, ARTIFACTS / f"{backend}-service")
    assert 1 <= len(pages) <= 3
    for page in pages:
        _looks_like_a_page(page)

    hospital = db.get(Hospital, world.hospital_a)
    assert hospital is not None
    monthly = service.monthly_report(db, hospital, Month(2026, 6, "Asia/Shanghai"),
                                     data_dir=app.state.settings.data_dir,
                                     now=datetime(2026, 7, 1, 8, 0, tzinfo=SHANGHAI))
    db.commit()
    monthly_pdf = ARTIFACTS / f"{backend}-monthly-report.pdf"
    monthly_pdf.write_bytes(monthly.content)
    pages = _to_png(monthly_pdf, ARTIFACTS / f"{backend}-monthly")
    assert len(pages) >= 2
    for page in pages:
        _looks_like_a_page(page)

    empty = service.monthly_report(db, hospital, Month(2026, 2, "Asia/Shanghai"),
                                   data_dir=app.state.settings.data_dir,
                                   now=datetime(2026, 7, 1, 8, 0, tzinfo=SHANGHAI))
    empty_pdf = ARTIFACTS / f"{backend}-monthly-empty.pdf"
    empty_pdf.write_bytes(empty.content)
    for page in _to_png(empty_pdf, ARTIFACTS / f"{backend}-empty"):
        _looks_like_a_page(page)
