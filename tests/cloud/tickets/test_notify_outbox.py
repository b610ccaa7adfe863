"""Notification work leaves the request: the outbox runs it after commit, in the background, and loses nothing.

These tests run the app as production does (notify_inline off), unlike the rest of the suite.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cloud.config import Settings
from cloud.db import utcnow
from cloud.main import create_app
from cloud.notify.channels import Outgoing, RecordingChannel, Result
from cloud.notify.models import Notification, OutboxEvent
from cloud.notify.outbox import Outbox
from tests.cloud.tickets.helpers import submit
from tests.cloud.world import World
from tests.conftest import need, port_open


class GatedChannel(RecordingChannel):
    """A channel that holds every delivery until the test opens the gate (at most 30 s, so nothing hangs)."""

    def __init__(self) -> None:
        super().__init__(name="gated")
        self.gate = threading.Event()
        self.reached = threading.Event()

    def send(self, message: Outgoing) -> Result:
        self.reached.set()
        self.gate.wait(30)
        return super().send(message)


@pytest.fixture
def background(settings: Settings) -> Settings:
    """The suite's settings with the outbox worker on, as in production."""
    return settings.model_copy(update={"notify_inline": False})


@pytest.fixture
def gated() -> GatedChannel:
    return GatedChannel()


@pytest.fixture
def app(background: Settings, gated: GatedChannel):  # noqa: ANN201
    """The app with the gated channel, notifications in the background."""
    return create_app(background, channels=[gated])


def _outbox(client: TestClient) -> Outbox:
    outbox = client.app.state.outbox  # type: ignore[attr-defined]
    assert isinstance(outbox, Outbox)
    return outbox


def _ticket_messages(ws: Any) -> Iterator[dict[str, Any]]:  # noqa: ANN401
    while True:
        message = ws.receive_json()
        if message.get("type") == "ticket":
            yield message


def test_the_submit_answers_and_the_console_hears_before_the_notifications_are_done(
        client: TestClient, world: World, gated: GatedChannel, db: Session) -> None:
    with client.websocket_connect("/ws/console", headers=world.headers("agent")) as ws:
        assert ws.receive_json()["type"] == "hello"
        response = submit(client, world, headers=world.headers("lab_a"))
        assert response.status_code == 201  # answered while the notification work is still held at the gate
        number = response.json()["ticket"]["number"]
        assert next(_ticket_messages(ws))["number"] == number
        assert gated.sent == []
        assert gated.reached.wait(30)  # the worker is in the middle of it, not done
        gated.gate.set()
        assert _outbox(client).wait_idle()
    told = {(m.user_id, m.kind) for m in gated.sent}
    assert (world.users["lab_a"], "ticket.submitted") in told
    assert db.execute(select(func.count()).select_from(OutboxEvent)).scalar_one() == 0  # done rows are gone


