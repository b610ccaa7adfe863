"""The basic/advanced predictor: for a new report, the probability that an engineer must go on site.

A logistic regression (river) over what is known when the report arrives: the device (category, model, maker,
age, its earlier cases and how they were solved), the report (source, urgency, the alert's metric) and the
words of its text (Chinese character pairs, Latin words, fault codes). It learns online, one resolved ticket at
a time: solved on site = True, solved by self-service or remotely = False. Its state is plain JSON, so the cloud
keeps it in the database and every process sees the same model.

>>> model = OnsitePredictor()
>>> loud = Report(text="机械臂异响，撞针", device_category="chemistry", model="AU5800")
>>> quiet = Report(text="质控偏高，请问试剂怎么处理", device_category="chemistry", model="AU5800")
>>> for _ in range(200):
...     model.learn_one(loud, True)
...     model.learn_one(quiet, False)
>>> model.predict_one(loud) > 0.8 > 0.2 > model.predict_one(quiet)
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from river import linear_model, optim

STATE_VERSION = 1
# Below this many learned cases the estimate is not shown or used (an untrained model says 0.5 to everything).
MIN_SAMPLES = 30

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_LATIN_WORD = re.compile(r"[a-z][a-z0-9]+")
# Analyzer fault codes: E-2041, E32, 0C-12, ERR 301 (a code in the text says the reporter read the screen).
_FAULT_CODE = re.compile(r"\b(?:[a-z]{1,3}[- ]?\d{2,5}|\d{1,2}[a-z]-\d{2,4})\b")


@dataclass(frozen=True)
class Report:
    """What is known about a report when it arrives (no outcome, nothing learned later)."""

    text: str
    device_category: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    age_years: float | None = None
    source: str = "web"  # web / wechat / desk / predictive
    alert_metric: str | None = None  # a predictive ticket's alerting metric
    urgency: str = "normal"
    whole_group: bool = False  # reported for a whole device group, no single device named
    prior_solved: int = 0  # the device's earlier solved cases
    prior_onsite: int = 0  # of them, solved on site
    recent_faults: int = 0  # the device's faults in the 90 days before this report


def text_tokens(text: str) -> list[str]:
    """The words a text is learned by: Chinese character pairs, Latin words, and 'code' if it quotes a fault code.

    >>> text_tokens("c 111 光度计灯能量低 E-32")
    ['光度', '度计', '计灯', '灯能', '能量', '量低', 'code']
    """
    lowered = text.lower()
    tokens: list[str] = []
    for run in _CJK_RUN.findall(lowered):
        tokens.extend(run[i:i + 2] for i in range(len(run) - 1)) if len(run) > 1 else tokens.append(run)
    tokens.extend(word for word in _LATIN_WORD.findall(lowered) if not _FAULT_CODE.fullmatch(word))
    if _FAULT_CODE.search(lowered):
        tokens.append("code")
    return tokens


def features(report: Report) -> dict[str, float]:
    """The report as a sparse feature dict (names are prefixed by kind; text words share one unit of length)."""
    x: dict[str, float] = {
        f"category={report.device_category or '-'}": 1.0,
        f"model={(report.model or '-').lower()}": 1.0,
        f"maker={(report.manufacturer or '-').lower()}": 1.0,
        f"source={'predictive' if report.source == 'predictive' else 'reported'}": 1.0,
        f"urgency={report.urgency}": 1.0,
        # Share of the device's earlier cases solved on site, smoothed towards one half, centred on 0.
        "history_onsite": (report.prior_onsite + 1) / (report.prior_solved + 2) - 0.5,
        "history_cases": min(report.prior_solved, 20) / 20,
        "recent_faults": min(report.recent_faults, 5) / 5,
    }
    if report.age_years is not None:
        x["age"] = min(max(report.age_years, 0.0), 15.0) / 10
    if report.alert_metric:
        x[f"metric={report.alert_metric}"] = 1.0
    if report.whole_group:
        x["whole_group"] = 1.0
    words = list(dict.fromkeys(text_tokens(report.text)))
    if words:
        unit = 1.0 / math.sqrt(len(words))
        x.update({f"w={word}": unit for word in words})
    return x


class OnsitePredictor:
    """P(solved on site) for a report; learn_one updates it in place with a resolved case."""

    def __init__(self, learning_rate: float = 0.04, l2: float = 1e-5) -> None:
        self.learning_rate = learning_rate
        self.l2 = l2
        self.samples = 0  # resolved cases learned
        self.onsite = 0  # of them, solved on site
        self._model = self._fresh()

    def _fresh(self) -> linear_model.LogisticRegression:
        return linear_model.LogisticRegression(optimizer=optim.SGD(self.learning_rate), l2=self.l2,
                                               intercept_lr=self.learning_rate / 2)

    @property
    def ready(self) -> bool:
        """Whether it has learned enough to be shown and used."""
        return self.samples >= MIN_SAMPLES

    def learn_one(self, report: Report, onsite: bool) -> None:
        """Learn one resolved case: solved on site (True) or at the basic / remote tier (False)."""
        self._model.learn_one(features(report), onsite)
        self.samples += 1
        self.onsite += int(onsite)

    def predict_one(self, report: Report) -> float:
        """The probability that this report needs an engineer on site."""
        probabilities = self._model.predict_proba_one(features(report))  # type: ignore[no-untyped-call]
        return float(probabilities.get(True, 0.0))

    def to_state(self) -> dict[str, Any]:
        """Everything it learned, JSON-ready."""
        return {"version": STATE_VERSION, "learning_rate": self.learning_rate, "l2": self.l2,
                "samples": self.samples, "onsite": self.onsite, "intercept": float(self._model.intercept),
                "weights": {k: float(v) for k, v in dict(self._model._weights).items() if v != 0.0}}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> OnsitePredictor:
        """A predictor from to_state's output; a missing or older state gives a fresh one."""
        if not state or state.get("version") != STATE_VERSION:
            return cls()
        predictor = cls(learning_rate=float(state["learning_rate"]), l2=float(state["l2"]))
        predictor.samples, predictor.onsite = int(state["samples"]), int(state["onsite"])
        predictor._model.intercept = float(state["intercept"])
        for key, value in state["weights"].items():
            predictor._model._weights[key] = float(value)
        return predictor
