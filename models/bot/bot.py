"""The knowledge-base bot: BM25 retrieval, a river re-ranker learned from feedback, calibrated hand-over."""

from __future__ import annotations

import dataclasses
import functools
import pickle
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from river import compose

from models.bot import intents
from models.bot.bm25 import Field
from models.bot.ranker import FEATURES, Calibration, load_calibration, seeded_pipeline
from models.bot.text import (
    HAN,
    Analysed,
    Vocabulary,
    add_words,
    analyse,
    code_display,
    code_key,
    is_domain_word,
    model_key,
    part_words,
)
from models.bot.types import BotReply, Candidate, Intent, KbDoc

MAX_CHARS = 2000  # longer texts are cut: nobody types a manual into the chat, and latency must stay flat
FIRST_STAGE = 12  # candidates the re-ranker looks at
STATE_VERSION = 1
_CONTENT = re.compile(r"[0-9a-z\u4e00-\u9fff]")


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _locked(method: Callable[Concatenate[Bot, _P], _T]) -> Callable[Concatenate[Bot, _P], _T]:
    """Run a public method under the bot's lock: learn and index change the index that ask reads."""

    @functools.wraps(method)
    def wrapper(self: Bot, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


@dataclass
class _Entry:
    doc: KbDoc
    models: frozenset[str]
    families: frozenset[str]
    codes: frozenset[str]
    words: frozenset[str]
    unit_bigrams: frozenset[str]
    answer_words: frozenset[str] = frozenset()


def _family(key: str) -> str:
    head = ""
    for ch in key:
        if not ch.isalpha():
            break
        head += ch
    return head or key


def _terms(a: Analysed) -> list[str]:
    return [*a.words, *(f"m:{m}" for m in a.models), *(f"c:{c}" for c in a.codes)]


def _unit_query_terms(a: Analysed) -> frozenset[str]:
    """Bigrams plus the terms that are not Chinese words (English words, models, codes, single characters)."""
    return frozenset(a.bigrams) | frozenset(t for t in _terms(a) if len(t) == 1 or not HAN.match(t))


def _memory_key(a: Analysed) -> str:
    return " ".join(sorted(set(_terms(a))))


def _jaccard(x: frozenset[str], y: frozenset[str]) -> float:
    if not x or not y:
        return 0.0
    return len(x & y) / len(x | y)


class Bot:
    """Answers lab staff's questions from the knowledge base, hands over what it does not know.

    >>> bot = Bot()
    >>> bot.index([KbDoc("clog", "样本针堵了怎么办", "1. 停止运行\\n2. 清洗样本针", variants=("加样针堵塞",)),
    ...            KbDoc("lamp", "光源灯能量低", "1. 更换光源灯", models=("cobas c 311",))])
    >>> bot.ask("采样针堵住了咋办").entry_id
    'clog'
    >>> bot.ask("机器在冒烟").intent
    <Intent.safety: 'safety'>
    """

    def __init__(self, *, threshold: float | None = None, seed: int = 0) -> None:
        self._lock = threading.RLock()
        self._seed = seed
        self._cal: Calibration = load_calibration()
        self._threshold = self._cal.threshold if threshold is None else threshold
        self._ranker: compose.Pipeline = seeded_pipeline()
        self._learned: dict[str, list[str]] = {}
        self._negative: dict[str, list[str]] = {}
        self._feedback: dict[str, list[int]] = {}
        self._memory: dict[str, str] = {}
        self._docs: list[KbDoc] = []
        self.index(())

    @property
    def threshold(self) -> float:
        """The calibrated confidence above which the bot answers instead of handing over."""
        return self._threshold

    # ---- index -------------------------------------------------------------------------------------
    @_locked
    def index(self, docs: Iterable[KbDoc]) -> None:
        """(Re)build the index from scratch; learned paraphrases and the re-ranker are kept."""
        self._docs = list(docs)
        self._vocab = Vocabulary()
        self._entries: list[_Entry] = []
        self._by_id: dict[str, int] = {}
        self._units_w, self._units_b = Field(k1=1.2, b=0.5), Field(k1=1.2, b=0.5)
        self._ans_w, self._ans_b, self._sec_w = Field(), Field(), Field()
        self._unit_entry: list[int] = []
        self._unit_text: list[str] = []
        self._unit_analysed: list[Analysed] = []
        self._learned_sets: dict[int, list[frozenset[str]]] = {}
        self._negative_sets: dict[int, list[frozenset[str]]] = {}
        self._exact: dict[str, str] = {}  # a KB question or variant, as terms → its entry (first one wins)
        parts: set[str] = set()
        for doc in self._docs:
            for model in doc.models:
                self._vocab.add_model(model)
            self._vocab.codes.update(code_key(c) for c in doc.codes)
            for text in (doc.question, *doc.variants):
                parts |= part_words(text)
        add_words(parts)
        for doc in self._docs:
            if doc.entry_id in self._by_id:
                continue  # the first of duplicate ids wins
            self._add_entry(doc)

    def _add_entry(self, doc: KbDoc) -> None:
        idx = len(self._entries)
        self._by_id[doc.entry_id] = idx
        unit_words: set[str] = set()
        unit_bigrams: set[str] = set()
        for text in (doc.question, *doc.variants, *self._learned.get(doc.entry_id, ())):
            a = self._add_unit(idx, text)
            if key := _memory_key(a):
                self._exact.setdefault(key, doc.entry_id)
            unit_words.update(_terms(a))
            unit_bigrams.update(_unit_query_terms(a))
        answer = analyse(doc.answer[:MAX_CHARS * 2], self._vocab)
        self._ans_w.add(_terms(answer))
        self._ans_b.add(answer.bigrams)
        section_words = [w for s in doc.sections for w in analyse(s[:MAX_CHARS * 2], self._vocab).words]
        self._sec_w.add(section_words)
        self._entries.append(_Entry(
            doc=doc, models=frozenset(model_key(m) for m in doc.models),
            families=frozenset(_family(model_key(m)) for m in doc.models),
            codes=frozenset(code_key(c) for c in doc.codes) | frozenset(answer.codes if not doc.codes else ()),
            words=frozenset(unit_words | set(_terms(answer)) | set(section_words)),
            unit_bigrams=frozenset(unit_bigrams),
            answer_words=frozenset(_terms(answer))))
        self._learned_sets[idx] = [self._set(t) for t in self._learned.get(doc.entry_id, ())]
        self._negative_sets[idx] = [self._set(t) for t in self._negative.get(doc.entry_id, ())]

    def _add_unit(self, idx: int, text: str) -> Analysed:
        a = analyse(text[:MAX_CHARS], self._vocab)
        self._units_w.add(_terms(a))
        self._units_b.add(a.bigrams)
        self._unit_entry.append(idx)
        self._unit_text.append(text)
        self._unit_analysed.append(a)
        return a

    def _set(self, text: str) -> frozenset[str]:
        a = analyse(text[:MAX_CHARS], self._vocab)
        return frozenset(_terms(a)) | frozenset(a.bigrams)

    # ---- ranking -----------------------------------------------------------------------------------
    def _features(self, a: Analysed, qset: frozenset[str], idx: int, scores: dict[str, dict[int, float]],
                  best: float, model_keys: tuple[str, ...], category: str | None) -> dict[str, float]:
        e = self._entries[idx]
        words = _terms(a)
        mass = sum(self._ans_w.idf(w) for w in words) or 1.0
        cover = sum(self._ans_w.idf(w) for w in words if w in e.words) / mass
        qterms = _unit_query_terms(a)
        bcover = sum(1 for g in qterms if g in e.unit_bigrams) / len(qterms) if qterms else 0.0
        model = 0.0
        if model_keys and e.models:
            if e.models.intersection(model_keys):
                model = 1.0
            elif e.families.intersection(_family(k) for k in model_keys):
                model = 0.3
            else:
                model = -1.0
        code = 0.0
        if a.codes and e.codes:
            code = 1.0 if e.codes.intersection(a.codes) else -1.0
        cat = 0.0
        category = category or a.category
        if category and e.doc.category:
            cat = 1.0 if category == e.doc.category else -1.0
        fb = self._feedback.get(e.doc.entry_id)
        return {
            "qw": scores["qw"].get(idx, 0.0), "qb": scores["qb"].get(idx, 0.0), "aw": scores["aw"].get(idx, 0.0),
            "ab": scores["ab"].get(idx, 0.0), "sw": scores["sw"].get(idx, 0.0),
            "ratio": scores["first"].get(idx, 0.0) / best if best > 0 else 0.0,
            "cover": cover, "bcover": bcover, "model": model, "code": code, "cat": cat,
            "learned": max((_jaccard(qset, s) for s in self._learned_sets.get(idx, ())), default=0.0),
            "neg": max((_jaccard(qset, s) for s in self._negative_sets.get(idx, ())), default=0.0),
            # shrunk towards 0 until an entry has a few votes, so one click does not move every question
            "prior": ((fb[0] + 1) / (fb[1] + 2) - 0.5) * fb[1] / (fb[1] + 5) if fb else 0.0,
            "generic": 0.0 if e.models else 1.0,
        }

    def _first_stage(self, a: Analysed, exclude_unit: int | None = None) -> dict[str, dict[int, float]]:
        qw: dict[str, float] = {}
        for t in _terms(a):
            qw[t] = qw.get(t, 0.0) + 1.0
        qb: dict[str, float] = {}
        for g in a.bigrams:
            qb[g] = qb.get(g, 0.0) + 1.0
        out: dict[str, dict[int, float]] = {}
        for name, field, query in (("qw", self._units_w, qw), ("qb", self._units_b, qb)):
            mass = field.mass(query)
            best: dict[int, float] = {}
            for unit, s in field.score(query).items():
                if unit == exclude_unit:
                    continue
                e = self._unit_entry[unit]
                best[e] = max(best.get(e, 0.0), s / mass)
            out[name] = best
        for name, field, query in (("aw", self._ans_w, qw), ("ab", self._ans_b, qb), ("sw", self._sec_w, qw)):
            mass = field.mass(query)
            out[name] = {e: s / mass for e, s in field.score(query).items()}
        first: dict[int, float] = {}
        for name, weight in (("qw", 3.0), ("qb", 1.5), ("aw", 1.0), ("ab", 0.5), ("sw", 0.3)):
            for e, s in out[name].items():
                first[e] = first.get(e, 0.0) + weight * s
        out["first"] = first
        return out

    def _rank(self, a: Analysed, model_keys: tuple[str, ...], category: str | None, exclude_unit: int | None = None,
              include: Iterable[int] = ()) -> list[tuple[int, float, dict[str, float]]]:
        ranked = []
        for idx, x in self._candidates(a, model_keys, category, exclude_unit, include):
            p = float(self._ranker.predict_proba_one(x).get(True, 0.0))
            ranked.append((idx, p, x))
        ranked.sort(key=lambda r: (-r[1], r[0]))
        return ranked

    def _candidates(self, a: Analysed, model_keys: tuple[str, ...], category: str | None,
                    exclude_unit: int | None = None, include: Iterable[int] = ()) -> list[tuple[int, dict[str, float]]]:
        """First-stage candidates with their re-ranker features."""
        scores = self._first_stage(a, exclude_unit)
        first = scores["first"]
        pool = sorted(first, key=lambda e: (-first[e], e))[:FIRST_STAGE]
        if a.codes:
            pool += [i for i, e in enumerate(self._entries) if e.codes.intersection(a.codes)]
        pool += list(include)
        best = max(first.values(), default=0.0)
        qset = frozenset(_terms(a)) | frozenset(a.bigrams)
        return [(idx, self._features(a, qset, idx, scores, best, model_keys, category)) for idx in dict.fromkeys(pool)]

    def _context(self, a: Analysed, model: str | None) -> tuple[str, ...]:
        """The models the question is about: named in the text, else the device's, else the maker's."""
        if a.models:
            return a.models
        if model and model_key(model):
            return (model_key(model),)
        return a.brand_models

    # ---- asking ------------------------------------------------------------------------------------
    @_locked
    def ask(self, text: str, *, model: str | None = None, category: str | None = None) -> BotReply:
        """Answer a question, or hand it over; never raises on any text."""
        text = (text if isinstance(text, str) else "")[:MAX_CHARS]
        a = analyse(text, self._vocab)
        codes = tuple(code_display(c) for c in a.codes)
        repair = intents.repair_intent(a.norm, bool(a.codes))

        def reply(intent: Intent, reason: str, *, entry: str | None = None, conf: float = 0.0,
                  alts: tuple[Candidate, ...] = (), safety: str | None = None) -> BotReply:
            return BotReply(intent=intent, entry_id=entry, confidence=round(conf, 4), alternatives=alts,
                            reason=reason, repair_intent=repair, safety_message=safety, codes=codes)

        if not _CONTENT.search(a.norm):
            return reply(Intent.handoff, "empty")  # nothing to read: blanks, punctuation, emoji
        kind = intents.safety_kind(a.norm)
        if kind:
            return reply(Intent.safety, f"safety:{kind}", safety=intents.SAFETY_MESSAGES[kind])
        if intents.is_greeting(a.norm):
            return reply(Intent.greeting, "greeting")
        domain = self._domain(a)
        # A repair request is never out of scope, however it is worded ("仪器坏了要报修" was told the bot only answers
        # questions about instruments): it is handed over with the way to report.
        in_scope = domain or repair
        if not (a.models or a.codes or any(is_domain_word(w) for w in a.words)) and intents.off_topic(a.norm) \
                and not repair:
            return reply(Intent.out_of_scope, "out_of_scope")
        if not self._entries:
            return reply(Intent.handoff, "no_entries")
        if not a.words and not a.bigrams and not a.models and not a.codes:
            return reply(Intent.handoff, "empty")
        ranked, forced = self._ranked(a, model, category)
        if not ranked:
            return reply(Intent.out_of_scope if not in_scope else Intent.handoff,
                         "out_of_scope" if not in_scope else "low_confidence")
        p_top = ranked[0][1]
        p_next = ranked[1][1] if len(ranked) > 1 else 0.0
        x_top = ranked[0][2]
        conf = self._cal.confidence(p_top, p_top - p_next, x_top["cover"], x_top["bcover"])
        if forced:
            conf = max(conf, min(0.99, self._threshold + 0.2))
        elif x_top["model"] < 0:
            # the best entry is written for other analyzers than the one asked about: offer it, do not assert it
            conf = min(conf, self._threshold * 0.9)
        alts = tuple(Candidate(entry_id=self._entries[i].doc.entry_id, question=self._entries[i].doc.question,
                               confidence=round(self._cal.confidence(p, p - p_top, x["cover"], x["bcover"]), 4))
                     for i, p, x in ranked[1:4])
        top_id = self._entries[ranked[0][0]].doc.entry_id
        if conf >= self._threshold:
            return reply(Intent.answer, "confident", entry=top_id, conf=conf, alts=alts)
        all_alts = (Candidate(top_id, self._entries[ranked[0][0]].doc.question, round(conf, 4)), *alts)[:3]
        if not domain:
            return reply(Intent.out_of_scope, "out_of_scope", conf=conf, alts=all_alts)
        return reply(Intent.handoff, "low_confidence", conf=conf, alts=all_alts)

    def _ranked(self, a: Analysed, model: str | None,
                category: str | None) -> tuple[list[tuple[int, float, dict[str, float]]], bool]:
        """Candidates best first, and whether the first is a remembered answer (a confirmed paraphrase)."""
        # A paraphrase an agent confirmed (or a KB question/variant verbatim) is answered by that entry.
        key = _memory_key(a)
        forced = self._by_id.get(self._memory.get(key) or self._exact.get(key) or "") if key else None
        context = self._context(a, model)
        if forced is not None and self._model_conflict(forced, context):
            forced = None  # the same words about another analyzer ("反应盘温度报警" on a c 702, not the BS-2000M)
        ranked = self._rank(a, context, category, include=[] if forced is None else [forced])
        if forced is not None:
            top = next(r for r in ranked if r[0] == forced)
            ranked = [top, *(r for r in ranked if r[0] != forced)]
        return ranked, forced is not None

    def _model_conflict(self, idx: int, context: tuple[str, ...]) -> bool:
        """The entry is for other analyzers than the ones the question is about."""
        e = self._entries[idx]
        return bool(context and e.models and not e.models.intersection(context)
                    and not e.families.intersection(_family(k) for k in context))

    def _domain(self, a: Analysed) -> bool:
        """Does the text speak about lab equipment at all (KB vocabulary, a model or a code)?"""
        if a.models or a.codes or any(is_domain_word(w) for w in a.words):
            return True
        words = [w for w in a.words if len(w) > 1 or "\u4e00" <= w <= "\u9fff"]
        if not words:
            return False
        known = sum(1 for w in words if w in self._units_w.postings or w in self._ans_w.postings
                    or w in self._sec_w.postings)
        return known / len(words) >= 0.5

    @_locked
    def rank(self, text: str, *, model: str | None = None,
             category: str | None = None) -> list[tuple[str, float, dict[str, float]]]:
        """Every first-stage candidate with its re-ranker probability and features, best first (benchmarks)."""
        a = analyse((text or "")[:MAX_CHARS], self._vocab)
        return [(self._entries[i].doc.entry_id, p, x) for i, p, x in self._ranked(a, model, category)[0]]

    # ---- learning ----------------------------------------------------------------------------------
    @_locked
    def learn(self, text: str, *, entry_id: str, helpful: bool, shown: Sequence[str] = (),
              model: str | None = None) -> None:
        """Learn from feedback: helpful ⇒ this text is answered by entry_id; unhelpful ⇒ push entry_id down."""
        text = (text or "")[:MAX_CHARS].strip()
        if not text:
            return
        a = analyse(text, self._vocab)
        key = _memory_key(a)
        fb = self._feedback.setdefault(entry_id, [0, 0])
        fb[0] += int(helpful)
        fb[1] += 1
        idx = self._by_id.get(entry_id)
        if helpful:
            if text not in self._learned.setdefault(entry_id, []):
                self._learned[entry_id].append(text)
                if idx is not None:
                    unit = self._add_unit(idx, text)
                    self._learned_sets[idx].append(self._set(text))
                    e = self._entries[idx]  # what index() would give the entry with this paraphrase
                    self._entries[idx] = dataclasses.replace(
                        e, words=e.words | frozenset(_terms(unit)),
                        unit_bigrams=e.unit_bigrams | _unit_query_terms(unit))
            if key:
                self._memory[key] = entry_id
        else:
            if text not in self._negative.setdefault(entry_id, []):
                self._negative[entry_id].append(text)
                if idx is not None:
                    self._negative_sets[idx].append(self._set(text))
            if self._memory.get(key) == entry_id:
                del self._memory[key]
        if idx is None:
            return
        ranked = self._rank(a, self._context(a, model), None, include=[idx])
        by_idx = {i: x for i, _, x in ranked}
        self._ranker.learn_one(by_idx[idx], helpful)
        if helpful:
            others = [self._by_id[s] for s in shown if s in self._by_id and s != entry_id]
            others += [i for i, _, _ in ranked if i != idx][:3]
            for other in dict.fromkeys(others):
                if other in by_idx:
                    self._ranker.learn_one(by_idx[other], False)

    # ---- state -------------------------------------------------------------------------------------
    @_locked
    def dump_state(self) -> bytes:
        """The learned re-ranker and paraphrases, pickled (small)."""
        state: dict[str, Any] = {"version": STATE_VERSION, "ranker": self._ranker, "learned": self._learned,
                                 "negative": self._negative, "feedback": self._feedback, "memory": self._memory}
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    @_locked
    def load_state(self, blob: bytes) -> None:
        """Restore what dump_state saved, then rebuild the index with the learned paraphrases."""
        state = pickle.loads(blob)  # noqa: S301 - our own state, stored by the service in its database
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError("不是本机器人保存的学习状态 (unknown bot state)")
        self._ranker = state["ranker"]
        self._learned = {k: list(v) for k, v in state["learned"].items()}
        self._negative = {k: list(v) for k, v in state["negative"].items()}
        self._feedback = {k: list(v) for k, v in state["feedback"].items()}
        self._memory = dict(state["memory"])
        self.index(self._docs)


__all__ = ["FEATURES", "Bot"]
