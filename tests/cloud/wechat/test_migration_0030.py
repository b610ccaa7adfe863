"""Migration 0030: the state of WeChat media and uploads as the models describe them; existing rows are ready."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models


def test_migration_0030_matches_the_models_keeps_rows_ready_and_is_reversible(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0029")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO ticket_attachment (kind, path, content_type, size, sha256, upload_key_hash, "
                          "created_at) VALUES ('voice', 'uploads/ab/ab.mp3', 'audio/mpeg', 3, 'ab', 'k', "
                          "'2026-12-01 00:00:00')"))
        conn.execute(text("INSERT INTO wechat_media (media_id, kind, attachment_id, original_path, original_type, "
                          "created_at) VALUES ('m1', 'voice', 1, 'uploads/ab/ab.amr', 'audio/amr', "
                          "'2026-12-01 00:00:00')"))
    upgrade(engine, "0030")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diffs if "wechat_media" in repr(d) or "ticket_attachment" in repr(d)] == []
        assert conn.execute(text("SELECT state FROM ticket_attachment")).scalar_one() == "ready"
        assert conn.execute(text("SELECT state, attempts FROM wechat_media")).one() == ("ready", 0)
    downgrade(engine, "0029")
    assert "state" not in {c["name"] for c in inspect(engine).get_columns("wechat_media")}
    upgrade(engine, "0030")
    assert "state" in {c["name"] for c in inspect(engine).get_columns("ticket_attachment")}
    engine.dispose()
