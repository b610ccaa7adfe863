"""The pre-check service on its own: alerts opened straight through cloud.alerts.predictive, no scorer in between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import precheck, predictive
from cloud.alerts import service as alerts
from cloud.alerts.models import Alert
from cloud.auth.models import User
from cloud.config import Settings
from cloud.errors import Conflict, Forbidden, Invalid, NotFound
from cloud.tickets.models import PrecheckAnswer, PrecheckOutcome, Ticket
from cloud.tickets.service import PRECHECK_FINISHING, Viewer
from cloud.tickets.state import Status
from tests.cloud.world import World

T = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _alert(db: Session, settings: Settings, device_id: int, metric: str, minutes: int = 0) -> Alert:
    at = T + timedelta(minutes=minutes)
    alert = predictive.open_alert(db, device_id=device_id, metric=metric, started_at=at, at=at, score=0.8,
                              settings=settings)
    db.commit()
    return alert


def _viewer(db: Session, world: World, username: str) -> Viewer:
    return Viewer(user=db.get(User, world.users[username]))


def test_the_checklist_follows_the_devices_category(db: Session, world: World, settings: Settings) -> None:
    hematology = _alert(db, settings, world.devices_b[0], "temp_c")
    task = precheck.task_of(db, ticket_id=hematology.ticket_id)  # type: ignore[arg-type]
    assert task is not None and (task.checklist, task.category, task.hospital_id) == (
        "temperature:*", "hematology", world.hospital_b)
    assert [i.code for i in task.items] == ["temp.reference", "temp.fan_filter", "temp.room", "qc.last_run"]
    chemistry = _alert(db, settings, world.devices_a[0], "wash_pressure")
    task = precheck.task_of(db, ticket_id=chemistry.ticket_id)  # type: ignore[arg-type]
    assert task is not None and task.checklist == "pressure:*" and task.items[0].metric == "wash_pressure"


def test_a_finished_precheck_is_not_extended_by_later_alerts(db: Session, world: World, settings: Settings) -> None:
    first = _alert(db, settings, world.devices_a[0], "temp_c")
    ticket = db.get(Ticket, first.ticket_id)
    engineer = _viewer(db, world, "engineer")
    ticket_, task = precheck.get(db, ticket_id=ticket.id, viewer=engineer, settings=settings)  # type: ignore[union-attr]
    for item in task.items:
        precheck.answer_item(db, ticket=ticket_, task=task, item_id=item.id, answer=PrecheckAnswer.done,
                             viewer=engineer, settings=settings)
    precheck.finish(db, ticket=ticket_, task=task, outcome=PrecheckOutcome.fault_confirmed, note=None,
                    viewer=engineer, settings=settings)
    db.commit()
    second = _alert(db, settings, world.devices_a[0], "vacuum", minutes=5)
    assert second.ticket_id == ticket_.id  # the same open predictive ticket
    db.refresh(task)
    assert len(task.items) == 4 and task.outcome == PrecheckOutcome.fault_confirmed


def test_who_may_see_and_work_the_precheck(db: Session, world: World, settings: Settings) -> None:
    alert = _alert(db, settings, world.devices_a[0], "temp_c")
    ticket_id = alert.ticket_id
    assert ticket_id is not None
    with pytest.raises(NotFound):  # another hospital's user
        precheck.get(db, ticket_id=ticket_id, viewer=_viewer(db, world, "lab_b"), settings=settings)
    with pytest.raises(Forbidden):  # the hospital's own lab user sees the ticket, not its pre-check
        precheck.get(db, ticket_id=ticket_id, viewer=_viewer(db, world, "lab_a"), settings=settings)
    ticket, task = precheck.get(db, ticket_id=ticket_id, viewer=_viewer(db, world, "center"), settings=settings)
    assert precheck.can_work(_viewer(db, world, "center"), ticket, task, settings)
    assert precheck.can_work(_viewer(db, world, "engineer"), ticket, task, settings)  # dispatched to them
    ticket.engineer_id = None  # someone else's job now: an engineer who is not assigned only looks
    assert not precheck.can_work(_viewer(db, world, "engineer"), ticket, task, settings)
    with pytest.raises(Forbidden):
        precheck.answer_item(db, ticket=ticket, task=task, item_id=task.items[0].id, answer=PrecheckAnswer.done,
                             viewer=_viewer(db, world, "engineer"), settings=settings)


def test_false_alarm_with_a_note_alone_resolves_and_leaves_no_handshake_behind(
        db: Session, world: World, settings: Settings) -> None:
    alert = _alert(db, settings, world.devices_a[0], "temp_c")
    agent = _viewer(db, world, "agent")
    ticket, task = precheck.get(db, ticket_id=alert.ticket_id, viewer=agent, settings=settings)  # type: ignore[arg-type]
    with pytest.raises(Invalid):
        precheck.finish(db, ticket=ticket, task=task, outcome=PrecheckOutcome.false_alarm, note="  ",
                        viewer=agent, settings=settings)
    with pytest.raises(Conflict):
        precheck.finish(db, ticket=ticket, task=task, outcome=PrecheckOutcome.false_alarm, note="x",
                        viewer=agent, settings=settings, version=task.version + 1)
    precheck.finish(db, ticket=ticket, task=task, outcome=PrecheckOutcome.false_alarm, note="校准后的正常漂移",
                    viewer=agent, settings=settings.model_copy(update={"alert_threshold": 0.6}))
    db.commit()
    assert PRECHECK_FINISHING not in db.info
    db.refresh(ticket)
    assert (ticket.status, ticket.findings) == (Status.resolved, "校准后的正常漂移")
    refreshed = db.execute(select(Alert).where(Alert.id == alert.id)).scalar_one()
    assert refreshed.false_alarm and refreshed.false_alarm_by == world.users["agent"]
    policy = alerts.policy_book(db, device_ids=[alert.device_id], metrics=["temp_c"]).rows[(alert.device_id,
                                                                                              "temp_c")]
    assert policy.sensitivity == 0.65  # a notch above the service's default (settings alert_threshold)
