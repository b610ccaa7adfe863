"""Tiers: every way a case is solved records its tier, self-service closes, a bot handover reaches the centre."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from cloud.alerts import precheck, predictive
from cloud.auth.models import User
from cloud.config import Settings
from cloud.db import Base, make_engine
from cloud.errors import Invalid, NotFound
from cloud.i18n import CATALOG
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models
from cloud.tickets import service
from cloud.tickets.models import PrecheckAnswer, PrecheckOutcome, Ticket
from cloud.tickets.service import Viewer
from cloud.tickets.state import OPEN, Action, Party, Status, Tier, allowed_actions, next_status, tier_after
from cloud.web.desk import JS_TEXTS
from tests.cloud.tickets.helpers import act, reporter, submit
from tests.cloud.world import World

ROOT = Path(__file__).resolve().parents[3]
CHAT = [
    {"who": "user", "text": "c702 反应盘温度报警 E-32 怎么办", "at": "2026-12-02T08:00:00Z"},
    {"who": "bot", "text": "请检查反应盘风扇滤网并重启温控模块。", "at": "2026-12-02T08:00:01Z",
     "entry_id": "kb-temp-01"},
    {"who": "user", "text": "试过了，还是报警", "at": "2026-12-02T08:03:00Z"},
]


def _user(db: Session, world: World, name: str) -> User:
    user = db.get(User, world.users[name])
    assert user is not None
    return user


def _escalate(db: Session, world: World, settings: Settings, **overrides: Any) -> Ticket:
    args: dict[str, Any] = {"device_id": world.devices_a[0], "reporter": _user(db, world, "lab_a"),
                            "text": "反应盘温度报警，机器人没解决", "ask_ids": [11, 12], "conversation": CHAT}
    ticket = service.open_escalated(db, settings=settings, **{**args, **overrides})
    db.commit()
    return ticket


def _opened(client: TestClient, world: World) -> tuple[int, str]:
    response = submit(client, world)
    assert response.status_code == 201, response.text
    return response.json()["ticket"]["id"], response.json()["reporter_key"]


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# --- the table (pure) ---------------------------------------------------------------------------------------------

def test_the_tier_is_decided_by_the_resolving_row_and_who_takes_it() -> None:
    assert tier_after(Action.answer, frozenset({Party.agent}), Status.resolved, None) == Tier.remote
    assert tier_after(Action.answer, frozenset({Party.service_center}), Status.resolved, None) == Tier.remote
    assert tier_after(Action.complete, frozenset({Party.assigned_engineer}), Status.resolved, None) == Tier.on_site
    assert tier_after(Action.precheck, frozenset({Party.assigned_engineer}), Status.resolved, None) == Tier.on_site
    assert tier_after(Action.precheck, frozenset({Party.service_center}), Status.resolved, None) == Tier.remote
    assert tier_after(Action.self_serve, frozenset({Party.reporter}), Status.closed, None) == Tier.basic
    # closing a solved case keeps its tier; reopening clears it until it is solved again
    assert tier_after(Action.confirm, frozenset({Party.reporter}), Status.closed, Tier.remote) == Tier.remote
    assert tier_after(Action.auto_close, frozenset({Party.system}), Status.closed, Tier.on_site) == Tier.on_site
    assert tier_after(Action.reopen, frozenset({Party.reporter}), Status.reopened, Tier.remote) is None
    assert tier_after(Action.note, frozenset({Party.agent}), Status.resolved, Tier.remote) == Tier.remote


def test_self_serve_closes_an_open_unworked_ticket_for_the_reporter_and_the_desk_only() -> None:
    sources = {Status.submitted, Status.escalated, Status.reopened}
    for status in Status:
        for party in Party:
            allowed = Action.self_serve in allowed_actions(status, frozenset({party}))
            assert allowed == (status in sources and party in {Party.reporter, Party.agent, Party.admin}), (
                status, party)
    assert next_status(Status.escalated, Action.self_serve, frozenset({Party.reporter})) == Status.closed
    # the system may hand a bot conversation to the centre, but only a new or reopened ticket
    assert next_status(Status.submitted, Action.escalate, frozenset({Party.system})) == Status.escalated
    assert Action.escalate not in allowed_actions(Status.dispatched, frozenset({Party.system}))
    assert OPEN - sources  # dispatched, accepted, on site: an engineer is on it, so it is no longer self-service


# --- the paths through the API (SQLite and PostgreSQL) --------------------------------------------------------------

def test_a_remote_answer_is_remote_and_the_tier_survives_the_close(client: TestClient, world: World) -> None:
    ticket_id, key = _opened(client, world)
    assert _ok(client.get(f"/api/v1/tickets/{ticket_id}", headers=world.headers("agent")))["tier"] is None
    answered = _ok(act(client, ticket_id, world.headers("agent"), "answer", text="请重启温控模块",
                       fault_category="temperature_control"))
    assert (answered["status"], answered["tier"]) == ("resolved", "remote")
    closed = _ok(act(client, ticket_id, reporter(key), "confirm"))
    assert (closed["status"], closed["tier"]) == ("closed", "remote")
    remote = next(e for e in closed["timeline"] if e["action"] == "answer")
    assert remote["details"]["tier"] == "remote"


def test_an_engineers_repair_is_on_site_and_a_reopened_case_is_solved_again(client: TestClient, world: World) -> None:
    ticket_id, key = _opened(client, world)
    engineer = world.headers("engineer")
    _ok(act(client, ticket_id, world.headers("agent"), "answer", text="远程答复", fault_category="other"))
    reopened = _ok(act(client, ticket_id, reporter(key), "reopen", reason="还是报警"))
    assert (reopened["status"], reopened["tier"]) == ("reopened", None)
    _ok(act(client, ticket_id, world.headers("center"), "dispatch", engineer_id=world.users["engineer"]))
    for action in ("accept", "arrive"):
        _ok(act(client, ticket_id, engineer, action))
    done = _ok(act(client, ticket_id, engineer, "complete", findings="更换反应盘温控传感器",
                    fault_category="temperature_control"))
    assert (done["status"], done["tier"]) == ("resolved", "on_site")
    listed = _ok(client.get("/api/v1/tickets?tier=on_site", headers=world.headers("agent")))
    assert [t["id"] for t in listed["items"]] == [ticket_id]
    assert _ok(client.get("/api/v1/tickets?tier=remote&tier=basic", headers=world.headers("agent")))["total"] == 0


def test_self_served_by_the_reporter_closes_as_basic_and_counts(client: TestClient, world: World) -> None:
    ticket_id, key = _opened(client, world)
    assert "self_serve" in _ok(client.get(f"/api/v1/tickets/{ticket_id}", headers=reporter(key)))["allowed_actions"]
    refused = act(client, ticket_id, world.headers("engineer"), "self_serve")
    assert refused.status_code == 409 and "self_serve" not in refused.json()["allowed_actions"]
    closed = _ok(act(client, ticket_id, reporter(key), "self_serve"))
    assert (closed["status"], closed["tier"]) == ("closed", "basic")
    assert closed["closed_at"] and closed["resolved_at"]
    assert closed["allowed_actions"] == ["rate"]
    assert [e["action"] for e in closed["timeline"]] == ["submit", "self_serve"]
    again = act(client, ticket_id, reporter(key), "self_serve")
    assert again.status_code == 409 and again.json()["allowed_actions"] == ["rate"]
    other_id, _ = _opened(client, world)
    _ok(act(client, other_id, world.headers("agent"), "answer", text="远程答复", fault_category="other"))
    counts = _ok(client.get("/api/v1/tickets/tiers", headers=world.headers("admin")))
    assert counts == {"basic": 1, "remote": 1, "on_site": 0, "total": 2, "self_served_rate": 0.5}
    assert _ok(client.get("/api/v1/tickets/tiers", headers=world.headers("lab_b")))["total"] == 0  # other hospital
    assert [t["id"] for t in _ok(client.get("/api/v1/tickets?tier=basic", headers=world.headers("lab_a")))["items"]] \
        == [ticket_id]


def test_self_serve_is_refused_once_an_engineer_is_on_it(client: TestClient, world: World) -> None:
    ticket_id, key = _opened(client, world)
    _ok(act(client, ticket_id, world.headers("agent"), "dispatch", engineer_id=world.users["engineer"]))
    refused = act(client, ticket_id, reporter(key), "self_serve")
    assert refused.status_code == 409
    assert refused.json()["allowed_actions"] == ["cancel", "add_info"]
    desk = act(client, ticket_id, world.headers("agent"), "self_serve")
    assert desk.status_code == 409


def test_the_desk_may_close_an_escalated_ticket_as_self_served(client: TestClient, world: World) -> None:
    ticket_id, _ = _opened(client, world)
    _ok(act(client, ticket_id, world.headers("agent"), "escalate"))
    closed = _ok(act(client, ticket_id, world.headers("agent"), "self_serve", text="用户按知识库操作后已恢复"))
    assert (closed["status"], closed["tier"]) == ("closed", "basic")
    # a verified lab user of the hospital who did not report it only looks
    assert act(client, ticket_id, world.headers("lab_a"), "self_serve").status_code == 409


@pytest.mark.parametrize(("who", "tier"), [("engineer", Tier.on_site), ("center", Tier.remote)])
def test_a_finished_precheck_is_on_site_for_the_engineer_and_remote_for_the_centre(
        db: Session, world: World, settings: Settings, who: str, tier: Tier) -> None:
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    alert = predictive.open_alert(db, device_id=world.devices_a[0], metric="temp_c", started_at=at, at=at, score=0.8,
                              settings=settings)
    db.commit()
    viewer = Viewer(user=_user(db, world, who))
    ticket, task = precheck.get(db, ticket_id=alert.ticket_id, viewer=viewer, settings=settings)  # type: ignore[arg-type]
    for item in task.items:
        precheck.answer_item(db, ticket=ticket, task=task, item_id=item.id, answer=PrecheckAnswer.done,
                             viewer=viewer, settings=settings)
    precheck.finish(db, ticket=ticket, task=task, outcome=PrecheckOutcome.fixed, note="清洁风扇滤网后恢复",
                    viewer=viewer, settings=settings)
    db.commit()
    db.refresh(ticket)
    assert (ticket.status, ticket.tier) == (Status.resolved, tier)


# --- escalation with the bot conversation ---------------------------------------------------------------------------

def test_a_bot_handover_puts_the_ticket_with_the_centre_with_its_conversation(
        client: TestClient, db: Session, world: World, settings: Settings) -> None:
    ticket = _escalate(db, world, settings)
    assert (ticket.status, ticket.reporter_user_id, ticket.tier) == (Status.escalated, world.users["lab_a"], None)
    assert ticket.first_responded_at is None  # the reporter still waits for a person
    seen = _ok(client.get(f"/api/v1/tickets/{ticket.id}", headers=world.headers("center")))
    assert seen["description"] == "反应盘温度报警，机器人没解决"
    assert [(t["who"], t["text"]) for t in seen["conversation"]] == [(t["who"], t["text"]) for t in CHAT]
    assert seen["conversation"][1]["entry_id"] == "kb-temp-01" and seen["ask_ids"] == [11, 12]
    assert [e["action"] for e in seen["timeline"]] == ["submit", "escalate"]
    handover = seen["timeline"][1]
    assert (handover["actor"], handover["status"]) == ("system", "escalated")
    assert handover["details"] == {"via": "bot", "conversation": 3, "ask_ids": [11, 12]}
    assert {"answer", "dispatch", "note"} <= set(seen["allowed_actions"])
    queue = _ok(client.get("/api/v1/tickets?status=escalated", headers=world.headers("center")))
    assert [t["id"] for t in queue["items"]] == [ticket.id] and queue["items"][0]["conversation"]
    # the reporter sees it too, and may still say it solved itself
    mine = _ok(client.get(f"/api/v1/tickets/{ticket.id}", headers=world.headers("lab_a")))
    assert mine["conversation"] and "self_serve" in mine["allowed_actions"]
    # the centre resolves it remotely
    answered = _ok(act(client, ticket.id, world.headers("center"), "answer", text="已远程调整温控参数",
                       fault_category="temperature_control"))
    assert (answered["status"], answered["tier"]) == ("resolved", "remote")


def test_the_centre_may_dispatch_a_handed_over_case_on_site(
        client: TestClient, db: Session, world: World, settings: Settings) -> None:
    ticket = _escalate(db, world, settings)
    engineer = world.headers("engineer")
    _ok(act(client, ticket.id, world.headers("center"), "dispatch", engineer_id=world.users["engineer"]))
    seen = _ok(client.get(f"/api/v1/tickets/{ticket.id}", headers=engineer))
    assert seen["conversation"][0]["text"] == CHAT[0]["text"]  # the engineer reads what was tried
    for action in ("accept", "arrive"):
        _ok(act(client, ticket.id, engineer, action))
    done = _ok(act(client, ticket.id, engineer, "complete", findings="更换温控板",
                    fault_category="temperature_control"))
    assert done["tier"] == "on_site"


def test_a_second_not_solved_on_the_same_asks_answers_the_same_ticket(
        db: Session, world: World, settings: Settings) -> None:
    first = _escalate(db, world, settings)
    again = _escalate(db, world, settings, ask_ids=[12, 11])
    assert again.id == first.id
    other = _escalate(db, world, settings, ask_ids=[13])
    assert other.id != first.id
    assert db.execute(select(Ticket).where(Ticket.status == Status.escalated)).scalars().all().__len__() == 2


@pytest.mark.parametrize("bad", [
    {"conversation": []},
    {"conversation": [{"who": "robot", "text": "?", "at": "2026-12-02T08:00:00Z"}]},
    {"conversation": [{"who": "user", "text": "", "at": "2026-12-02T08:00:00Z"}]},
    {"conversation": [{"who": "user", "text": "x", "at": "not a time"}]},
    {"text": "   ", "conversation": [{"who": "bot", "text": "您好", "at": "2026-12-02T08:00:00Z"}]},
    {"text": "x" * 5001},
    {"attachments": [{"id": 1, "key": "short"}]},
])
def test_a_broken_handover_is_refused_and_nothing_is_saved(
        db: Session, world: World, settings: Settings, bad: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        _escalate(db, world, settings, **bad)
    db.rollback()
    assert db.execute(select(Ticket)).scalars().all() == []


def test_a_handover_for_another_hospitals_device_is_not_found(db: Session, world: World, settings: Settings) -> None:
    with pytest.raises(NotFound):
        _escalate(db, world, settings, device_id=world.devices_b[0])
    db.rollback()
    assert db.execute(select(Ticket)).scalars().all() == []


def test_the_text_defaults_to_the_users_last_message(db: Session, world: World, settings: Settings) -> None:
    assert _escalate(db, world, settings, text="").description == "试过了，还是报警"


# --- pages, texts, the one writer, the migration --------------------------------------------------------------------

def test_the_console_offers_the_centre_its_choice_in_chinese(
        client: TestClient, db: Session, world: World, settings: Settings) -> None:
    _escalate(db, world, settings)
    page = client.get("/console", headers=world.headers("center"))
    assert page.status_code == 200, page.text
    for text in ("远程解决", "派工程师", "机器人对话记录", "设备运行曲线", "自助解决"):
        assert json.dumps(text)[1:-1] in page.text  # the page carries its scripts' texts as escaped JSON
    script = (ROOT / "cloud/web/static/js/console_detail.js").read_text()
    assert "/devices/${ticket.device_id}/chart" in script and "conversationHtml(ticket)" in script


def test_every_text_the_tier_ui_shows_is_declared_and_translated() -> None:
    script = (ROOT / "cloud/web/static/js/console_detail.js").read_text()
    used = set(re.findall(r'"(Resolve remotely|Dispatch an engineer|Remote answer to the reporter|Note \(optional\)|'
                          r'Bot conversation|Device chart|KB entry)"', script))
    used |= {f"tier.{t.value}" for t in Tier} | {f"conversation.{w}" for w in ("user", "bot", "agent")}
    used |= {"self_serve", "action.self_serve", "Tier"}
    assert len(used) >= 16
    assert used - set(JS_TEXTS) == set()
    zh = CATALOG["zh-CN"]
    assert {key for key in used if key not in zh or zh[key] == key} == set()
    assert zh["action.self_serve"] == "自助解决" and zh["self_serve"] == "已自助解决"
    assert zh["action.escalate"] == "转远程服务中心"


def test_the_reporters_page_offers_self_service_in_chinese(client: TestClient, world: World) -> None:
    ticket_id, key = _opened(client, world)
    number = _ok(client.get(f"/api/v1/tickets/{ticket_id}", headers=reporter(key)))["number"]
    page = client.get(f"/t/{number}?k={key}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "已自助解决" in page.text and "self_serve" in page.text
    _ok(act(client, ticket_id, reporter(key), "self_serve"))
    page = client.get(f"/t/{number}?k={key}", headers={"Accept-Language": "zh-CN"})
    assert "服务层级" in page.text and "自助解决" in page.text


def test_the_state_table_stays_the_only_writer_of_status_and_tier() -> None:
    """No module but tickets/service.py assigns a ticket's status or tier (or bulk-updates them)."""
    assign = re.compile(r"\b\w*ticket\w*\.(status|tier)\s*=(?!=)", re.IGNORECASE)
    bulk = re.compile(r"update\(\s*Ticket\b[^)]*\)[\s\S]{0,200}?\.values\([^)]*\b(status|tier)\s*=")
    writers = {}
    for path in (ROOT / "cloud").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        found = [m.group(0) for m in assign.finditer(text)] + [m.group(0) for m in bulk.finditer(text)]
        if found:
            writers[str(path.relative_to(ROOT))] = found
    assert set(writers) == {"cloud/tickets/service.py"}, writers
    service_text = (ROOT / "cloud/tickets/service.py").read_text()
    assert service_text.count("ticket.status = ") == 1 and service_text.count("ticket.tier = ") == 1
    body = service_text.split("def apply_action(")[1].split("\ndef ")[0]
    assert "ticket.status = target" in body and "ticket.tier = tier_after(" in body


