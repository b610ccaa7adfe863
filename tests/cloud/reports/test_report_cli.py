"""`medfix cloud report monthly --hospital H --month YYYY-MM` and `medfix cloud report ticket NUMBER`."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cloud.auth.models import User
from cloud.config import Settings
from cloud.notify.models import Notification
from cloud.reports.models import MonthlyReport
from tests.cloud.reports.helpers import pdf_text, repaired_ticket
from tests.cloud.world import World


def _run(monkeypatch, settings: Settings, *args: str):  # noqa: ANN001, ANN202
    import cloud.config
    from cloud import cli

    monkeypatch.setattr(cloud.config, "get_settings", lambda: settings)
    return CliRunner().invoke(cli.app, ["report", *args])


def test_the_cli_renders_stores_and_delivers_a_month(monkeypatch, settings: Settings, db: Session, world: World,  # noqa: ANN001
                                                     tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = _run(monkeypatch, settings, "monthly", "--hospital", "瑞金医院", "--month", "2026-05", "--out", str(out))
    assert done.exit_code == 0, done.output
    written = out / f"monthly-{world.hospital_a}-2026-05.pdf"
    assert "stored" in done.output and str(written) in done.output
    assert "2026年5月" in pdf_text(written.read_bytes()) and "本月无报修" in pdf_text(written.read_bytes())
    row = db.execute(select(MonthlyReport).where(MonthlyReport.hospital_id == world.hospital_a)).scalar_one()
    assert row.month == "2026-05" and row.delivered_at is None

    manager = db.get(User, world.users["lab_a"])
    assert manager is not None
    manager.is_lab_manager = True
    db.commit()
    sent = _run(monkeypatch, settings, "monthly", "--hospital", str(world.hospital_a), "--month", "2026-05",
                "--deliver")
    assert sent.exit_code == 0, sent.output
    assert "told 1 lab manager(s)" in sent.output
    again = _run(monkeypatch, settings, "monthly", "--hospital", str(world.hospital_a), "--month", "2026-05",
                 "--deliver")
    assert "no lab manager was told" in again.output
    db.expire_all()
    notes = db.execute(select(Notification).where(Notification.user_id == manager.id)).scalars().all()
    assert [n.kind for n in notes] == ["report.monthly"]
    assert notes[0].link == f"/reports/monthly/{world.hospital_a}/2026-05.pdf"


def test_the_cli_says_what_is_wrong(monkeypatch, settings: Settings, world: World) -> None:  # noqa: ANN001
    cases = [
        (("--hospital", "没有这家医院", "--month", "2026-05"), "no hospital"),
        (("--hospital", "99999", "--month", "2026-05"), "no hospital"),
        (("--hospital", str(world.hospital_a), "--month", "2026-13"), "YYYY-MM"),
        (("--hospital", str(world.hospital_a), "--month", "May"), "YYYY-MM"),
        (("--hospital", str(world.hospital_a), "--month", "2999-01"), "has not begun"),
    ]
    for args, message in cases:
        result = _run(monkeypatch, settings, "monthly", *args)
        assert result.exit_code == 1 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_the_cli_renders_a_tickets_service_report(monkeypatch, settings: Settings, client: TestClient,  # noqa: ANN001
                                                  world: World, tmp_path: Path) -> None:
    made = repaired_ticket(client, world)
    target = tmp_path / "report.pdf"
    result = _run(monkeypatch, settings, "ticket", made["number"], "--out", str(target))
    assert result.exit_code == 0, result.output
    assert made["number"] in pdf_text(target.read_bytes())
    missing = _run(monkeypatch, settings, "ticket", "WO-999999")
    assert missing.exit_code == 1 and "no ticket" in missing.output
