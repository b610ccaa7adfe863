"""An incremental BM25 field index: add documents one at a time, score a bag of query terms."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable


class Field:
    """One BM25 field (e.g. the question words) over documents numbered 0, 1, 2 ... in the order added."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.postings: dict[str, dict[int, int]] = {}
        self.lengths: list[int] = []
        self.total = 0

    def add(self, terms: Iterable[str]) -> int:
        """Index one document; returns its number."""
        doc = len(self.lengths)
        counts = Counter(terms)
        for term, tf in counts.items():
            self.postings.setdefault(term, {})[doc] = tf
        size = sum(counts.values())
        self.lengths.append(size)
        self.total += size
        return doc

    def idf(self, term: str) -> float:
        """Inverse document frequency (BM25+ style, never negative)."""
        df = len(self.postings.get(term, ()))
        n = len(self.lengths)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def mass(self, query: dict[str, float]) -> float:
        """The score a document matching every query term once at average length would get (for normalising)."""
        return sum(self.idf(t) * w for t, w in query.items()) or 1.0

    def score(self, query: dict[str, float]) -> dict[int, float]:
        """BM25 scores of every document that shares a term with the query."""
        if not self.lengths:
            return {}
        avg = self.total / len(self.lengths) or 1.0
        k1, b = self.k1, self.b
        lengths = self.lengths
        out: dict[int, float] = {}
        for term, weight in query.items():
            posting = self.postings.get(term)
            if not posting:
                continue
            idf = self.idf(term) * weight * (k1 + 1.0)
            for doc, tf in posting.items():
                norm = k1 * (1.0 - b + b * lengths[doc] / avg)
                out[doc] = out.get(doc, 0.0) + idf * tf / (tf + norm)
        return out