def test_migration_0014_matches_the_models_and_is_reversible(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0014")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Only what 0014 adds: later revisions add other ticket columns the model already has.
    ticket = [d for d in diffs if "ix_ticket_tier" in repr(d) or ("'ticket'" in repr(d) and any(
        f"'{c}'" in repr(d) for c in ("tier", "conversation", "ask_ids")))]
    assert ticket == []
    columns = {c["name"] for c in inspect(engine).get_columns("ticket")}
    assert {"tier", "conversation", "ask_ids"} <= columns
    downgrade(engine, "0011")
    assert not {"tier", "conversation", "ask_ids"} & {c["name"] for c in inspect(engine).get_columns("ticket")}
    upgrade(engine, "0014")
    engine.dispose()


def test_migration_0014_gives_old_solved_tickets_the_tier_their_history_shows(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0011")
    now = "2026-11-01 08:00:00"
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO hospital (id, name, aliases, address, geofence_radius_m, created_at, "
                             f"updated_at) VALUES (1, 'h', '[]', '', 500, '{now}', '{now}')")
        for number, status in enumerate(["closed", "resolved", "resolved", "submitted", "cancelled"], start=1):
            conn.exec_driver_sql(
                "INSERT INTO ticket (id, number, hospital_id, source, status, urgency, priority, description, "
                "reporter_name, reporter_phone, escalation_level, first_response_due_at, resolution_due_at, "
                f"created_at, updated_at, version, engineer_id) VALUES ({number}, 'WO-{number}', 1, 'web', "
                f"'{status}', 'normal', 3, 'x', '', '', 0, '{now}', '{now}', '{now}', '{now}', 1, NULL)")
        for ticket_id, action in [(1, "complete"), (1, "confirm"), (2, "answer"), (3, "precheck"), (4, "note")]:
            conn.exec_driver_sql("INSERT INTO audit_log (at, actor_label, action, entity, entity_id) "
                                 f"VALUES ('{now}', 'x', '{action}', 'ticket', {ticket_id})")
    upgrade(engine, "0014")
    with engine.connect() as conn:
        tiers = dict(conn.exec_driver_sql("SELECT id, tier FROM ticket ORDER BY id").all())
    # 3: a pre-check finished by someone who was not its engineer (here: none assigned) was remote
    assert tiers == {1: "on_site", 2: "remote", 3: "remote", 4: None, 5: None}
    engine.dispose()
