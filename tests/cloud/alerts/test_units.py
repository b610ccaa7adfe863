"""What a stream measures decides whether it may be a counter: a coarse, perfectly steady temperature that starts
to creep one way is a drift (alert), a lamp-hours counter moving the same way is not."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.models import Alert
from cloud.alerts.streams import UnitKind, measures_a_quantity, unit_kind
from tests.cloud.alerts.conftest import Lab

# One reading every 10 s: an hour at exactly 37.0 (a regulated bath read at 0.1 °C), then +0.1 every minute.
STEADY_THEN_CREEPING = [37.0] * 360 + [round(37.0 + 0.1 * (i // 6), 1) for i in range(240)]


def alerts_of(db: Session, metric: str) -> list[Alert]:
    db.rollback()
    return list(db.execute(select(Alert).where(Alert.metric == metric)).scalars())


@pytest.mark.parametrize(("unit", "expected"), [
    ("°C", True), ("℃", True), (" kPa ", True), ("mbar", True), ("V", True), ("rpm", True),
    ("h", False), ("count", False), ("%", False), ("", False), (None, False), ("tests", False),
])
def test_physical_units_are_told_from_counts(unit: str | None, expected: bool) -> None:
    assert measures_a_quantity(unit) is expected


@pytest.mark.parametrize(("unit", "expected"), [
    ("°C", UnitKind.quantity), ("kPa", UnitKind.quantity), ("mAbs", UnitKind.quantity),
    ("%", UnitKind.level), ("%RH", UnitKind.level), ("mL", UnitKind.level), ("µL", UnitKind.level),
    ("count", UnitKind.counter), ("tests", UnitKind.counter), ("次", UnitKind.counter), ("h", UnitKind.counter),
    ("cycles", UnitKind.counter), ("", None), (None, None), ("mg/dL", None),
])
def test_units_say_whether_a_stream_is_a_quantity_a_level_or_a_counter(unit: str | None,
                                                                       expected: UnitKind | None) -> None:
    assert unit_kind(unit) is expected


def test_a_steady_temperature_that_creeps_one_way_alerts(client: TestClient, db: Session, lab: Lab) -> None:
    lab.send(client, STEADY_THEN_CREEPING, metric="bath_temp", unit="°C")
    [alert] = alerts_of(db, "bath_temp")
    assert alert.device_id == lab.devices["c702"]


def test_the_same_shape_in_hours_is_a_counter_and_stays_quiet(client: TestClient, db: Session, lab: Lab) -> None:
    lab.send(client, [v - 37.0 + 1234.5 for v in STEADY_THEN_CREEPING], metric="lamp_hours", unit="h")
    assert alerts_of(db, "lamp_hours") == []
    # Quiet because it was scored as a counter, not because it never reached the scorer.
    stream = client.app.state.scorer.streams[(lab.devices["c702"], "lamp_hours")]  # type: ignore[attr-defined]
    assert stream.points == len(STEADY_THEN_CREEPING)
