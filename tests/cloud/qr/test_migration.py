"""Migration 0003: creates qr_code as the models describe it, with the partial unique index; reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models


def test_migration_0003_matches_the_models_and_is_reversible(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0003")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diffs if "qr_code" in repr(d)]
    assert ours == []
    indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("qr_code")}
    assert indexes["uq_qr_code_active_target"]["unique"]
    downgrade(engine, "0002")
    assert "qr_code" not in inspect(engine).get_table_names()
    upgrade(engine, "0003")
    assert "qr_code" in inspect(engine).get_table_names()
    engine.dispose()
