"""The demo's knowledge base: the shipped analyzer entries (models/bot/data/analyzer_kb.jsonl) imported once."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.kb.importer import run_import
from cloud.kb.models import KbEntry

log = logging.getLogger("medfix.kb.demo")

DEMO_KB = Path(__file__).resolve().parents[2] / "models" / "bot" / "data" / "analyzer_kb.jsonl"


def seed_demo_kb(session: Session, *, path: Path = DEMO_KB, actor: Actor | None = None) -> int:
    """Import the demo entries into an empty knowledge base; the number imported (0 when skipped)."""
    if not path.is_file():
        log.info("no demo knowledge base at %s; skipped", path)
        return 0
    if session.execute(select(func.count(KbEntry.id))).scalar_one():
        return 0
    report = run_import(session, content=path.read_bytes(), actor=actor or Actor.system("demo-seed"))
    return len(report.created)
