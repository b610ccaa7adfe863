"""Scoring rules of the Numenta Anomaly Benchmark (NAB v1.1), written from the published description.

Rules implemented (Lavin & Ahmad 2015, and the NAB repository's documentation):

* The first ``min(floor(0.15 * n), 0.15 * 5000)`` rows of each file are probationary: they are
  never scored, whatever the detector says there.
* Each labelled anomaly window is a run of rows ``[start, end]`` (inclusive).  A detection at row
  ``i`` inside a window of width ``w`` earns ``S(-(end - i + 1) / w) / S(-1) * tpWeight`` where
  ``S(x) = 2 / (1 + exp(5 x)) - 1`` is the scaled sigmoid (``S(x) = -1`` for ``x > 3``).  Only the
  best (earliest) detection of a window counts; an undetected window costs ``-fnWeight``.
* A detection outside every window is a false positive worth ``S(|i - prev_end| / (prev_w - 1)) *
  fpWeight`` after a window (so detections just after a window cost little) and ``-fpWeight`` before
  the first window.  Every false positive counts.
* A row is a detection when its anomaly score is ``>= threshold``.  One threshold per profile is
  chosen for the whole corpus by an exhaustive sweep over every distinct score.
* The corpus score is normalised: ``100 * (raw - null) / (perfect - null)`` with ``null`` the score of
  a detector that never fires (``-fnWeight`` per window) and ``perfect`` ``tpWeight`` per window.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = [
    "CostMatrix",
    "FileLabels",
    "ProfileResult",
    "corpus_score_at",
    "epoch_seconds",
    "load_profiles",
    "load_windows",
    "normalise",
    "prepare_file",
    "probation_length",
    "read_series",
    "scaled_sigmoid",
    "sweep",
]

PROBATION_FRACTION = 0.15


@dataclass(frozen=True)
class CostMatrix:
    """Weights of one NAB application profile."""

    tp: float = 1.0
    fp: float = 0.11
    fn: float = 1.0


@dataclass
class FileLabels:
    """Per-row scoring facts of one data file (independent of the detector and of the profile)."""

    name: str
    n: int
    probation: int
    # window index of each row (-1 = outside every window)
    window_of: list[int] = field(default_factory=list)
    # unweighted row value: scaled-sigmoid TP credit / S(-1) inside windows, FP sigmoid outside
    value: list[float] = field(default_factory=list)
    n_windows: int = 0


@dataclass(frozen=True)
class ProfileResult:
    """Outcome of the threshold sweep for one profile."""

    threshold: float
    raw: float
    normalised: float


def scaled_sigmoid(x: float) -> float:
    """Return NAB's scaled sigmoid ``2 * sigmoid(-5 x) - 1`` (``-1`` for ``x > 3``, as in NAB's sweeper)."""
    if x > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def probation_length(n: int, fraction: float = PROBATION_FRACTION) -> int:
    """Return how many leading rows of an ``n``-row file are probationary (never scored)."""
    return int(min(math.floor(fraction * n), fraction * 5000))


def _parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def prepare_file(name: str, timestamps: Sequence[str], windows: Sequence[Sequence[str]]) -> FileLabels:
    """Precompute window membership and the unweighted TP/FP value of every row of one file."""
    n = len(timestamps)
    ts = [_parse_ts(t) for t in timestamps]
    first: dict[datetime, int] = {}
    for i, t in enumerate(ts):
        first.setdefault(t, i)
    spans: list[tuple[int, int]] = []
    for start_text, end_text in windows:
        t_start, t_end = _parse_ts(start_text), _parse_ts(end_text)
        if t_start in first and t_end in first:
            # NAB's sweeper: a window runs from the first row stamped with its start to the first row
            # stamped with its end (NAB's labeler requires both timestamps to exist in the file)
            spans.append((first[t_start], first[t_end]))
            continue
        rows = [i for i, t in enumerate(ts) if t_start <= t <= t_end]
        if rows:
            spans.append((rows[0], rows[-1]))
    spans.sort()
    window_of = [-1] * n
    value = [0.0] * n
    max_tp = scaled_sigmoid(-1.0)
    prev_end: int | None = None
    prev_width = 0
    k = 0
    i = 0
    while i < n:
        if k < len(spans) and i == spans[k][0]:
            start, end = spans[k]
            width = end - start + 1
            for j in range(start, end + 1):
                window_of[j] = k
                value[j] = scaled_sigmoid(-(end - j + 1) / width) / max_tp
            prev_end, prev_width = end, width
            k += 1
            i = end + 1
            continue
        if prev_end is None:
            value[i] = -1.0
        else:
            value[i] = scaled_sigmoid(abs(i - prev_end) / max(prev_width - 1, 1))
        i += 1
    return FileLabels(name, n, probation_length(n), window_of, value, len(spans))


def _row_points(
    files: Sequence[FileLabels], scores: Mapping[str, Sequence[float]]
) -> tuple[list[float], list[int], list[float]]:
    """Flatten the scorable rows of the corpus: (score, global window id or -1, unweighted value)."""
    s_out: list[float] = []
    w_out: list[int] = []
    v_out: list[float] = []
    offset = 0
    for f in files:
        sc = scores[f.name]
        if len(sc) != f.n:
            raise ValueError(f"{f.name}: {len(sc)} scores for {f.n} rows")
        for i in range(f.probation, f.n):
            s_out.append(float(sc[i]))
            w = f.window_of[i]
            w_out.append(-1 if w < 0 else offset + w)
            v_out.append(f.value[i])
        offset += f.n_windows
    return s_out, w_out, v_out


def _scorable_windows(files: Sequence[FileLabels]) -> int:
    return len({(f.name, w) for f in files for w in f.window_of[f.probation :] if w >= 0})


def normalise(raw: float, n_windows: int, cost: CostMatrix) -> float:
    """Map a raw corpus score to NAB's scale: null detector 0, perfect detector 100."""
    null = -cost.fn * n_windows
    perfect = cost.tp * n_windows
    if perfect == null:
        return 0.0  # no window to find (e.g. one file of artificialNoAnomaly): nothing to normalise by
    return 100.0 * (raw - null) / (perfect - null)


