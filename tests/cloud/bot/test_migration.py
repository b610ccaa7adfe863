"""Migration 0016: creates bot_state as the model describes it; reversible."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models


def test_migration_0016_matches_the_model_and_is_reversible(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0016")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "bot_state" in repr(d)] == []
    downgrade(engine, "0011")
    assert "bot_state" not in inspect(engine).get_table_names()
    upgrade(engine, "0016")
    assert "bot_state" in inspect(engine).get_table_names()
    engine.dispose()
