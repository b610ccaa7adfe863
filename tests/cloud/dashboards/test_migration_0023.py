"""Migration 0023 (dashboards): the rollup tables and indexes as the models describe them; reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models

TABLES = {"dash_rollup", "dash_engineer_rollup", "dash_fault_rollup", "dash_exposure", "dash_device_dims",
          "dash_rollup_state"}
INDEXES = {"ticket": {"ix_ticket_updated_at", "ix_ticket_hospital_id_created_at"},
           "precheck_task": {"ix_precheck_task_updated_at"}, "device": {"ix_device_updated_at"}}


def _ours(diff: object) -> bool:
    text_ = repr(diff)
    if "_grain_model_month" in text_ or "dash_device_rollup" in text_:
        return False  # added by 0027 (test_migration_0027)
    return any(t in text_ for t in TABLES) or any(i in text_ for names in INDEXES.values() for i in names)


def test_migration_0023_matches_the_models_and_is_reversible(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0023")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if _ours(d)] == []
    names = set(inspect(engine).get_table_names())
    assert names >= TABLES
    for table, indexes in INDEXES.items():
        assert indexes <= {i["name"] for i in inspect(engine).get_indexes(table)}
    downgrade(engine, "0021")
    assert not TABLES & set(inspect(engine).get_table_names())
    assert not INDEXES["ticket"] & {i["name"] for i in inspect(engine).get_indexes("ticket")}
    engine.dispose()
