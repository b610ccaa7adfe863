"""Migration 0006a: creates the alert tables as the models describe them; reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models

TABLES = {"alert", "alert_policy", "maintenance_window", "detector_state"}
ADDED_LATER = ("alert_digest", "'explanation'", "'alert_notice'",  # migration 0031
               "'learning_hours'")  # migration 0032


def test_migration_0006a_matches_the_models_and_is_reversible(tmp_path) -> None:  # noqa: ANN001
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0006a")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diffs if any(t in repr(d) for t in TABLES)  # 'alert' covers alert_policy too
            and not any(later in repr(d) for later in ADDED_LATER)]
    assert ours == []
    indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("alert")}
    assert indexes["uq_alert_unresolved_stream"]["unique"]
    downgrade(engine, "0005")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine, "0006a")
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()
