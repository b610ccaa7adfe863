"""Migration 0015: creates device_photo as the model describes it; reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models


def test_migration_0015_matches_the_model_and_is_reversible(tmp_path) -> None:  # noqa: ANN001
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0015")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "device_photo" in repr(d)] == []
    downgrade(engine, "0011")
    assert "device_photo" not in inspect(engine).get_table_names()
    upgrade(engine, "0015")
    assert "device_photo" in inspect(engine).get_table_names()
    engine.dispose()
