"""PDF manuals: checked to really be a PDF, stored by hash, split into searchable sections with page ranges.

Sections follow the PDF's outline when it has one; otherwise headings (第…章, 1.2 Title) found at the start of
lines; otherwise one section a page.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit import service as audit
from cloud.audit.service import Actor
from cloud.errors import Invalid, NotFound
from cloud.files import keep
from cloud.kb.models import KbManual, KbManualSection

log = logging.getLogger("medfix.kb.manuals")

MAX_MANUAL_MB = 50
MAX_PAGES = 3000
HEADING = re.compile(r"^\s*(第[一二三四五六七八九十百零〇\d]+[章节部分篇]\s*\S.*|\d{1,2}(\.\d{1,2}){0,2}\s+\S.{0,60})$")


@dataclass(frozen=True)
class Section:
    """A part of a manual before it is stored."""

    title: str
    text: str
    page_start: int
    page_end: int


def _outline_starts(reader: PdfReader) -> list[tuple[str, int]]:
    """(title, 0-based first page) of the outline's top two levels, in page order."""
    starts: list[tuple[str, int]] = []

    def walk(items: list[Any], depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                if depth < 1:
                    walk(item, depth + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except (PyPdfError, KeyError, ValueError, AttributeError):
                continue
            title = str(getattr(item, "title", "") or "").strip()
            if title and page is not None and page >= 0:
                starts.append((title[:300], page))

    try:
        walk(list(reader.outline), 0)
    except (PyPdfError, KeyError, ValueError, AttributeError):
        return []
    starts.sort(key=lambda s: s[1])
    return starts


def split_sections(reader: PdfReader) -> list[Section]:
    """The manual's sections: by outline, else by headings, else by page."""
    texts = []
    for page in reader.pages:
        try:
            texts.append(page.extract_text() or "")
        except Exception:  # one unreadable page must not lose the whole manual
            log.warning("could not read the text of a page", exc_info=True)
            texts.append("")
    count = len(texts)
    starts = _outline_starts(reader)
    if starts:
        sections = []
        for index, (title, first) in enumerate(starts):
            nxt = starts[index + 1][1] if index + 1 < len(starts) else count
            last = max(first, nxt - 1) if nxt > first else first
            sections.append(Section(title, "\n".join(texts[first:last + 1]).strip(), first + 1, last + 1))
        return sections
    headed: list[tuple[str, int, bool, list[str]]] = []  # title, first page, starts its page, lines
    for number, text in enumerate(texts):
        lines = [line for line in text.splitlines() if line.strip()]
        for row, line in enumerate(lines):
            if HEADING.match(line) and len(line.strip()) <= 80:
                headed.append((line.strip(), number, row == 0, [line]))
            elif headed:
                headed[-1][3].append(line)
    if len(headed) >= 2:
        out = []
        for index, (title, first, _top, lines) in enumerate(headed):
            if index + 1 < len(headed):
                _t, nxt, nxt_top, _l = headed[index + 1]
                last = nxt - 1 if nxt_top else nxt  # a heading at the top of a page ends the section before it
            else:
                last = count - 1
            out.append(Section(title[:300], "\n".join(lines).strip(), first + 1, max(first, last) + 1))
        return out
    return [Section((text.strip().splitlines() or [f"第 {n + 1} 页"])[0][:300], text.strip(), n + 1, n + 1)
            for n, text in enumerate(texts)]


def read_pdf(content: bytes) -> PdfReader:
    """A reader for content; Invalid with a clear message when it is not a PDF we can open."""
    if not content:
        raise Invalid("文件是空的 (the file is empty)", [{"field": "file", "message": "empty"}])
    if len(content) > MAX_MANUAL_MB * 1024 * 1024:
        raise Invalid(f"手册不能超过 {MAX_MANUAL_MB} MB (the file is too large)",
                      [{"field": "file", "message": "too large"}])
    # A PDF starts with %PDF- (some writers put a little junk first; readers allow 1 KB of it).
    if b"%PDF-" not in content[:1024]:
        raise Invalid("这个文件不是 PDF，请上传 PDF 格式的手册 (the file is not a PDF)",
                      [{"field": "file", "message": "not a PDF"}])
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise Invalid("PDF 有密码保护，无法读取，请上传未加密的版本 (the PDF is encrypted)",
                          [{"field": "file", "message": "encrypted"}])
        pages = len(reader.pages)
    except Invalid:
        raise
    except Exception as exc:  # pypdf raises many kinds on a damaged file; any of them means "cannot read"
        raise Invalid("PDF 已损坏或无法读取 (the PDF cannot be read)",
                      [{"field": "file", "message": "damaged PDF"}]) from exc
    if pages == 0:
        raise Invalid("PDF 没有任何页面 (the PDF has no pages)", [{"field": "file", "message": "no pages"}])
    if pages > MAX_PAGES:
        raise Invalid(f"PDF 页数太多（最多 {MAX_PAGES} 页）", [{"field": "file", "message": "too many pages"}])
    return reader


def _store(data_dir: Path, content: bytes, digest: str) -> str:
    relative = Path("kb") / "manuals" / f"{digest}.pdf"
    target = data_dir / relative
    keep(target, content)  # fsynced and renamed into place; a short or empty leftover is written again
    return str(relative)


def create_manual(session: Session, *, data_dir: Path, title: str, models: list[str], content: bytes,
                  actor: Actor) -> KbManual:
    """Check, store and split an uploaded PDF; nothing is saved when it is not a readable PDF."""
    title = title.strip()
    if not title:
        raise Invalid("请填写手册名称 (the title is missing)", [{"field": "title", "message": "missing"}])
    reader = read_pdf(content)
    sections = split_sections(reader)
    digest = hashlib.sha256(content).hexdigest()
    manual = KbManual(title=title[:200], models=[m.strip() for m in models if m.strip()], path="",
                      pages=len(reader.pages), size=len(content), sha256=digest, uploaded_by_id=actor.user_id)
    manual.sections = [KbManualSection(number=n, title=s.title or f"第 {s.page_start} 页", text=s.text,
                                       page_start=s.page_start, page_end=s.page_end)
                       for n, s in enumerate(sections, start=1)]
    session.add(manual)
    session.flush()
    # The file is written last: a failure before this leaves no orphan file behind for a rolled-back row.
    manual.path = _store(data_dir, content, digest)
    audit.record(session, actor=actor, action="kb.manual_uploaded", entity="kb_manual", entity_id=manual.id,
                 after={"title": manual.title, "pages": manual.pages, "sections": len(sections)})
    return manual


def list_manuals(session: Session) -> list[KbManual]:
    """Every manual, newest first."""
    return list(session.execute(select(KbManual).order_by(KbManual.id.desc())).scalars())


def get_manual(session: Session, *, manual_id: int) -> KbManual:
    """The manual; NotFound otherwise."""
    manual = session.get(KbManual, manual_id)
    if manual is None:
        raise NotFound("手册不存在 (no such manual)")
    return manual


def get_section(session: Session, *, manual_id: int, number: int) -> KbManualSection:
    """One section of a manual by its number; NotFound otherwise."""
    section = session.execute(select(KbManualSection).where(
        KbManualSection.manual_id == manual_id, KbManualSection.number == number)).scalar_one_or_none()
    if section is None:
        raise NotFound("手册章节不存在 (no such manual section)")
    return section


def all_sections(session: Session) -> list[KbManualSection]:
    """Every section of every manual, for the attachment picker."""
    stmt = select(KbManualSection).order_by(KbManualSection.manual_id.desc(), KbManualSection.number)
    return list(session.execute(stmt).scalars())

