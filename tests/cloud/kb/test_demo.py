"""The demo knowledge base is imported once from the shipped file, and skipped quietly while the file is missing."""

from __future__ import annotations

import json

from cloud.kb.demo import DEMO_KB, seed_demo_kb
from cloud.kb.service import list_entries
from tests.cloud.world import World


def test_the_demo_kb_is_seeded_once_and_a_missing_file_is_skipped(db, world: World, tmp_path) -> None:
    assert seed_demo_kb(db, path=tmp_path / "missing.jsonl") == 0
    source = tmp_path / "kb.jsonl"
    source.write_text(json.dumps({"id": "d1", "question": "问", "answer": "答"}, ensure_ascii=False), encoding="utf-8")
    assert seed_demo_kb(db, path=source) == 1
    db.commit()
    assert seed_demo_kb(db, path=source) == 0  # not into a knowledge base that has entries
    assert list_entries(db)[1] == 1


def test_the_shipped_demo_kb_imports_cleanly(db, world: World) -> None:
    assert DEMO_KB.is_file()
    assert seed_demo_kb(db) >= 30


def test_the_demo_manual_is_split_and_cited_by_the_matching_entries(client, db, world: World, settings) -> None:
    from cloud.kb import service
    from cloud.kb.demo import MANUAL_SECTIONS_FOR, seed_demo_manual

    seed_demo_kb(db)
    manual = seed_demo_manual(db, data_dir=settings.data_dir)
    db.commit()
    assert manual is not None and len(manual.sections) == 10
    assert manual.sections[0].title == "1 反应盘温度异常" and "恒温液" in manual.sections[0].text
    entry = service.entry_by_key(db, key="au5800-ise-drift")
    [cited] = [m for m in service.materials(db, entry_id=entry.id) if m["kind"] == "manual"]
    assert cited["url"] == f"/kb/manuals/{manual.id}/sections/3"
    page = client.get(cited["url"])
    assert page.status_code == 200 and "ISE 电极定标失败" in page.text
    cited_keys = {key for keys in MANUAL_SECTIONS_FOR.values() for key in keys}
    assert all(service.entry_by_key(db, key=key).attachments for key in cited_keys)
    assert seed_demo_manual(db, data_dir=settings.data_dir) is None  # once only
