"""Why an alert was raised, in numbers a person reads: the level before and since it changed, and what is usual
for this time of day.

"mean 37.0 → 36.4 °C over 6 h; usual for this hour 37.0 ± 0.05 °C (past 7 days)". The numbers come from the
stored readings (minute buckets, so a 6-hour window is 360 rows whatever the sampling rate), never from the
detector's internals: they say what the chart shows, and an engineer can check them on it. Computed when an
alert opens, again when it escalates and when it ends (so a resolved alert explains its whole episode), and kept
on the alert as a dict (`Alert.explanation`); `words()` says it in the reader's language.

Only readings up to the alert's own reading time count, so the same readings explain an alert the same way
whenever it is computed.

A counter (tests run, lamp hours: it only rises) is scored by its rate (models/anomaly/rate.py), and its level
says nothing to a person ("mean 152,340 → 152,345"): it is explained by its rate per hour, "每小时 600 → 0 次（近
45 分钟）；该时段通常每小时 580 ± 40 次". It is told from other streams by its unit (cloud/alerts/streams.py), or,
where the unit says nothing, by its readings in the windows compared: all of them only rise.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from cloud.alerts.streams import kind_switches
from cloud.telemetry.catalog import display_unit
from cloud.telemetry.series import Point, TimeSeriesStore
from models.anomaly.rate import COUNTER, COUNTER_RATIO, stream_kind

SHORTEST_WINDOW = timedelta(minutes=10)  # what the episode is compared with spans at least this
LONGEST_WINDOW = timedelta(hours=6)  # a slow drift is told over its last six hours, as its chart shows it
USUAL_DAYS = 7  # "usual for this hour": the same clock window on each of the week before
BUCKET_S = 60
COUNTS = frozenset({"", "count", "counts", "次", "test", "tests"})  # units that are a plain number of things


@dataclass(frozen=True)
class Explanation:
    """The numbers behind an alert (None where there were no readings to say it)."""

    window_s: int  # how long the recent window is: the episode so far, at most six hours (0: its first reading)
    recent: float  # mean of the recent window
    lowest: float  # its lowest and highest readings (a spike hardly moves a mean)
    highest: float
    before: float | None  # mean of an equally long window just before the alert started
    usual: float | None  # mean of the same clock window on the previous days
    usual_sd: float | None  # how much that varied from day to day (two days at least)
    usual_days: int
    unit: str
    per_hour: bool = False  # a counter: every number above is its rate per hour, not its value

    def as_dict(self) -> dict[str, Any]:
        """The form kept on the alert (JSON)."""
        return asdict(self)


def _mean(points: list[Point]) -> tuple[float, float, float] | None:
    """(mean, lowest, highest) of bucketed points, weighted by each bucket's count; None without readings."""
    total = count = 0.0
    low, high = math.inf, -math.inf
    for p in points:
        if p.value is None or not p.count:
            continue
        total += p.value * p.count
        count += p.count
        low = min(low, p.min if p.min is not None else p.value)
        high = max(high, p.max if p.max is not None else p.value)
    if not count:
        return None
    return total / count, low, high


def _rate(points: list[Point]) -> tuple[float, float, float] | None:
    """(rate per hour, lowest, highest per-bucket rate) of a counter's bucketed points; None with fewer than two
    buckets of readings. A drop (a reset) adds nothing, as in the detector's own rate."""
    seen = [p for p in points if p.count and p.min is not None and p.max is not None]
    if len(seen) < 2:
        return None
    rates = []
    total = 0.0
    for before, after in zip(seen, seen[1:], strict=False):
        rise = max(0.0, after.max - before.max)  # type: ignore[operator]
        total += rise
        rates.append(rise / max((after.at - before.at).total_seconds(), 1.0) * 3600.0)
    hours = max((seen[-1].at - seen[0].at).total_seconds(), 1.0) / 3600.0
    return total / hours, min(rates), max(rates)


