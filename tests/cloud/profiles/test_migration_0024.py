"""Migration 0024 (the predictor's state): the table as the model describes it, on top of 0021, reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models


def test_migration_0024_matches_the_model_and_is_reversible(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0024")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "predictor_state" in repr(d)] == []
    assert {c["name"] for c in inspect(engine).get_columns("predictor_state")} == {
        "name", "state", "samples", "version", "updated_at"}
    downgrade(engine, "0021")
    assert "predictor_state" not in inspect(engine).get_table_names()
    engine.dispose()
