"""Migration 0020: device-group notes and tags as the model describes them; reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models

NEW = {"notes", "tags"}


def test_migration_0020_matches_the_model_and_is_reversible(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0018")
    with engine.begin() as conn:  # a group from before the migration gets empty notes and tags
        conn.execute(text("INSERT INTO hospital (name, aliases, address, geofence_radius_m, created_at, updated_at) "
                          "VALUES ('老医院', '[]', '', 1000, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO device_group (system_number, hospital_id, name, line, compatible_models, "
                          "created_at, updated_at) VALUES ('MG-000001', 1, '线', '', '[]', '2026-01-01 00:00:00', "
                          "'2026-01-01 00:00:00')"))
    upgrade(engine, "0020")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert conn.execute(text("SELECT notes, tags FROM device_group")).one() == ("", "[]")
    ours = [d for d in diffs if "device_group" in repr(d) and any(c in repr(d) for c in NEW)]
    assert ours == []
    downgrade(engine, "0018")
    assert not NEW & {c["name"] for c in inspect(engine).get_columns("device_group")}
    engine.dispose()
