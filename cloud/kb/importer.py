"""JSONL import and export of the knowledge base: one entry a line; an import is all lines or none.

A line: {"id": "stable-key", "question": "...", "answer": "...", "variants": [...], "models": [...],
"category": "...", "codes": [...], "attachments": [{"kind", "title", "url"}], "status": "active"|"retired"}.
`id`, `question` and `answer` are required; re-importing an id updates that entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.errors import DomainError, Invalid
from cloud.events import emit
from cloud.kb import service
from cloud.kb.models import KbEntry, KbStatus
from cloud.kb.schemas import KbEntryIn

MAX_LINES = 20_000
FIELD_NAMES = {"key": "id"}
_TYPE_WORDS = {"string_type": "应为文本", "list_type": "应为列表", "dict_type": "应为对象",
               "model_type": "应为对象"}


@dataclass
class ImportReport:
    """What an import did (or would do): the ids created, updated and left unchanged."""

    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _where(loc: tuple[Any, ...]) -> str:
    parts = [FIELD_NAMES.get(str(p), str(p)) if isinstance(p, str) else f"[{p}]" for p in loc]
    return "".join(p if p.startswith("[") or i == 0 else f".{p}" for i, p in enumerate(parts))


def _message(error: Any) -> str:
    """One pydantic error in words a Chinese-reading admin understands."""
    where, kind, ctx = _where(tuple(error["loc"])), error["type"], error.get("ctx") or {}
    if kind == "missing":
        return f"缺少 {where}"
    if kind in _TYPE_WORDS:
        return f"{where} {_TYPE_WORDS[kind]}"
    if kind == "string_too_short":
        return f"{where} 不能为空"
    if kind == "string_too_long":
        return f"{where} 太长（最多 {ctx.get('max_length')} 个字符）"
    if kind == "too_long":
        return f"{where} 条目太多（最多 {ctx.get('max_length')} 个）"
    if kind == "extra_forbidden":
        return f"未知字段 {where}"
    if kind == "string_pattern_mismatch":
        return f"{where} 只能由字母、数字和 . _ : - 组成（最多 100 个字符）"
    if kind == "enum":
        return f"{where} 应为 {ctx.get('expected', '')}".replace("'", "")
    return f"{where}：{error.get('msg', '')}"


def parse(content: bytes) -> tuple[list[tuple[int, KbEntryIn, KbStatus | None]], list[dict[str, Any]]]:
    """Every line checked: (line number, entry, status) for good lines, and one error per problem found."""
    errors: list[dict[str, Any]] = []
    good: list[tuple[int, KbEntryIn, KbStatus | None]] = []

    def fail(row: int, message: str, field_name: str = "") -> None:
        errors.append({"row": row, "field": field_name, "message": f"第 {row} 行：{message}"})

    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = content[:exc.start].count(b"\n") + 1
        fail(row, "不是 UTF-8 编码的文本")
        return [], errors
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        fail(MAX_LINES + 1, f"文件太长（最多 {MAX_LINES} 行）")
        return [], errors
    seen: dict[str, int] = {}
    for row, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(row, f"不是有效的 JSON（第 {exc.colno} 列：{exc.msg}）")
            continue
        if not isinstance(raw, dict):
            fail(row, "应为一个 JSON 对象 {…}")
            continue
        if "key" in raw:
            fail(row, "未知字段 key（编号请写在 id 里）", "key")
            continue
        raw = dict(raw)
        status_raw = raw.pop("status", None)
        status: KbStatus | None = None
        if status_raw is not None:
            if status_raw not in KbStatus.__members__:
                fail(row, "status 应为 active 或 retired", "status")
                continue
            status = KbStatus(status_raw)
        if "id" not in raw or raw["id"] in (None, ""):
            fail(row, "缺少 id", "id")
        raw["key"] = raw.pop("id", None)
        try:
            entry = KbEntryIn.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                if error["loc"] == ("key",) and raw["key"] in (None, ""):
                    continue  # already said: 缺少 id
                fail(row, _message(error), _where(tuple(error["loc"])))
            continue
        if entry.key is None:
            continue
        if entry.key in seen:
            fail(row, f"id“{entry.key}”与第 {seen[entry.key]} 行重复", "id")
            continue
        seen[entry.key] = row
        good.append((row, entry, status))
    if not good and not errors:
        errors.append({"row": 0, "field": "", "message": "文件里没有任何条目"})
    return good, errors


def run_import(session: Session, *, content: bytes, actor: Actor, dry_run: bool = False) -> ImportReport:
    """Import every line or none (Invalid lists each bad line); a dry run writes nothing and says what would change.

    The caller commits (or rolls back after a dry run).
    """
    rows, errors = parse(content)
    if errors:
        raise Invalid(f"导入失败：{len({e['row'] for e in errors})} 行有错误，未导入任何条目 "
                      "(nothing imported)", errors)
    report = ImportReport(dry_run=dry_run)
    existing = {e.key: e for e in session.execute(select(KbEntry)).scalars()}
    changed_ids: list[int] = []
    savepoint = session.begin_nested()
    try:
        for row, data, status in rows:
            try:
                entry = existing.get(data.key or "")
                if entry is None:
                    entry = service.create_entry(session, data=data, actor=actor, action="imported",
                                                 announce=False)
                    if status == KbStatus.retired:
                        entry.status = KbStatus.retired
                    report.created.append(entry.key)
                    changed_ids.append(entry.id)
                    continue
                before = service.snapshot(entry)
                if data.attachments is None:
                    data = data.model_copy(update={"attachments": []})
                service.update_entry(session, entry_id=entry.id, data=data, actor=actor, action="imported",
                                     status=status or KbStatus.active, announce=False)
                if service.snapshot(entry) == before:
                    report.unchanged.append(entry.key)
                else:
                    report.updated.append(entry.key)
                    changed_ids.append(entry.id)
            except DomainError as error:
                details = error.extra.get("errors") or [{"message": error.message}]
                errors.extend({"row": row, "field": d.get("field", ""), "message": f"第 {row} 行：{d['message']}"}
                              for d in details)
        if errors or dry_run:
            savepoint.rollback()
        else:
            savepoint.commit()
    except Exception:
        savepoint.rollback()
        raise
    if errors:
        raise Invalid(f"导入失败：{len({e['row'] for e in errors})} 行有错误，未导入任何条目 "
                      "(nothing imported)", errors)
    # One event for the whole import (entry_id None, the ids listed) so listeners rebuild once, not per line.
    if changed_ids and not dry_run:
        emit(session, "kb.changed", entry_id=None, entry_ids=changed_ids, action="imported")
    return report


def export_lines(session: Session, *, include_retired: bool = True) -> list[str]:
    """The knowledge base in the import format, one JSON object a line, in id order."""
    stmt = select(KbEntry).order_by(KbEntry.id)
    lines = []
    for entry in session.execute(stmt).scalars():
        if entry.status == KbStatus.retired and not include_retired:
            continue
        row = service.snapshot(entry)
        if row["status"] == KbStatus.active.value:
            del row["status"]
        lines.append(json.dumps(row, ensure_ascii=False))
    return lines
