"""Upgrades on PostgreSQL: every migration from the first runs on a database with rows in every table, and taking the
newest one down and up again loses nothing.

The rows come from a seeder that reads the schema as it is at each revision (reflection) and puts one row into every
table that is still empty: NOT NULL columns get a value of their type (a foreign key the id of the row the table it
points at already has, a column with a CHECK of allowed words the first of them), the rest stay NULL. So each
migration meets data in every table that exists before it, including tables no test of its own seeds, and the test
needs no change when a migration is added. The SQLite side of the chain (empty) is tests/cloud/test_health.py.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

from cloud.migrate import alembic_config, downgrade, upgrade
from tests.cloud.world import build_world
from tests.deploy.support import PG_ADMIN_URL, drop_database, need_postgresql

SKIP = {"alembic_version"}


@pytest.fixture
def engine() -> Iterator[Engine]:
    """An empty database of this test on the PostgreSQL server."""
    need_postgresql()
    name = f"medfix_upg_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(name)


def revisions_in_order() -> list[str]:
    """Every revision from the first to the head, parents before children (branches and merges included)."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]


def _allowed_words(check: str, column: str) -> list[str]:
    # "((status)::text = ANY (ARRAY['open'::character varying, ...]))" or "kind IN ('a', 'b')"
    if not re.search(rf"\b{re.escape(column)}\b", check):
        return []
    return re.findall(r"'([^']*)'", check)


def _value(column: sa.Column[Any], checks: list[str], fk_value: Any) -> Any:
    if fk_value is not None:
        return fk_value
    for check in checks:
        words = _allowed_words(check, column.name)
        if words:
            return words[0]
    kind = column.type
    if isinstance(kind, sa.Enum) and kind.enums:
        return kind.enums[0]
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    if isinstance(kind, sa.Date):
        return date(2026, 1, 5)
    if isinstance(kind, sa.Interval):
        return timedelta(minutes=5)
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.Float):
        return 1.0
    if isinstance(kind, sa.Numeric):
        return Decimal("1")
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.LargeBinary):
        return b"seed"
    if isinstance(kind, sa.Uuid):
        return uuid.uuid4()
    if isinstance(kind, sa.ARRAY):
        return []
    if isinstance(kind, sa.String):
        return "seed"[: kind.length or 4]
    raise AssertionError(f"the seeder has no value for {column.table.name}.{column.name} ({kind!r})")


def seed_empty_tables(conn: Connection) -> dict[str, int]:
    """One row in every table that has none; every table's row count afterwards."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        if table.name in SKIP or conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
            continue
        checks = [str(c["sqltext"]) for c in inspector.get_check_constraints(table.name)]
        row: dict[str, Any] = {}
        for column in table.columns:
            auto = column.primary_key and isinstance(column.type, sa.Integer) and (
                column.identity is not None or column.server_default is not None or column.autoincrement is True)
            if auto or column.nullable or column.server_default is not None:
                continue
            fk_value = None
            for fk in column.foreign_keys:
                fk_value = conn.execute(sa.select(fk.column).limit(1)).scalar()
                assert fk_value is not None, f"{table.name}.{column.name} points at an empty {fk.column.table.name}"
            row[column.name] = _value(column, checks, fk_value)
        conn.execute(table.insert().values(row))
    return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables if t.name not in SKIP}


def snapshot(engine: Engine) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table's columns and rows (sorted, as text), to compare before and after."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in SKIP:
                continue
            names = sorted(c.name for c in table.columns)
            rows = conn.execute(sa.select(*[table.c[n] for n in names])).all()
            out[table.name] = (names, sorted(tuple(repr(v) for v in r) for r in rows))
    return out


def test_every_migration_runs_on_seeded_data_and_the_last_goes_down_and_up_losing_nothing(engine: Engine) -> None:
    order = revisions_in_order()
    assert order[0] == "0001" and len(order) >= 30
    counts: dict[str, int] = {}
    for revision in order:
        upgrade(engine, revision)
        with engine.begin() as conn:
            after = seed_empty_tables(conn)
        shrunk = {t: (n, after[t]) for t, n in counts.items() if t in after and after[t] < n}
        assert not shrunk, f"migration {revision} lost rows (before, after): {shrunk}"
        counts = after
    assert all(n >= 1 for n in counts.values()), counts

    # The world on top, through the services as the application writes it: realistic rows in the main tables.
    from cloud.db import make_sessionmaker
    with make_sessionmaker(engine)() as session:
        build_world(session)

    script = ScriptDirectory.from_config(alembic_config())
    (head,) = script.get_heads()
    last = script.get_revision(head)
    previous = last.down_revision if isinstance(last.down_revision, str) else "-1"
    before = snapshot(engine)
    downgrade(engine, previous)
    down = snapshot(engine)
    upgrade(engine, head)
    again = snapshot(engine)

    assert set(again) == set(before), "the round trip changed the set of tables"
    for table, (names, rows) in before.items():
        if table not in down:
            continue  # a table the last migration creates: like its new columns, it comes back empty
        kept = [n for n in names if n in down[table][0]]
        # Columns the last migration adds come back with their defaults; every other value must be as it was.
        assert again[table][0] == names, f"{table}: columns changed"
        index_before = [names.index(n) for n in kept]
        projected = sorted(tuple(r[i] for i in index_before) for r in rows)
        projected_again = sorted(tuple(r[i] for i in index_before) for r in again[table][1])
        assert len(again[table][1]) == len(rows), f"{table}: {len(rows)} rows before, {len(again[table][1])} after"
        assert projected_again == projected, f"{table}: values changed by downgrade {previous} and upgrade {head}"
