"""Through the ingest: a test counter is scored by its rate (a stall in the shift alerts, its rhythm does not) and a
reagent level in % by its consumption (a sudden drop alerts, its refills do not)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from protocols.telemetry import encode_batch
from tests.cloud.alerts.conftest import Lab
from tests.cloud.alerts.test_units import alerts_of
from tests.cloud.telemetry.conftest import T0, make_batch
from tests.models.test_anomaly_rate import FAULT, analyzer_counter, reagent

STEP_S = 60  # one reading a minute, as an analyzer's counters are polled
BATCH = 1440


def send_minutes(client: TestClient, lab: Lab, values: Sequence[float], *, metric: str, unit: str | None) -> None:
    """Upload values one a minute from T0 (the streams of tests/models/test_anomaly_rate.py start at a midnight)."""
    for offset in range(0, len(values), BATCH):
        readings = [("c702", metric, v, T0 + timedelta(seconds=STEP_S * (offset + i)))
                    for i, v in enumerate(values[offset:offset + BATCH])]
        body = encode_batch(make_batch(lab.gateway.name, lab.sequence, readings=readings, events=[], unit=unit))
        lab.sequence += 1
        response = client.post("/api/v1/ingest", content=body,
                               headers={**lab.gateway.headers, "Content-Type": "application/json"})
        assert response.status_code == 200, response.text
    assert client.app.state.scorer.wait_idle(60), "the scorer did not catch up"  # type: ignore[attr-defined]


def fault_hours(alert_starts: list[float]) -> bool:
    return bool(alert_starts) and all(FAULT[0] <= s <= FAULT[1] for s in alert_starts)


def test_a_test_counter_that_stalls_in_the_shift_alerts_once_and_its_daily_rhythm_never(
        client: TestClient, db: Session, lab: Lab) -> None:
    send_minutes(client, lab, [x for _t, x in analyzer_counter(speed=0.0)], metric="test_count", unit="count")
    alerts = alerts_of(db, "test_count")
    starts = [(a.started_at.replace(tzinfo=T0.tzinfo) - T0).total_seconds() for a in alerts]
    assert fault_hours(starts), starts  # the stall, and nothing in six days of day shifts and quiet nights
    stream = client.app.state.scorer.streams[(lab.devices["c702"], "test_count")]  # type: ignore[attr-defined]
    assert stream.detector.unit_kind == "counter"


def test_a_reagent_level_in_percent_alerts_on_a_sudden_drop_not_on_its_use_and_refills(
        client: TestClient, db: Session, lab: Lab) -> None:
    send_minutes(client, lab, [x for _t, x in reagent(drop=20.0)], metric="reagent_r1_level", unit="%")
    alerts = alerts_of(db, "reagent_r1_level")
    starts = [(a.started_at.replace(tzinfo=T0.tzinfo) - T0).total_seconds() for a in alerts]
    assert fault_hours(starts), starts
    stream = client.app.state.scorer.streams[(lab.devices["c702"], "reagent_r1_level")]  # type: ignore[attr-defined]
    assert stream.detector.unit_kind == "level"