def corpus_score_at(
    files: Sequence[FileLabels], scores: Mapping[str, Sequence[float]], cost: CostMatrix, threshold: float
) -> ProfileResult:
    """Score the corpus with one fixed threshold (a row is a detection when its score >= threshold)."""
    s, w, v = _row_points(files, scores)
    best: dict[int, float] = {}
    fp = 0.0
    for score, win, val in zip(s, w, v, strict=True):
        if score < threshold:
            continue
        if win < 0:
            fp += val * cost.fp
        else:
            credit = val * cost.tp
            if credit > best.get(win, -math.inf):
                best[win] = credit
    n_windows = _scorable_windows(files)
    raw = fp + sum(best.values()) - cost.fn * (n_windows - len(best))
    return ProfileResult(threshold, raw, normalise(raw, n_windows, cost))


def sweep(
    files: Sequence[FileLabels], scores: Mapping[str, Sequence[float]], cost: CostMatrix
) -> ProfileResult:
    """Find the corpus-wide threshold that maximises the raw score (exhaustive over distinct scores)."""
    s, w, v = _row_points(files, scores)
    order = sorted(range(len(s)), key=s.__getitem__, reverse=True)
    n_windows = _scorable_windows(files)
    credit: dict[int, float] = {}
    total = -cost.fn * n_windows
    best_raw, best_thr = total, math.inf  # "never fire" is always available
    k = 0
    m = len(order)
    while k < m:
        thr = s[order[k]]
        while k < m and s[order[k]] == thr:
            j = order[k]
            win = w[j]
            if win < 0:
                total += v[j] * cost.fp
            else:
                c = v[j] * cost.tp
                old = credit.get(win, -cost.fn)
                if c > old:
                    credit[win] = c
                    total += c - old
            k += 1
        if total > best_raw:
            best_raw, best_thr = total, thr
    return ProfileResult(best_thr, best_raw, normalise(best_raw, n_windows, cost))


def load_profiles(path: Path) -> dict[str, CostMatrix]:
    """Read NAB's config/profiles.json into cost matrices."""
    data = json.loads(path.read_text())
    return {
        name: CostMatrix(tp=c["tpWeight"], fp=c["fpWeight"], fn=c["fnWeight"])
        for name, c in ((k, v["CostMatrix"]) for k, v in data.items())
    }


def load_windows(path: Path) -> dict[str, list[list[str]]]:
    """Read NAB's labels/combined_windows.json (file -> list of [start, end] timestamps)."""
    data: dict[str, list[list[str]]] = json.loads(path.read_text())
    return data


def read_series(path: Path) -> tuple[list[str], list[float]]:
    """Read one NAB data file (columns timestamp,value)."""
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        ts: list[str] = []
        vals: list[float] = []
        for row in reader:
            ts.append(row[0])
            vals.append(float(row[1]))
    return ts, vals


def epoch_seconds(text: str) -> float:
    """Convert a NAB timestamp (``YYYY-MM-DD HH:MM:SS``, naive) to seconds, treating it as UTC."""
    return (_parse_ts(text) - _EPOCH).total_seconds()


_EPOCH = datetime(1970, 1, 1)
