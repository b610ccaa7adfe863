"""Unit tests of medfix's own implementation of the NAB scoring rules, on small synthetic corpora."""

from __future__ import annotations

import math

import pytest

from models.anomaly import nab

STANDARD = nab.CostMatrix(tp=1.0, fp=0.11, fn=1.0)
LOW_FN = nab.CostMatrix(tp=1.0, fp=0.11, fn=2.0)


def _timestamps(n: int) -> list[str]:
    return [f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00" for i in range(n)]


def _file(
    name: str = "cat/a.csv", n: int = 200, windows: tuple[tuple[int, int], ...] = ((100, 119),)
) -> nab.FileLabels:
    ts = _timestamps(n)
    return nab.prepare_file(name, ts, [[ts[a] + ".000000", ts[b] + ".000000"] for a, b in windows])


def test_scaled_sigmoid_matches_published_points() -> None:
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert nab.scaled_sigmoid(0.0) == 0.0
    assert nab.scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(3.0) == pytest.approx(-1.0, abs=1e-6)  # NAB clips only for x > 3
    assert nab.scaled_sigmoid(3.01) == -1.0


def test_probation_is_fifteen_percent_capped_at_750() -> None:
    assert nab.probation_length(4032) == 604
    assert nab.probation_length(22695) == 750
    assert nab.probation_length(10) == 1


def test_window_rows_and_values() -> None:
    f = _file()
    assert f.n_windows == 1 and f.probation == 30
    assert [i for i, w in enumerate(f.window_of) if w == 0] == list(range(100, 120))
    assert f.value[100] == pytest.approx(1.0)  # earliest detection earns the full tpWeight
    assert f.value[99] == -1.0  # before any window a false positive costs the full fpWeight
    assert -0.2 < f.value[120] < 0.0  # just after the window: a small penalty


def test_perfect_detector_scores_100_and_null_scores_0() -> None:
    files = [_file("c/a.csv"), _file("c/b.csv", windows=((50, 59), (150, 169)))]
    perfect = {f.name: [1.0 if w >= 0 and (i == 0 or f.window_of[i - 1] != w) else 0.0
                        for i, w in enumerate(f.window_of)] for f in files}
    null = {f.name: [0.0] * f.n for f in files}
    for cost in (STANDARD, LOW_FN):
        assert nab.sweep(files, perfect, cost).normalised == pytest.approx(100.0)
        assert nab.sweep(files, null, cost).normalised == pytest.approx(0.0)


def test_late_detection_earns_less_than_early_one() -> None:
    f = _file()
    early = [0.0] * f.n
    late = [0.0] * f.n
    early[102] = 1.0
    late[118] = 1.0
    e = nab.corpus_score_at([f], {f.name: early}, STANDARD, 0.5)
    lt = nab.corpus_score_at([f], {f.name: late}, STANDARD, 0.5)
    assert 0.0 < lt.raw < e.raw <= 1.0


def test_false_positives_cost_fp_weight_and_probation_is_ignored() -> None:
    f = _file()
    s = [0.0] * f.n
    s[10] = 1.0  # probationary: ignored
    s[60] = 1.0  # before the first window: -fpWeight
    r = nab.corpus_score_at([f], {f.name: s}, STANDARD, 0.5)
    assert r.raw == pytest.approx(-1.0 - 0.11)
    assert r.normalised == pytest.approx(100.0 * (r.raw + 1.0) / 2.0)


def test_false_positive_right_after_window_is_cheap() -> None:
    f = _file()
    assert -0.11 < f.value[121] * 0.11 < 0.0
    assert f.value[121] > f.value[160]


def test_sweep_picks_the_best_threshold() -> None:
    f = _file()
    s = [0.1] * f.n
    s[105] = 0.9  # a true detection
    s[60] = 0.8  # a false one just below it
    best = nab.sweep([f], {f.name: s}, STANDARD)
    assert best.threshold == 0.9
    one_window = nab.scaled_sigmoid(-15 / 20) / nab.scaled_sigmoid(-1.0)
    assert best.raw == pytest.approx(one_window)


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    f = _file()
    s = [0.0] * f.n
    for i in range(100, 120):
        s[i] = 1.0
    r = nab.corpus_score_at([f], {f.name: s}, STANDARD, 1.0)
    assert r.raw == pytest.approx(1.0)
    assert math.isclose(r.normalised, 100.0)


def test_length_mismatch_is_rejected() -> None:
    f = _file()
    with pytest.raises(ValueError):
        nab.sweep([f], {f.name: [0.0]}, STANDARD)


def test_window_spans_first_row_of_each_stamp_like_nab() -> None:
    ts = _timestamps(50)
    ts = ts[:20] + [ts[19]] + ts[20:49]  # a repeated timestamp before the window
    f = nab.prepare_file("c/d.csv", ts, [[ts[30] + ".000000", ts[34]]])
    assert [i for i, w in enumerate(f.window_of) if w == 0] == list(range(30, 35))


def test_normalise_without_windows_is_zero() -> None:
    assert nab.normalise(-0.33, 0, STANDARD) == 0.0
