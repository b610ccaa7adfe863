"""Cloud fixtures: every database test runs on SQLite and on PostgreSQL, each test on a fresh copy of the world."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from cloud.config import Settings
from cloud.db import make_engine, make_sessionmaker
from cloud.main import create_app
from cloud.migrate import upgrade
from tests.cloud.world import World, build_world
from tests.conftest import need, port_open

PG_ADMIN_URL = os.environ.get("MEDFIX_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


def _build_template(url: str) -> World:
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        world = build_world(session)
    engine.dispose()
    return world


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """A migrated SQLite file holding the world; tests get copies."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    world = _build_template(f"sqlite:///{path}")
    return path, world


class PgDatabases:
    """Creates PostgreSQL databases from a migrated template and drops them all at the end."""

    def __init__(self) -> None:
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.prefix = f"medfix_test_{uuid.uuid4().hex[:8]}"
        self.template = f"{self.prefix}_tpl"
        self.created: list[str] = []
        self.world: World | None = None

    def url(self, name: str) -> str:
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def build(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        self.world = _build_template(self.url(self.template))

    def fresh(self) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.created.append(name)
        return self.url(name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        for name in [*self.created, self.template]:
            self.drop(name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    """The PostgreSQL side of the suite (127.0.0.1:5432, or MEDFIX_TEST_PG_URL)."""
    need(port_open("127.0.0.1", 5432) or "127.0.0.1" not in PG_ADMIN_URL, "PostgreSQL on 127.0.0.1:5432")
    databases = PgDatabases()
    databases.build()
    yield databases
    databases.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test."""
    return str(request.param)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, World]]:
    """A fresh database holding the world, as (url, world)."""
    if backend == "sqlite":
        template, world = request.getfixturevalue("sqlite_template")
        path = tmp_path / "medfix.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}", world
        return
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    url = databases.fresh()
    assert databases.world is not None
    yield url, databases.world
    databases.drop(url.rsplit("/", 1)[1])


@pytest.fixture
def world(database: tuple[str, World]) -> World:
    """Ids and tokens of the seeded world."""
    return database[1]


@pytest.fixture
def settings(database: tuple[str, World], tmp_path: Path) -> Settings:
    """Settings pointing at the test database and a private data folder."""
    # The SLA timers run only when a test calls sweep(), so nothing changes behind a test's back; notifications
    # are done by the time a request answers (the outbox in the background: tests/cloud/tickets/test_notify_outbox.py),
    # and so is a WeChat callback's effect (the batch writer: tests/cloud/wechat/test_inbound_writer.py). Streams
    # alert from their first readings: the tests' streams are minutes long (the learning period, a day by
    # default, has its own tests in tests/cloud/alerts/test_policy.py and test_learning_period.py).
    return Settings(database_url=database[0], data_dir=tmp_path / "data", sweep_interval_s=0, retention_interval_s=0,
                    notify_inline=True, wechat_callback_inline=True, outbox_interval_s=0, token_purge_interval_s=0,
                    dashboard_refresh_interval_s=0, alert_digest_interval_s=0, alert_learning_hours=0,
                    _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def app(settings: Settings):  # noqa: ANN201 - FastAPI app
    """The cloud app on the test database."""
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # noqa: ANN001
    """An HTTP client for the app (lifespan included)."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def db(app) -> Iterator[Session]:  # noqa: ANN001
    """A session on the test database for arranging and checking state directly."""
    with app.state.sessionmaker() as session:
        yield session
