"""Migration 0012 creates the knowledge-base tables exactly as the models describe them, and is reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models

TABLES = {"kb_entry", "kb_revision", "kb_attachment", "kb_manual", "kb_manual_section", "bot_ask"}


def test_migration_0012_matches_the_models_and_is_reversible(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0012")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diffs if any(t in repr(d) for t in TABLES)]
    assert ours == []
    downgrade(engine, "0011")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine, "0012")
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()