def test_a_failing_notification_run_is_kept_and_retried(
        client: TestClient, world: World, gated: GatedChannel, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    gated.gate.set()
    import cloud.tickets.flows as flows

    real = flows.notify_many
    outage = {"left": 1}

    def flaky(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        if outage["left"]:
            outage["left"] -= 1
            raise ConnectionError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(flows, "notify_many", flaky)
    ticket = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]
    assert _outbox(client).wait_idle()
    [row] = db.execute(select(OutboxEvent)).scalars().all()
    assert (row.name, row.data["ticket_id"], row.attempts) == ("ticket.submitted", ticket["id"], 1)
    assert row.last_error is not None and "database went away" in row.last_error
    assert row.claimed_until is None and row.due_at > utcnow()  # waits for its retry
    assert db.execute(select(Notification).where(Notification.ticket_id == ticket["id"])).first() is None

    db.execute(update(OutboxEvent).values(due_at=utcnow() - timedelta(seconds=1)))  # the retry's time has come
    db.commit()
    assert _outbox(client).recover() == 1
    db.expire_all()
    assert db.execute(select(func.count()).select_from(OutboxEvent)).scalar_one() == 0
    told = db.execute(select(Notification.user_id).where(Notification.ticket_id == ticket["id"],
                                                         Notification.kind == "ticket.submitted")).scalars().all()
    assert world.users["lab_a"] in told
    assert [m.user_id for m in gated.sent].count(world.users["lab_a"]) == 1


def test_notifications_stored_but_never_sent_are_sent_by_the_retry(
        client: TestClient, world: World, gated: GatedChannel, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    gated.gate.set()
    import cloud.notify.service as notify_service

    real = notify_service._send
    outage = {"left": 1}

    def dies_before_sending(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        if outage["left"]:
            outage["left"] -= 1
            raise ConnectionError("the connection dropped after the rows were committed")
        return real(*args, **kwargs)

    monkeypatch.setattr(notify_service, "_send", dies_before_sending)
    ticket = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]
    assert _outbox(client).wait_idle()
    stored = db.execute(select(Notification).where(Notification.ticket_id == ticket["id"])).scalars().all()
    assert stored and gated.sent == []  # told in the database, not yet through the channels

    db.execute(update(OutboxEvent).values(due_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    assert _outbox(client).recover() == 1
    assert sorted(m.notification_id for m in gated.sent) == sorted(n.id for n in stored)  # each once


def test_work_left_by_a_process_that_died_after_commit_is_done_once(
        client: TestClient, world: World, gated: GatedChannel, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    gated.gate.set()
    outbox = _outbox(client)
    # The process "dies" right after the commit: the rows are committed, nobody was told to work them off.
    monkeypatch.setattr(outbox, "committed", lambda handles: None)
    ticket = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]
    monkeypatch.undo()
    assert db.execute(select(func.count()).select_from(OutboxEvent)).scalar_one() == 1
    assert outbox.recover() == 0  # not before the committing process's lease is over
    db.execute(update(OutboxEvent).values(due_at=utcnow() - timedelta(seconds=1)))
    db.commit()

    assert outbox.recover() == 1
    assert outbox.recover() == 0
    told = db.execute(select(Notification.user_id).where(Notification.ticket_id == ticket["id"])).scalars().all()
    assert told.count(world.users["lab_a"]) == 1
    assert [m.user_id for m in gated.sent].count(world.users["lab_a"]) == 1


@pytest.mark.parametrize("cut_at", ["claim", "settle"])
def test_with_the_database_away_the_worker_tries_again_in_seconds_not_after_the_lease(
        client: TestClient, world: World, gated: GatedChannel, db: Session, monkeypatch: pytest.MonkeyPatch,
        cut_at: str) -> None:
    """A PostgreSQL restart cuts the worker's claim, or its settling after the handlers ran (the row then stays
    claimed by this process): either way everyone is told once within seconds, not after the 60-s lease."""
    gated.gate.set()
    outbox = _outbox(client)
    real = outbox.sessions
    opened = {"n": 0}
    cut = 1 if cut_at == "claim" else 2  # each work() opens a session to claim, then one to settle

    def sessions() -> Session:
        opened["n"] += 1
        session = real()
        if opened["n"] == cut:
            def away(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
                raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
            monkeypatch.setattr(session, "commit", away)
        return session

    monkeypatch.setattr(outbox, "sessions", sessions)
    ticket = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]
    started = time.monotonic()
    assert outbox.wait_idle(timeout=15)
    assert time.monotonic() - started < 15 < outbox.lease.total_seconds()
    assert opened["n"] >= 3  # the cut try, then the worker's own second try
    assert db.execute(select(func.count()).select_from(OutboxEvent)).scalar_one() == 0  # nothing left for later
    told = db.execute(select(Notification.user_id).where(Notification.ticket_id == ticket["id"],
                                                         Notification.kind == "ticket.submitted")).scalars().all()
    assert told.count(world.users["lab_a"]) == 1
    assert [m.user_id for m in gated.sent].count(world.users["lab_a"]) == 1


def test_running_the_notifications_of_an_event_twice_tells_nobody_twice(
        client: TestClient, world: World, gated: GatedChannel, db: Session) -> None:
    gated.gate.set()
    outbox = _outbox(client)
    seen: list[Any] = []
    outbox.bus.subscribe("ticket.submitted", seen.append)
    submit(client, world, headers=world.headers("lab_a"))
    assert outbox.wait_idle()
    sent = len(gated.sent)
    assert sent >= 1
    outbox.bus.run_durable(seen[0])  # as after a crash between the handlers and the row's deletion
    assert len(gated.sent) == sent
    assert db.execute(select(func.count()).select_from(Notification)).scalar_one() == sent


def test_an_event_whose_transaction_rolls_back_leaves_no_work(client: TestClient, world: World, db: Session) -> None:
    from cloud.events import emit

    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        emit(session, "ticket.submitted", ticket_id=1, number="WO-X")
        session.flush()
        session.rollback()
    assert db.execute(select(func.count()).select_from(OutboxEvent)).scalar_one() == 0


def test_both_workers_consoles_hear_each_ticket_once(background: Settings, world: World) -> None:
    need(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    settings = background.model_copy(update={"redis_url": "redis://127.0.0.1:6379/13"})
    quiet = [RecordingChannel(), RecordingChannel()]
    with TestClient(create_app(settings, channels=[quiet[0]])) as one, \
            TestClient(create_app(settings, channels=[quiet[1]])) as two:
        agent = world.headers("agent")
        with one.websocket_connect("/ws/console", headers=agent) as first, \
                two.websocket_connect("/ws/console", headers=agent) as second:
            assert first.receive_json()["type"] == second.receive_json()["type"] == "hello"
            number = submit(one, world, headers=world.headers("lab_a")).json()["ticket"]["number"]
            # The pushes of one channel arrive in order: once the next ticket's is there, a copy would have been too.
            sentinel = submit(two, world, headers=world.headers("lab_a")).json()["ticket"]["number"]
            for ws in (first, second):
                heard = []
                for message in _ticket_messages(ws):
                    heard.append(message["number"])
                    if message["number"] == sentinel:
                        break
                assert heard.count(number) == 1 and heard.count(sentinel) == 1
        assert _outbox(one).wait_idle() and _outbox(two).wait_idle()
