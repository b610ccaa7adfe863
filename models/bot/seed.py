"""Seed the re-ranker offline from a KB: each variant is a query whose own entry is the positive.

Run ``python -m models.bot.seed`` after changing the features or the shipped KB; it rewrites
models/bot/data/ranker_seed.json, which every new Bot starts from.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from river import compose

from models.bot.bot import Bot, _terms, _unit_query_terms
from models.bot.ranker import SEED_FILE, make_pipeline, pipeline_to_json
from models.bot.text import analyse, model_key
from models.bot.types import KbDoc

# Talk that is not about analyzers: every candidate it retrieves is a negative, which teaches low scores.
OFF_TOPIC = ("今天下午开会吗", "帮我订个会议室", "科室聚餐定在哪", "这个月排班出来没有", "停车场满了", "电梯坏了找谁",
             "空调太冷了", "网费怎么交", "帮我查一下快递", "明天几点上班", "年假还剩几天", "报销单怎么填",
             "打印一份请假条", "食堂几点关门", "你会说英语吗", "给我推荐本书", "哪里可以充电", "体检报告出来没")


def seed_examples(docs: Sequence[KbDoc], *, seed: int = 0) -> list[tuple[dict[str, float], bool]]:
    """(features, is_right) pairs from leave-one-out queries over the KB's own questions and variants."""
    rng = random.Random(seed)
    bot = Bot(seed=seed)
    # The shipped KB has no manuals; give half the entries their answer as a "manual section" so the section
    # feature gets a weight (a manual section says what the answer says, at more length).
    bot.index([d if d.sections or rng.random() < 0.5 else dataclasses.replace(d, sections=(d.answer,))
               for d in docs])
    examples: list[tuple[dict[str, float], bool]] = []
    # Pretend each entry's last variant was learned from feedback, so "learned" gets a sensible weight.
    for idx, entry in enumerate(bot._entries):
        if entry.doc.variants:
            bot._learned_sets[idx] = [bot._set(entry.doc.variants[-1])]
    for unit, text in enumerate(bot._unit_text):
        idx = bot._unit_entry[unit]
        entry = bot._entries[idx]
        doc = entry.doc
        # Leave the query's own unit out of its entry's term sets too, or "cover" and "bcover" would be 1.0 for
        # every positive and the re-ranker would learn to trust them blindly.
        others = [bot._unit_analysed[u] for u, e in enumerate(bot._unit_entry) if e == idx and u != unit]
        bot._entries[idx] = dataclasses.replace(
            entry, words=frozenset(t for a in others for t in _terms(a)) | entry.answer_words,
            unit_bigrams=frozenset(t for a in others for t in _unit_query_terms(a)))
        queries = [text]
        if len(text) > 6:
            cut = rng.randrange(len(text) - 2)
            queries.append(text[:cut] + text[cut + 2:])  # a typo-like gap
        codes = [c for d in docs for c in d.codes]
        if doc.codes and rng.random() < 0.3:
            queries.append(f"{text} 报{rng.choice(doc.codes)}")  # people quote the code from the screen
        elif codes and rng.random() < 0.1:
            queries.append(f"{text} {rng.choice(codes)}")
        for query in queries:
            a = analyse(query, bot._vocab)
            models = a.models or ((model_key(rng.choice(doc.models)),) if doc.models and rng.random() < 0.5 else ())
            category = doc.category if rng.random() < 0.3 else None
            learned = bot._learned_sets.get(idx, [])
            if doc.variants and text == doc.variants[-1]:
                bot._learned_sets[idx] = []  # the query must not find itself as a learned paraphrase
            for cand, x in bot._candidates(a, models, category, exclude_unit=unit):
                right = cand == idx
                if not right and rng.random() < 0.15:
                    x["neg"] = rng.uniform(0.3, 1.0)
                if rng.random() < 0.3:
                    x["prior"] = rng.uniform(-0.1, 0.4) if right else rng.uniform(-0.4, 0.1)
                examples.append((x, right))
            bot._learned_sets[idx] = learned
        bot._entries[idx] = entry
    for text in OFF_TOPIC:
        a = analyse(text, bot._vocab)
        examples.extend((x, False) for _, x in bot._candidates(a, (), None))
    rng.shuffle(examples)
    return examples


def seed_ranker(docs: Sequence[KbDoc], *, seed: int = 0, epochs: int = 4) -> compose.Pipeline:
    """A re-ranker trained on seed_examples (a few passes, shuffled each time)."""
    examples = seed_examples(docs, seed=seed)
    rng = random.Random(seed)
    model = make_pipeline()
    for _ in range(epochs):
        rng.shuffle(examples)
        for x, y in examples:
            model.learn_one(x, y)
    return model


def main(argv: Sequence[str] = ()) -> None:
    """Write the seed file from the shipped KB (or a JSONL KB given as the first argument)."""
    from models.bot import load_kb

    docs = load_kb(argv[0] if argv else None)
    model = seed_ranker(docs)
    out = Path(__file__).parent / "data" / SEED_FILE
    out.write_text(json.dumps(pipeline_to_json(model), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    sys.stdout.write(f"{out}: seeded from {len(docs)} entries\n")


if __name__ == "__main__":
    main(sys.argv[1:])
