"""Migration 0022 (fault taxonomy): 'no fault found' joins the list just before 'other', once; reversible."""

from __future__ import annotations

from sqlalchemy import text

from cloud.db import make_engine
from cloud.migrate import downgrade, upgrade


def _general(engine) -> list[str]:  # noqa: ANN001
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT code FROM fault_category WHERE device_category IS NULL "
                                      "ORDER BY position, id")).scalars())


def test_migration_0022_adds_no_fault_before_other_and_is_reversible(tmp_path) -> None:  # noqa: ANN001
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0021")
    before = _general(engine)
    assert before[-1] == "other" and "no_fault" not in before
    upgrade(engine, "0022")
    after = _general(engine)
    assert after == [*before[:-1], "no_fault", "other"]
    with engine.connect() as conn:
        row = conn.execute(text("SELECT name_zh, name_en, basic, active FROM fault_category WHERE code = 'no_fault'"))
        assert tuple(row.one()) == ("未发现故障 / 误报", "No fault found / false alarm", 1, 1)
    downgrade(engine, "0021")
    assert _general(engine) == before
    upgrade(engine, "0022")
    assert _general(engine) == after
    engine.dispose()