def _counts(windows: list[list[Point]], unit: str) -> bool:
    """True when the stream is a counter by the detector's own rule (models/anomaly/rate.stream_kind) applied to the
    readings of the windows compared: its unit first, else they only rise (a reset now and then allowed)."""
    values = [v for points in windows for p in points if p.count and p.min is not None and p.max is not None
              for v in (p.min, p.max)]
    distinct = list(dict.fromkeys(values))[:3]
    inc = dec = 0
    for points in windows:  # moves within each window: the windows are days apart, and not in time order
        seen = [v for p in points if p.count and p.min is not None and p.max is not None for v in (p.min, p.max)]
        inc += sum(1 for a, b in zip(seen, seen[1:], strict=False) if b > a)
        dec += sum(1 for a, b in zip(seen, seen[1:], strict=False) if b < a)
    if not distinct:
        return False
    one_way, said = kind_switches(unit)
    return stream_kind(len(distinct), distinct[0], distinct[1] if len(distinct) > 1 else distinct[0], inc, dec,
                       ratio=COUNTER_RATIO, one_way=one_way, unit_kind=said) == COUNTER


def explain(store: TimeSeriesStore, *, device_id: int, metric: str, started_at: datetime, at: datetime,
            unit: str | None = None) -> Explanation | None:
    """The alert of (device, metric) that started at `started_at`, as of its reading at `at`; None when the store
    holds no numeric readings for its recent window."""
    # The recent window is the episode itself (its last six hours at most), so a step is not diluted by the
    # readings before it; the windows compared with it span at least ten minutes, to hold a few readings.
    span = min(max(at - started_at, timedelta(0)), LONGEST_WINDOW)
    span = timedelta(seconds=int(span.total_seconds()))
    reference = max(span, SHORTEST_WINDOW)
    end = at + timedelta(microseconds=1)  # the alert's own reading counts (the store's ranges end before `end`)

    unit = display_unit(metric, unit)
    # The windows compared: the recent one (at least two buckets, so a counter has a rate), the one before it, and
    # the same clock window on each of the days before.
    recent_start = min(at - span, end - timedelta(seconds=2 * BUCKET_S))
    windows = [(recent_start, end), (at - span - reference, at - span),
               *((end - reference - timedelta(days=d), end - timedelta(days=d)) for d in range(1, USUAL_DAYS + 1))]
    points = [store.query(device_id, metric, start, stop, bucket_seconds=BUCKET_S) for start, stop in windows]
    per_hour = _counts(points, unit)
    summarise = _rate if per_hour else _mean
    if not per_hour and recent_start != at - span:  # a level's recent window is the episode alone
        points[0] = store.query(device_id, metric, at - span, end, bucket_seconds=BUCKET_S)
    recent = summarise(points[0])
    if recent is None:
        return None
    before = summarise(points[1])
    days = [m[0] for window in points[2:] if (m := summarise(window)) is not None]
    return Explanation(
        window_s=int(span.total_seconds()), recent=recent[0], lowest=recent[1], highest=recent[2],
        before=before[0] if before else None, usual=statistics.fmean(days) if days else None,
        usual_sd=statistics.stdev(days) if len(days) >= 2 else None, usual_days=len(days), unit=unit,
        per_hour=per_hour)


def from_dict(data: dict[str, Any] | None) -> Explanation | None:
    """The kept form back (None for an alert from before explanations, or a malformed one)."""
    if not data:
        return None
    try:
        return Explanation(**data)
    except TypeError:
        return None


# --- words ----------------------------------------------------------------------------------------------------


def _decimals(step: float) -> int:
    """How many decimals show a difference of `step` with one significant digit (0 to 4)."""
    if step <= 0 or not math.isfinite(step):
        return 1
    return max(0, min(4, -math.floor(math.log10(step))))


def _duration(seconds: int, zh: bool) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} 分钟" if zh else f"{minutes} min"
    hours = minutes / 60
    text = f"{hours:.1f}".rstrip("0").rstrip(".")
    return f"{text} 小时" if zh else f"{text} h"


