"""Migration 0013 creates the service group tables exactly as the models describe them, and is reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models

TABLES = {"service_group", "service_group_member", "service_group_message", "service_group_request"}


def test_migration_0013_matches_the_models_and_is_reversible(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0013")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diffs if "service_group" in repr(d)]
    assert ours == []
    downgrade(engine, "0011")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine, "0013")
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()
