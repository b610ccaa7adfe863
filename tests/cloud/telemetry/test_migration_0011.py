"""Migration 0011: readings keyed by (gateway, instant, device key, metric); it matches the models and reverses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from cloud.db import Base
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models
from protocols.telemetry import reading_idempotency_key


def test_migration_0011_matches_the_models_and_round_trips_stored_readings(app) -> None:  # noqa: ANN001
    engine = app.state.engine
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "'reading'" in repr(d) or "reading." in repr(d)] == []
    unique = {tuple(u["column_names"]) for u in inspect(engine).get_unique_constraints("reading")}
    assert ("gateway_id", "observed_at", "device_key", "metric") in unique
    assert "idempotency_key" not in {c["name"] for c in inspect(engine).get_columns("reading")}

    at = datetime(2026, 2, 1, 8, 30, 0, 250, tzinfo=UTC)
    with engine.begin() as conn:
        gateway = conn.execute(text("SELECT min(id) FROM gateway")).scalar()
        if gateway is None:
            hospital = conn.execute(text("SELECT min(id) FROM hospital")).scalar_one()
            conn.execute(text("INSERT INTO gateway (name, hospital_id, token_hash, token_rotated_at, created_at, "
                              "status) VALUES ('gw-m', :h, 'x', :t, :t, 'unknown')"), {"h": hospital, "t": at})
            gateway = conn.execute(text("SELECT min(id) FROM gateway")).scalar_one()
        for i in range(3):
            conn.execute(text("INSERT INTO reading (gateway_id, device_key, metric, observed_at, value_num, quality) "
                              "VALUES (:g, 'c702', 'temp_c', :t, :v, 'good')"),
                         {"g": gateway, "t": at + timedelta(seconds=i), "v": float(i)})
    downgrade(engine, "0010")
    with engine.connect() as conn:
        keys = [k for (k,) in conn.execute(text("SELECT idempotency_key FROM reading ORDER BY observed_at"))]
    assert keys == [reading_idempotency_key("c702", "temp_c", at + timedelta(seconds=i)) for i in range(3)]
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reading")).scalar_one() == 3