def words(explanation: Explanation, language: str = "zh-CN") -> str:
    """The explanation as one sentence in the reader's language (zh-CN, or English)."""
    zh = not language.lower().startswith("en")
    e = explanation
    reference = e.usual if e.usual is not None else e.before
    change = abs(e.recent - reference) if reference is not None else 0.0
    # Means to the change's first significant digit (37.0 → 36.4), the spread to its own (± 0.05).
    digits = _decimals(change) if change > 0 else _decimals(e.usual_sd or 0.0)
    unit = f" {e.unit}" if e.unit else ""
    if e.per_hour:  # a counter's rate: whole counts per hour read best ("600 → 0 次/小时")
        digits = 0 if max(abs(e.recent), abs(reference or 0.0)) >= 10 else max(digits, 1)
        counted = "" if e.unit.strip().lower() in COUNTS else e.unit
        unit = (f" {counted}/小时" if counted else " 次/小时") if zh else (f" {counted}/h" if counted else " per hour")

    def num(value: float, places: int = digits) -> str:
        return f"{value:.{places}f}"

    if e.window_s < 60:  # the alert's first reading
        span = "最新读数" if zh else "latest reading"
        if e.before is not None:
            level = (f"均值 {num(e.before)} → {num(e.recent)}{unit}（{span}）" if zh
                     else f"mean {num(e.before)} → {num(e.recent)}{unit} ({span})")
        else:
            level = f"{span} {num(e.recent)}{unit}"
    else:
        span = _duration(e.window_s, zh)
        if e.before is not None:
            level = (f"均值 {num(e.before)} → {num(e.recent)}{unit}（近 {span}）" if zh
                     else f"mean {num(e.before)} → {num(e.recent)}{unit} over {span}")
        else:
            level = f"近 {span} 均值 {num(e.recent)}{unit}" if zh else f"mean {num(e.recent)}{unit} over {span}"
    parts = [level]
    # A spike hardly moves a mean: name the extreme reading when it strayed much further than the mean did.
    if reference is not None:
        far = max((e.lowest, e.highest), key=lambda v: abs(v - reference))
        if abs(far - reference) > 3 * max(change, (e.usual_sd or 0.0)) and far != e.recent:
            high = far > reference
            parts.append((f"最{'高' if high else '低'} {num(far)}{unit}") if zh
                         else f"{'peak' if high else 'low'} {num(far)}{unit}")
    if e.usual is not None:
        if e.usual_sd is not None:
            sd = f"{e.usual_sd:.{_decimals(e.usual_sd)}f}" if e.usual_sd > 0 else "0"
            parts.append(f"该时段通常为 {num(e.usual)} ± {sd}{unit}（前 {e.usual_days} 天）" if zh
                         else f"usual for this hour {num(e.usual)} ± {sd}{unit} (past {e.usual_days} days)")
        else:
            parts.append(f"往日同一时段 {num(e.usual)}{unit}（仅 1 天）" if zh
                         else f"same hours on one earlier day {num(e.usual)}{unit}")
    else:
        parts.append("尚无往日同一时段的数据" if zh else "no earlier days to compare this hour with")
    return ("；" if zh else "; ").join(parts)


def _signal_words(data: dict[str, Any], zh: bool) -> str:
    """A signal alert's reason (cloud/alerts/signals.py): the failed tests of a control run, the codes of a burst."""
    if data.get("kind") == "error_codes":
        minutes = round(int(data.get("window_s", 0)) / 60)
        codes = ("、" if zh else ", ").join(f"{code or '?'} ×{n}" for code, n in data.get("codes", []))
        return (f"{minutes} 分钟内报错 {data.get('count', 0)} 次：{codes}" if zh
                else f"{data.get('count', 0)} error codes in {minutes} min: {codes}")
    tests = ("、" if zh else ", ").join(data.get("failed_tests") or []) or (data.get("code") or "")
    if data.get("kind") == "calibration":
        return f"校准未通过：{tests}" if zh else f"calibration failed: {tests}"
    return f"质控未通过：{tests}" if zh else f"QC failed: {tests}"


def describe(data: dict[str, Any] | None, language: str = "zh-CN") -> str:
    """An alert's kept explanation (Alert.explanation) in the reader's words; "" when it has none."""
    if not data:
        return ""
    if data.get("kind") in {"qc", "calibration", "error_codes"}:
        return _signal_words(data, not language.lower().startswith("en"))
    found = from_dict(data)
    return words(found, language) if found else ""
