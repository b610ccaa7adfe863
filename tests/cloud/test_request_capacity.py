"""A burst of requests never leaves the API waiting on itself for database connections."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import make_engine
from cloud.events import BUS_KEY, DomainEvent, EventBus, emit
from cloud.inflight import RESERVED_CONNECTIONS, InflightLimit, request_slots


def test_after_commit_handlers_run_once_the_committing_session_gave_its_connection_back(tmp_path: Path) -> None:
    # One connection in the pool: a handler that opens a session of its own only gets one if the committing
    # session no longer holds it (else it waits for the pool's timeout, and the side effect is lost).
    engine = create_engine(f"sqlite:///{tmp_path / 'one.db'}", pool_size=1, max_overflow=0, pool_timeout=2)
    bus = EventBus()
    sessions = sessionmaker(engine, expire_on_commit=False, info={BUS_KEY: bus})
    answers: list[int] = []

    def handler(_event: DomainEvent) -> None:
        with sessions() as own:
            answers.append(int(own.execute(text("SELECT 41 + 1")).scalar_one()))

    bus.subscribe("thing.", handler)
    with sessions() as session:
        session.execute(text("CREATE TABLE thing (id INTEGER PRIMARY KEY)"))
        session.execute(text("INSERT INTO thing (id) VALUES (1)"))
        emit(session, "thing.made", thing_id=1)
        session.commit()
    assert answers == [42]
    engine.dispose()


def test_no_more_requests_inside_than_the_pool_can_serve() -> None:
    inside = 0
    most = 0
    release = asyncio.Event()

    async def app(_scope: Any, _receive: Any, _send: Any) -> None:  # noqa: ANN401
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await release.wait()
        inside -= 1

    async def burst() -> None:
        gate = InflightLimit(app, limit=3)
        calls = [asyncio.create_task(gate({"type": "http", "path": "/api/v1/tickets"}, None, None))  # type: ignore[arg-type]
                 for _ in range(10)]
        static = asyncio.create_task(gate({"type": "http", "path": "/static/js/console.js"}, None, None))  # type: ignore[arg-type]
        for _ in range(5):
            await asyncio.sleep(0)
        assert inside == 4  # three requests, and the file that never waits
        release.set()
        await asyncio.gather(*calls, static)

    asyncio.run(burst())
    assert most == 4 and inside == 0


def test_the_limit_follows_the_pool(tmp_path: Path) -> None:
    postgres = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connects
    assert request_slots(postgres) == 10 + 20 - RESERVED_CONNECTIONS
    sqlite = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert 2 <= request_slots(sqlite) < 5 + 10
    postgres.dispose()
    sqlite.dispose()


def test_sessions_of_the_app_still_deliver_events_after_commit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    bus = EventBus()
    heard: list[str] = []
    bus.subscribe("", lambda event: heard.append(event.name))
    with Session(engine, info={BUS_KEY: bus}) as session:
        session.execute(text("SELECT 1"))
        emit(session, "a.rolled_back")
        session.rollback()
        with session.begin_nested():
            emit(session, "b.committed")
        assert heard == []  # a savepoint is not the commit
        session.commit()
    assert heard == ["b.committed"]
    engine.dispose()
