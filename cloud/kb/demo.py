"""The demo's knowledge base: the shipped analyzer entries (models/bot/data/analyzer_kb.jsonl) imported once."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.kb import demo_manual, manuals, service
from cloud.kb.importer import run_import
from cloud.kb.models import AttachmentKind, KbEntry, KbManual
from cloud.kb.schemas import AttachmentIn, KbEntryIn

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


# Which demo KB entries cite which section of the demo manual (cloud/kb/demo_manual.py), by section number.
MANUAL_SECTIONS_FOR = {
    1: ["cobas-c-incubator-temp", "bs2000m-temp"],
    2: ["cobas-c-sample-clot", "au5800-sample-short"],
    3: ["au5800-ise-drift", "cobas-c-ise-cal"],
    4: ["cobas-c-lamp", "au5800-photometer", "cobas-c-photometer"],
    5: ["cobas-c-reagent-short"],
    6: ["chemistry-qc-fail", "hematology-qc-fail"],
    7: ["xn-aspiration", "xn-detector-clog"],
    8: ["lis-comm"],
    9: ["waste-full", "au5800-wash"],
}


def seed_demo_manual(session: Session, *, data_dir: Path, actor: Actor | None = None) -> KbManual | None:
    """Upload the demo manual once and cite its sections from the matching demo entries (None when skipped)."""
    if session.execute(select(func.count(KbManual.id))).scalar_one():
        return None
    actor = actor or Actor.system("demo-seed")
    manual = manuals.create_manual(session, data_dir=data_dir, title=demo_manual.TITLE, models=[],
                                   content=demo_manual.render_pdf(), actor=actor)
    by_number = {section.number: section for section in manual.sections}
    for number, keys in MANUAL_SECTIONS_FOR.items():
        section = by_number.get(number)
        if section is None:
            continue
        for key in keys:
            entry = session.execute(select(KbEntry).where(KbEntry.key == key)).scalar_one_or_none()
            if entry is None:
                continue
            cited = [AttachmentIn(kind=AttachmentKind(a.kind.value), title=a.title, url=service.attachment_url(a))
                     for a in entry.attachments]
            cited.append(AttachmentIn(kind=AttachmentKind.manual, title=f"《{demo_manual.TITLE}》{section.title}",
                                      url=f"/kb/manuals/{manual.id}/sections/{number}"))
            service.update_entry(session, entry_id=entry.id, data=_entry_in(entry, cited), actor=actor,
                                 action="edited")
    return manual


def _entry_in(entry: KbEntry, attachments: list[AttachmentIn]) -> KbEntryIn:
    return KbEntryIn(key=entry.key, question=entry.question, answer=entry.answer, variants=list(entry.variants),
                     models=list(entry.models), category=entry.category, codes=list(entry.codes),
                     attachments=attachments)
