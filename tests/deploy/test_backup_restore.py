"""deploy/cloud/postgresql/backup.sh then restore.sh into a new database: the same rows, the same protections.

The source is set up as production is (roles.sql, migrate.sh) and filled through the application role; the backup
runs as the backup unit runs it (libpq variables, the postgres role), with rotation; the restore goes into a
database that did not exist.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from cloud.audit.service import Actor, record
from cloud.db import make_engine, make_sessionmaker
from tests.cloud.world import build_world
from tests.deploy.support import DEPLOY, deployed_database, drop_database, libpq_env, run


def row_counts(url: str) -> dict[str, int]:
    """Every table's exact row count."""
    engine = create_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        counts = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                  for t in metadata.sorted_tables}
    engine.dispose()
    return counts


def test_backup_then_restore_into_a_new_database_gives_the_same_rows(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    with deployed_database() as deployed:
        engine = make_engine(deployed.app_url)
        with make_sessionmaker(engine)() as session:
            build_world(session)
            for n in range(25):
                record(session, actor=Actor.system("backup-test"), action="note", entity="deployment", entity_id=n)
            session.commit()
        engine.dispose()
        source = row_counts(deployed.owner_url)
        assert source["audit_log"] >= 25 and source["user_account"] >= 5 and source["alembic_version"] == 1

        # Three older dumps: with MEDFIX_BACKUP_KEEP=2 the new one and the newest old one stay.
        backups.mkdir()
        for stamp in ("20260101T023000Z", "20260102T023000Z", "20260103T023000Z"):
            (backups / f"{deployed.database}-{stamp}.dump").write_bytes(b"old")
        env = {**libpq_env(deployed.database), "MEDFIX_BACKUP_DIR": str(backups), "MEDFIX_BACKUP_KEEP": "2"}
        out = run([str(DEPLOY / "postgresql" / "backup.sh")], env=env)
        kept = sorted(p.name for p in backups.iterdir())
        assert len(kept) == 2 and kept[0] == f"{deployed.database}-20260103T023000Z.dump", (kept, out)
        dump = backups / kept[1]
        assert dump.stat().st_mode & 0o077 == 0, "a dump holds everything: readable by its owner only"

        target = f"{deployed.database}_restored"
        try:
            out = run([str(DEPLOY / "postgresql" / "restore.sh"), str(dump), target],
                      env={**libpq_env("postgres"), "MEDFIX_PG_OWNER_ROLE": deployed.owner,
                           "MEDFIX_PG_APP_ROLE": deployed.app})
            restored = row_counts(deployed.url(deployed.owner, target))
            assert restored == source
            printed = dict(line.rsplit(" ", 1) for line in out.splitlines() if line and not line.startswith("restored"))
            assert {k: int(v) for k, v in printed.items()} == source, "restore.sh printed other counts"

            # The restored audit log is as protected as the original: rights and triggers came along.
            app = create_engine(deployed.url(deployed.app, target))
            try:
                with app.connect() as conn:
                    assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == source["audit_log"]
                    with pytest.raises(DBAPIError) as refused:
                        conn.execute(text("DELETE FROM audit_log"))
                    assert getattr(refused.value.orig, "sqlstate", "") == "42501"  # insufficient privilege
            finally:
                app.dispose()
        finally:
            drop_database(target)
