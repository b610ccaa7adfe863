"""The knowledge-base bot: Chinese-first retrieval (BM25) with a river re-ranker that learns from feedback."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from models.bot.bot import Bot
from models.bot.ranker import FEATURES
from models.bot.types import BotReply, Candidate, Intent, KbDoc

__all__ = ["FEATURES", "Bot", "BotReply", "Candidate", "Intent", "KbDoc", "doc_from_json", "load_kb"]


def doc_from_json(data: dict[str, object]) -> KbDoc:
    """A KbDoc from one object of the KB import format (id, question, answer, variants, models, category, codes)."""

    def strings(key: str) -> tuple[str, ...]:
        value = data.get(key) or []
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    return KbDoc(entry_id=str(data["id"]), question=str(data["question"]), answer=str(data["answer"]),
                 variants=strings("variants"), models=strings("models"), category=str(data.get("category") or ""),
                 codes=strings("codes"))


def load_kb(path: str | Path | None = None) -> list[KbDoc]:
    """The KB in the JSONL import format; by default the demo KB shipped with the package."""
    if path is None:
        text = resources.files("models.bot.data").joinpath("analyzer_kb.jsonl").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return [doc_from_json(json.loads(line)) for line in text.splitlines() if line.strip()]
