"""Health endpoints and the migration chain."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from cloud.config import Settings
from cloud.db import make_engine
from cloud.main import create_app
from cloud.migrate import downgrade, upgrade


def test_healthz_answers_while_process_is_up(client: TestClient) -> None:
    assert client.get("/healthz").text == "ok"


def test_readyz_reports_database_reachable(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_readyz_is_503_when_database_is_unreachable(tmp_path) -> None:
    settings = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", data_dir=tmp_path,
                        _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_migrations_upgrade_downgrade_and_upgrade_again(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    assert {"device", "device_group", "hospital", "user_account", "audit_log"} <= set(inspect(engine).get_table_names())
    downgrade(engine, "base")
    assert "device" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "device" in inspect(engine).get_table_names()
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("a SQLite setting")
    with app.state.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_openapi_documents_the_registry(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/devices", "/api/v1/groups/{group_id}/order", "/api/v1/groups/{group_id}/split",
                 "/api/v1/groups/{group_id}/merge", "/api/v1/devices/import", "/api/v1/auth/token"):
        assert path in paths


def test_the_migration_history_has_one_head() -> None:
    from alembic.script import ScriptDirectory

    from cloud.migrate import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1  # parallel branches are merged
