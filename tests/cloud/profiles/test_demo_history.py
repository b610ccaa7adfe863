"""The generated service history: deterministic, with rules the predictor never sees; the demo's year of it gives
every page real content (closed cases with fault categories, tiers, ratings, timelines, alerts and their
pre-checks), a trained predictor and every device scored."""

from __future__ import annotations

import ast
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from cloud.alerts.models import Alert
from cloud.audit.models import AuditLog
from cloud.profiles.demo_history import seed_history
from cloud.profiles.history import FleetDevice, generate
from cloud.profiles.models import PredictorState
from cloud.registry.models import Device
from cloud.tickets.models import PrecheckTask, Ticket
from cloud.tickets.state import Status

END = datetime(2026, 12, 1, tzinfo=UTC)
FLEET = [FleetDevice(id=i, hospital_id=i % 3, category=("chemistry", "hematology", "immunoassay")[i % 3],
                     model=("AU5800", "XN-1000", "cobas e 801")[i % 3], install_date=date(2015 + i % 8, 3, 1),
                     condition=50 + 4 * i, connected=i % 2 == 0) for i in range(12)]


def test_the_same_fleet_and_seed_give_the_same_history_and_another_seed_another() -> None:
    first = generate(FLEET, start=END - timedelta(days=365), end=END, seed=5)
    again = generate(FLEET, start=END - timedelta(days=365), end=END, seed=5)
    other = generate(FLEET, start=END - timedelta(days=365), end=END, seed=6)
    assert first == again and first != other
    assert all(c.closed_at < END and c.created_at >= END - timedelta(days=366) for c in first)
    assert {c.tier for c in first} == {"basic", "remote", "on_site"}
    assert {c.precheck_outcome for c in first} >= {"false_alarm", None}
    # The worse a device is kept, the more it fails (a hidden driver of the history).
    per_device = Counter(c.device_id for c in first if c.fault_category)
    assert sum(per_device[i] for i in range(6)) > sum(per_device[i] for i in range(6, 12))


def test_the_predictor_never_sees_the_generators_rules() -> None:
    hidden = ("ONSITE_BASE", "hospital_effect", "SELF_SERVE", "cloud.profiles.history", "condition")
    for path in Path("models/maintenance").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
        assert not any(m and m.startswith("cloud") for m in imported), path
        assert not any(name in source for name in hidden), path


def test_a_year_of_history_fills_the_pages_trains_the_predictor_and_scores_every_device(client, world, db) -> None:
    count = seed_history(db, connected={"MF-000001"}, now=END)
    db.commit()
    tickets = list(db.execute(select(Ticket)).scalars())
    assert len(tickets) == count > 20
    assert {t.status for t in tickets} == {Status.closed}
    assert all(t.tier is not None and t.resolved_at and t.closed_at for t in tickets)
    faults = [t for t in tickets if t.fault_category]
    assert len({t.fault_category for t in faults}) >= 4 and all(t.root_cause for t in faults)
    assert any(t.rating_overall for t in tickets) and any(t.reopen_count for t in tickets)
    assert any(t.onsite_probability is not None for t in tickets)  # what the model said before it learned each
    # Every ticket has a timeline from its submission to its close, in time order.
    rows = db.execute(select(AuditLog.entity_id, AuditLog.action).where(AuditLog.entity == "ticket")
                      .order_by(AuditLog.entity_id, AuditLog.at, AuditLog.id)).all()
    by_ticket: dict[int, list[str]] = {}
    for ticket_id, action in rows:
        by_ticket.setdefault(ticket_id, []).append(action)
    assert all(actions[0] == "submit" for actions in by_ticket.values()) and len(by_ticket) == count
    # The connected device's predictive tickets have their alert and a finished pre-check.
    predictive = [t for t in tickets if t.source.value == "predictive"]
    if predictive:
        assert db.execute(select(func.count(Alert.id))).scalar_one() == len(predictive)
        assert db.execute(select(func.count()).select_from(PrecheckTask)
                          .where(PrecheckTask.outcome.is_not(None))).scalar_one() == len(predictive)
    state = db.execute(select(PredictorState)).scalar_one()
    assert state.samples == count
    devices = list(db.execute(select(Device)).scalars())
    assert all(d.score_updated_at is not None and d.risk_30d is not None for d in devices)
    assert min(d.maintenance_score for d in devices) < 100
    # The pages show it: a device's profile, the ranking, a historical ticket in the console's API.
    busiest = Counter(t.device_id for t in faults).most_common(1)[0][0]
    profile = client.get(f"/api/v1/devices/{busiest}/profile", headers=world.headers("agent")).json()
    assert profile["recent_tickets"] and profile["faults"]
    shown = client.get(f"/api/v1/tickets/{faults[0].id}", headers=world.headers("agent")).json()
    assert shown["timeline"][0]["action"] == "submit" and shown["timeline"][-1]["status"] == "closed"
