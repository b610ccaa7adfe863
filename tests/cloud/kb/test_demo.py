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
    if not DEMO_KB.is_file():
        return
    assert seed_demo_kb(db) >= 30
