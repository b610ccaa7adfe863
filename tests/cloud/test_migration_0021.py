"""Migration 0021 (maintenance profiles): the tables and columns as the models describe them, the default fault
taxonomy seeded, existing tickets kept (reopened 0 times); reversible, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Index, Table, inspect, text

from cloud.db import Base, make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models_index import import_all_models

TABLES = {"fault_category", "service_report", "monthly_report"}
COLUMNS = {"ticket": {"fault_category", "root_cause", "parts", "reopen_count", "onsite_probability"},
           "device": {"score_override", "score_override_reason", "score_updated_at", "risk_30d"},
           "user_account": {"is_lab_manager"}}


def _table_of(diff: object) -> str | None:
    """The table a difference concerns (alembic: ('add_table', Table), ('add_column', schema, table, Column), …)."""
    for part in diff if isinstance(diff, tuple) else ():
        if isinstance(part, str) and part in TABLES | set(COLUMNS):
            return part
        if isinstance(part, Table):
            return part.name
        if isinstance(part, Index | Column) and isinstance(part.table, Table):
            return part.table.name
    return None


def _ours(diff: object) -> bool:
    """A difference in 0021's own tables or columns (later migrations add tables and indexes of their own)."""
    table = _table_of(diff)
    if table in TABLES:
        return True
    text_ = repr(diff)
    return table in COLUMNS and any(f"'{c}'" in text_ for c in COLUMNS[table])


def test_migration_0021_matches_the_models_seeds_the_taxonomy_and_is_reversible(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0020")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO user_account (username, password_hash, full_name, phone, role, verification, "
                          "is_active, service_hospital_ids, categories, created_at) VALUES ('old', 'x', '', '', "
                          "'agent', 'verified', 1, '[]', '[]', '2026-01-01 00:00:00')"))
    upgrade(engine, "0021")
    import_all_models()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        codes = {(c, code) for c, code in conn.execute(text("SELECT device_category, code FROM fault_category"))}
        assert conn.execute(text("SELECT is_lab_manager FROM user_account")).scalar_one() in (0, False)
    assert [d for d in diffs if _ours(d)] == []
    assert {(None, "temperature_control"), (None, "operator_error"), ("chemistry", "ise"), (None, "other")} <= codes
    downgrade(engine, "0020")
    assert not TABLES & set(inspect(engine).get_table_names())
    assert not COLUMNS["ticket"] & {c["name"] for c in inspect(engine).get_columns("ticket")}
    engine.dispose()
