"""Migration 0017: the hospital's time zone, hotline and invite-code expiry as the model describes them; reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models

NEW = {"time_zone", "hotline", "invite_code_expires_at"}


def test_migration_0017_matches_the_model_and_is_reversible(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0011")
    with engine.begin() as conn:  # a hospital from before the migration gets the defaults
        conn.execute(text("INSERT INTO hospital (name, aliases, address, geofence_radius_m, created_at, updated_at) "
                          "VALUES ('老医院', '[]', '', 1000, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
    upgrade(engine, "0017")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert conn.execute(text("SELECT time_zone, hotline FROM hospital")).one() == ("Asia/Shanghai", "")
    ours = [d for d in diffs if "hospital" in repr(d) and any(c in repr(d) for c in NEW)]
    assert ours == []
    assert NEW <= {c["name"] for c in inspect(engine).get_columns("hospital")}
    downgrade(engine, "0011")
    assert not NEW & {c["name"] for c in inspect(engine).get_columns("hospital")}
    engine.dispose()
