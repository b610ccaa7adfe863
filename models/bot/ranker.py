"""The learned re-ranker (river) and the confidence calibration, with their shipped starting points."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

from river import compose, linear_model, optim, preprocessing

# Per-candidate features, in a fixed order (the seed file and the bench rely on these names).
FEATURES = (
    "qw",       # BM25 of the question/variant words (best unit), relative to the query's idf mass
    "qb",       # the same over character bigrams (typos, colloquial phrasing)
    "aw",       # BM25 of the answer words
    "ab",       # BM25 of the answer bigrams
    "sw",       # BM25 of the attached manual sections
    "ratio",    # first-stage score relative to the best candidate's
    "cover",    # idf-weighted share of the query's words the entry contains anywhere
    "bcover",   # share of the query's bigrams the entry's question/variants contain
    "model",    # +1 the entry is for this device model, +0.3 same family, -1 for other models only, 0 generic/unknown
    "code",     # +1 a fault code in the text is the entry's, -1 the entry has other codes only
    "cat",      # +1 same device category, -1 other category
    "learned",  # similarity to paraphrases learned from feedback for this entry
    "neg",      # similarity to texts for which this entry was marked unhelpful
    "prior",    # the entry's feedback record: (helpful + 1) / (shown + 2) - 0.5
    "generic",  # the entry applies to any model
)

DATA = "models.bot.data"
SEED_FILE = "ranker_seed.json"
CALIBRATION_FILE = "calibration.json"


def make_pipeline() -> compose.Pipeline:
    """A fresh scaler + logistic regression, the re-ranker's shape."""
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        linear_model.LogisticRegression(optimizer=optim.SGD(0.03), l2=1e-4, intercept_lr=0.01),
    )


def pipeline_to_json(model: compose.Pipeline) -> dict[str, Any]:
    """The numbers of a trained re-ranker (scaler statistics and weights), JSON-ready."""
    scaler, lr = model["StandardScaler"], model["LogisticRegression"]
    return {
        "features": list(FEATURES),
        "counts": {k: int(scaler.counts[k]) for k in FEATURES},
        "means": {k: float(scaler.means[k]) for k in FEATURES},
        "vars": {k: float(scaler.vars[k]) for k in FEATURES},
        "weights": {k: float(lr._weights.get(k, 0.0)) for k in FEATURES},
        "intercept": float(lr.intercept),
    }


def pipeline_from_json(data: dict[str, Any]) -> compose.Pipeline:
    """Rebuild a re-ranker from pipeline_to_json's output."""
    model = make_pipeline()
    scaler, lr = model["StandardScaler"], model["LogisticRegression"]
    for k in FEATURES:
        if k in data["counts"]:
            scaler.counts[k] = data["counts"][k]
            scaler.means[k] = data["means"][k]
            scaler.vars[k] = data["vars"][k]
        lr._weights[k] = float(data["weights"].get(k, 0.0))
    lr.intercept = float(data["intercept"])
    return model


def _read(name: str) -> dict[str, Any] | None:
    try:
        text = resources.files(DATA).joinpath(name).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return None
    data: dict[str, Any] = json.loads(text)
    return data


def seeded_pipeline() -> compose.Pipeline:
    """The re-ranker as seeded offline from the shipped KB (python -m models.bot.seed); blank if missing."""
    data = _read(SEED_FILE)
    return pipeline_from_json(data) if data else make_pipeline()


@dataclass(frozen=True)
class Calibration:
    """Maps the top candidate's probability, its margin over the runner-up and how much of the question it
    explains (cover, bcover) to a calibrated confidence that the answer is right."""

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    d: float = 0.0
    e: float = 0.0
    threshold: float = 0.5

    def confidence(self, p: float, margin: float, cover: float = 0.0, bcover: float = 0.0) -> float:
        """Calibrated 0..1 confidence that the candidate is the right answer."""
        p = min(max(p, 1e-6), 1.0 - 1e-6)
        z = self.a * math.log(p / (1.0 - p)) + self.b * margin + self.c + self.d * cover + self.e * bcover
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


def load_calibration() -> Calibration:
    """The shipped calibration (fitted on the question set's train split by bench/bot.py --calibrate)."""
    data = _read(CALIBRATION_FILE)
    if not data:
        return Calibration()
    return Calibration(a=float(data["a"]), b=float(data["b"]), c=float(data["c"]), d=float(data.get("d", 0.0)),
                       e=float(data.get("e", 0.0)), threshold=float(data["threshold"]))
