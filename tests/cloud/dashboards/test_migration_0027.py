"""Migrations 0027 (dashboard grains) and 0029: the device rollup and its indexes as the models describe them, a
rebuild of the rollups on the next refresh (for the new grains), and reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models

TABLES = ("dash_rollup", "dash_engineer_rollup", "dash_fault_rollup", "dash_exposure")


def _indexes(engine: object, table: str) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes(table)}


def test_migration_0027_matches_the_models_rebuilds_and_is_reversible(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0026")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO dash_rollup_state (id, watermark, refreshed_at) "
                          "VALUES (1, '2026-12-01 00:00:00', '2026-12-01 00:00:00')"))
    upgrade(engine, "0027")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM dash_rollup_state")).scalar_one() == 0
    assert "ix_dash_device_rollup_grain_hospital_id_month" in _indexes(engine, "dash_device_rollup")
    for table in TABLES:
        assert f"ix_{table}_grain_model_month" in _indexes(engine, table)
    # 0029 adds the device rollup's index by device (one page of a device breakdown); then tables = models.
    upgrade(engine, "0029")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if any(t in repr(d) for t in (*TABLES, "dash_device_rollup"))] == []
    assert "ix_dash_device_rollup_grain_device_id_month" in _indexes(engine, "dash_device_rollup")
    downgrade(engine, "0028")
    assert "ix_dash_device_rollup_grain_device_id_month" not in _indexes(engine, "dash_device_rollup")
    downgrade(engine, "0026")
    assert "dash_device_rollup" not in inspect(engine).get_table_names()
    for table in TABLES:
        assert f"ix_{table}_grain_model_month" not in _indexes(engine, table)
    engine.dispose()
