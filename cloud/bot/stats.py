"""What the admin pages show (db only): unanswered questions grouped by token overlap, and weekly rates."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import utcnow
from cloud.localtime import zone

CLUSTER_OVERLAP = 0.5  # Jaccard of token sets: "样本针堵了" and "样本针又堵了怎么办" land together
NOT_QUESTIONS = ("out_of_scope", "greeting")
_STOP = {"的", "了", "吗", "呢", "啊", "吧", "呀", "么", "是", "在", "有", "我", "你", "又", "还", "就", "都", "也",
         "很", "怎么", "怎么办", "什么", "为什么", "怎样", "如何", "一直", "出现", "请问", "可以", "需要", "应该",
         "一下", "我们", "这个", "那个"}
_WORD = re.compile(r"\w")


def tokens(text: str) -> frozenset[str]:
    """The content words of a question (jieba, NFKC, lower case; stop words and punctuation dropped)."""
    import jieba

    normal = unicodedata.normalize("NFKC", text).lower()
    return frozenset(t.strip() for t in jieba.lcut(normal)
                     if t.strip() and _WORD.search(t) and t.strip() not in _STOP)


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two token sets."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass
class Cluster:
    """Near-identical unanswered questions: the most asked wording first."""

    asks: list[Any] = field(default_factory=list)
    words: frozenset[str] = frozenset()

    @property
    def texts(self) -> list[str]:
        """Distinct wordings, most frequent first."""
        counts: dict[str, int] = {}
        for ask in self.asks:
            counts[ask.text] = counts.get(ask.text, 0) + 1
        return sorted(counts, key=lambda t: (-counts[t], len(t)))

    @property
    def last_at(self) -> datetime:
        """When it was last asked."""
        moments: list[datetime] = [ask.created_at for ask in self.asks]
        return max(moments)

    @property
    def suggestions(self) -> list[dict[str, Any]]:
        """The bot's own best guesses across the group (entry_id, question), most frequent first."""
        seen: dict[int, dict[str, Any]] = {}
        for ask in self.asks:
            for alt in ask.alternatives or []:
                if alt.get("entry_id") is not None:
                    seen.setdefault(int(alt["entry_id"]), {**alt, "n": 0})["n"] += 1
        return sorted(seen.values(), key=lambda a: (-a["n"], -float(a.get("confidence") or 0)))[:3]


def unanswered(session: Session, *, days: int = 90, limit: int = 1000) -> list[Cluster]:
    """Questions the bot handed over, refused as out of scope, or that were marked not solved; no agent verdict
    yet; grouped by token overlap."""
    from cloud.kb.models import BotAsk

    since = utcnow() - timedelta(days=days)
    stmt = (select(BotAsk).where(BotAsk.created_at >= since, BotAsk.resolved_entry_id.is_(None),
                                 BotAsk.answer_text.is_(None), BotAsk.intent.not_in(["greeting", "safety"]),
                                 # out of scope too: a lab question the bot misread as small talk belongs here
                                 BotAsk.handoff.is_(True) | BotAsk.helpful.is_(False)
                                 | (BotAsk.intent == "out_of_scope"))
            .order_by(BotAsk.id.desc()).limit(limit))
    clusters: list[Cluster] = []
    drafts: set[str] = set()
    for ask in session.execute(stmt).scalars():
        if ask.channel == "report":  # the repair page asks at every pause in typing: keep the last wording
            if ask.conversation_id in drafts:
                continue
            drafts.add(ask.conversation_id)
        words = tokens(ask.text)
        best = max(clusters, key=lambda c: overlap(words, c.words), default=None)
        if best is not None and (overlap(words, best.words) >= CLUSTER_OVERLAP or ask.text in best.texts):
            best.asks.append(ask)
        else:
            clusters.append(Cluster(asks=[ask], words=words))
    return sorted(clusters, key=lambda c: (-len(c.asks), -c.last_at.timestamp()))


def _questions(rows: Sequence[Any]) -> list[tuple[datetime, str, bool, bool | None]]:
    """(created_at, intent, handoff, helpful) per question: a repair-page conversation (its drafts while typing)
    counts once, self-served when any suggestion solved it, else handed over to the report form."""
    out: list[tuple[datetime, str, bool, bool | None]] = []
    pages: dict[str, list[Any]] = {}
    for created_at, intent, handoff, helpful, channel, conversation in rows:
        if channel == "report":
            pages.setdefault(conversation, []).append((created_at, intent, handoff, helpful))
        else:
            out.append((created_at, intent, bool(handoff), helpful))
    for drafts in pages.values():
        asked = [d for d in drafts if d[1] not in NOT_QUESTIONS]
        if not asked:
            continue
        solved = any(d[3] is True for d in asked)
        feedback = [d[3] for d in asked if d[3] is not None]
        out.append((asked[0][0], "answer", not solved, (True if solved else feedback[-1]) if feedback else None))
    return out


def weekly_rates(session: Session, *, weeks: int = 12, time_zone: str | None = None) -> list[dict[str, Any]]:
    """Per week (Monday, hospital time): questions, self-service rate, handover rate, feedback accuracy (in %)."""
    from cloud.kb.models import BotAsk

    tz = zone(time_zone)
    today = utcnow().astimezone(tz).date()
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    start = datetime(first.year, first.month, first.day, tzinfo=tz)
    rows = _questions(session.execute(
        select(BotAsk.created_at, BotAsk.intent, BotAsk.handoff, BotAsk.helpful, BotAsk.channel,
               BotAsk.conversation_id).where(BotAsk.created_at >= start).order_by(BotAsk.id)).all())
    buckets = {first + timedelta(days=7 * i): {"asked": 0, "self_served": 0, "handoff": 0, "feedback": 0,
                                               "helpful": 0} for i in range(weeks)}
    for created_at, intent, handoff, helpful in rows:
        if intent in NOT_QUESTIONS:
            continue
        day = created_at.astimezone(tz).date()
        bucket = buckets.get(day - timedelta(days=day.weekday()))
        if bucket is None:
            continue
        bucket["asked"] += 1
        bucket["handoff"] += bool(handoff)
        if helpful is not None:
            bucket["feedback"] += 1
            bucket["helpful"] += bool(helpful)
            bucket["self_served"] += bool(helpful) and not handoff

    def pct(part: int, whole: int) -> float | None:
        return round(100.0 * part / whole, 1) if whole else None

    return [{"week": week.isoformat(), "asked": b["asked"], "self_service": pct(b["self_served"], b["asked"]),
             "handover": pct(b["handoff"], b["asked"]), "accuracy": pct(b["helpful"], b["feedback"])}
            for week, b in sorted(buckets.items())]
