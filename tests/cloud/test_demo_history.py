"""The demo analyzer's week (cloud/demo_history.py) through the real ingest and scorer: the rhythm does not alarm,
the fault does, explained with the usual level for its hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.alerts.explain import describe
from cloud.alerts.models import Alert, DetectorState
from cloud.audit.service import Actor
from cloud.config import Settings
from cloud.demo_history import DAYS, FAULT, FAULT_BEFORE_NOW, FAULT_MINUTES, HISTORY_DEVICE, post_history, week
from cloud.main import create_app
from cloud.telemetry import service as telemetry
from cloud.telemetry.models import Reading
from protocols.simulators.analyzer_behaviour import FAULT_METRICS
from tests.cloud.telemetry.conftest import add_gateway
from tests.cloud.world import World

NOW = datetime(2026, 12, 7, 10, 17, 42, tzinfo=UTC)  # 18:17 in Shanghai, a Monday
SATURDAY = datetime(2026, 12, 12, 3, 5, tzinfo=UTC)  # 11:05 in Shanghai: 12 days from the Monday it starts on
SHANGHAI = ZoneInfo("Asia/Shanghai")
RECOVERY = timedelta(minutes=60)  # the return to normal after the repair is part of the incident


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The demo's settings: the history analyzer's streams learn for the service's day (only the live drifting
    analyzer has a 3-minute policy of its own: cloud/demo_run.py)."""
    return settings.model_copy(update={"alert_learning_hours": Settings.model_fields["alert_learning_hours"].default})


def test_the_week_is_exact() -> None:
    history = week(NOW)
    start, end = history.fault
    assert history.end == NOW.replace(second=0)
    assert start == history.end - FAULT_BEFORE_NOW and end - start == timedelta(minutes=FAULT_MINUTES)
    assert [f.kind for f in history.scenario.faults] == [FAULT]
    assert [b.kind for b in history.scenario.benign if b.kind in ("planned_maintenance", "reagent_lot_change")] == []
    assert history.end - history.scenario.start >= timedelta(days=DAYS)
    # Its first day (the streams' learning day) is a working day: it starts on the lab's Monday midnight.
    for now in (NOW, SATURDAY, SATURDAY + timedelta(days=1)):
        local = week(now).scenario.start.astimezone(SHANGHAI)
        assert (local.weekday(), local.hour, local.minute) == (0, 0, 0)
        assert timedelta(days=DAYS) <= now - week(now).scenario.start < timedelta(days=DAYS + 7)


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("now", [NOW, SATURDAY], ids=["monday", "saturday"])
def test_the_week_alerts_on_its_fault_alone(settings: Settings, db: Session, world: World, now: datetime) -> None:
    device_id = world.devices_a[1]
    gateway = add_gateway(db, world.hospital_a)
    telemetry.map_device(db, gateway_id=gateway.id, device_key=HISTORY_DEVICE[0], device_id=device_id,
                         actor=Actor.system("test"))
    db.commit()
    history = week(now)
    with TestClient(create_app(settings)) as client:
        sent = post_history(client, history, gateway=gateway.name, token=gateway.token, device_key=HISTORY_DEVICE[0])
    # The app has shut down: its scorer scored everything queued and checkpointed the detectors.
    stored = db.scalar(select(func.count()).select_from(Reading).where(Reading.device_id == device_id))
    scored = db.scalar(select(func.sum(DetectorState.points)).where(DetectorState.device_id == device_id))
    assert sent == stored == scored
    assert sent >= DAYS * 1440 * 7

    alerts = db.scalars(select(Alert).where(Alert.device_id == device_id).order_by(Alert.started_at)).all()
    start, end = history.fault
    on_fault = [a for a in alerts if start <= a.started_at <= end + RECOVERY]
    # The first day is the streams' learning period (its first busy shift would alarm on the probe's pressure);
    # after it, nothing but the fault.
    others = [(a.metric, a.started_at.isoformat()) for a in alerts if a not in on_fault]
    assert others == [], f"the rhythm alarmed: {others}"
    assert on_fault and {a.metric for a in on_fault} == set(FAULT_METRICS[FAULT])
    first = describe(on_fault[0].explanation, "zh-CN")
    assert "该时段通常为 37.0" in first and "°C" in first, first
