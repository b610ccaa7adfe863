"""The bot's value types: the documents it indexes and the replies it gives (the P1 → P3 contract)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class KbDoc:
    """One knowledge-base entry as the bot sees it."""

    entry_id: str
    question: str
    answer: str
    variants: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    category: str = ""
    codes: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()


class Intent(enum.StrEnum):
    """What the bot decided to do with a question."""

    answer = "answer"
    handoff = "handoff"
    safety = "safety"
    out_of_scope = "out_of_scope"
    greeting = "greeting"


@dataclass(frozen=True)
class Candidate:
    """A ranked entry with its calibrated confidence."""

    entry_id: str
    question: str
    confidence: float


@dataclass(frozen=True)
class BotReply:
    """The bot's decision for one question."""

    intent: Intent
    entry_id: str | None
    confidence: float
    alternatives: tuple[Candidate, ...]
    reason: str
    repair_intent: bool
    safety_message: str | None
    codes: tuple[str, ...]
