"""One (device, metric) stream as the Scorer keeps it: detector, alert tracker, the readings it holds back until
they can be scored in reading-time order, and what a checkpoint saves of it (cloud/alerts/scoring.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from cloud.alerts.policy import Tracker
from models.anomaly import Detector


class Sample(NamedTuple):
    """One reading to score: the device, the metric, its time (epoch seconds) and value.

    A plain tuple, so the event's (device_id, metric, epoch_t, value) tuples are Samples already.
    """

    device_id: int
    metric: str
    t: float
    value: float


Batch = tuple[int | None, Sequence[Sequence[Any]]]  # (gateway_id, samples as (device_id, metric, t, value))
Row = tuple[float, int, str, float, int | None]  # (t, device_id, metric, value, gateway_id)

class UnitKind(StrEnum):
    """What a reading's unit says about its stream (models/anomaly/context.py, stream kinds)."""

    quantity = "quantity"  # a physical quantity: never a counter nor a one-way level, however it moves
    level = "level"  # how much is left or filled: scored as a level; its consumption when it moves one way
    counter = "counter"  # a count that only grows (between resets): scored by its rate


# Units of physical quantities. A stream in one of these is never a counter, however it moves: a regulated
# temperature read at 0.1 °C that sits at 37.0 and then creeps up one way looks exactly like a lamp-hours
# counter to the detector, and must be scored as the drift it is.
MEASURED_UNITS = frozenset({
    "°c", "℃", "degc", "c", "k", "°f", "℉", "degf",  # temperature
    "pa", "hpa", "kpa", "mpa", "bar", "mbar", "psi", "mmhg", "mmh2o", "cmh2o", "inh2o", "atm",  # pressure
    "v", "mv", "kv", "a", "ma", "µa", "ua", "w", "kw", "ω", "ohm",  # electrical
    "hz", "rpm", "l/min", "ml/min", "µl/min", "ul/min",  # rates of a running machine
    "mabs", "abs", "µs/cm", "us/cm",  # a photometer's absorbance, water conductivity
})
# Units of a level: what is left (reagent %, volume) or filled (a waste container), or a humidity. A level that
# falls between refills has a counter's shape; it is scored by its consumption (one-sided), never as a counter.
LEVEL_UNITS = frozenset({"%", "%rh", "rh%", "ml", "µl", "ul", "l"})
# Units of counts that only grow: tests run, lamp hours, cycles. A "count" that moves both ways (errors this
# minute, samples queued) is still scored as a plain stream: the detector checks the shape too.
COUNTER_UNITS = frozenset({"count", "counts", "tests", "test", "次", "h", "hours", "hrs", "cycles", "cycle"})
_UNIT_KINDS = {**dict.fromkeys(MEASURED_UNITS, UnitKind.quantity), **dict.fromkeys(LEVEL_UNITS, UnitKind.level),
               **dict.fromkeys(COUNTER_UNITS, UnitKind.counter)}


def unit_kind(unit: str | None) -> UnitKind | None:
    """What a reading's unit says its stream is; None when it says nothing (no unit, or one not listed here)."""
    return _UNIT_KINDS.get(unit.strip().lower().replace(" ", "")) if unit else None


def measures_a_quantity(unit: str | None) -> bool:
    """True when a reading's unit names a physical quantity (never a counter)."""
    return unit_kind(unit) is UnitKind.quantity


@dataclass
class Stream:
    """A stream's detector and alert tracker in memory, with the readings it holds back (see `release`)."""

    detector: Detector
    tracker: Tracker = field(default_factory=Tracker)
    points: int = 0
    last_t: float | None = None  # the last scored reading
    alert_id: int | None = None
    last_score: float = 0.0
    dirty: bool = False
    pending: dict[float, tuple[float, int | None]] = field(default_factory=dict)  # t -> (value, gateway)

    def hold(self, got: Iterable[tuple[float, float, int | None]]) -> None:
        """Add readings to the held-back ones; skip those not newer than the last scored reading."""
        last = self.last_t
        pending = self.pending
        for t, v, g in got:
            if last is not None and t <= last:
                continue  # a re-send, or later than the lateness tolerance: the stream is scored past it
            if t not in pending:  # the first of two readings at one instant wins, as in the reading table
                pending[t] = (v, g)

    def release(self, key: tuple[int, str], lateness_s: float, rows: list[Row]) -> None:
        """Move the held-back readings at least `lateness_s` older than the stream's newest into rows (unordered).

        The watermark is the stream's own reading time, never the clock or the arrival: which readings are
        scored, and in which order, depends only on which readings arrived, provided each arrives less than the
        tolerance behind its stream's newest (docs/timeseries.md). The newest readings wait for later ones. The
        newest reading is the newest held one: `hold` keeps only readings newer than the last scored one. The
        caller sorts the rows of all its streams together.
        """
        pending = self.pending
        if not pending:
            return
        cut = max(pending) - lateness_s
        ready = [t for t in pending if t <= cut]
        d, m = key
        for t in ready:
            v, g = pending.pop(t)
            rows.append((t, d, m, v, g))


@dataclass
class Saved:
    """What a checkpoint holds of a stream, as of its last scored reading: detector, alert tracker, open alert.

    The tracker goes with the detector so a restored stream replays its readings from the very state it had
    then: restoring it from today's alert rows instead would re-decide the replayed readings against decisions
    made after them (an alert resolved, then a second one opened for the same episode).
    """

    detector: Detector
    tracker: Tracker
    alert_id: int | None


def kind_switches(unit: str | None) -> tuple[bool, str]:
    """What a unit lets the stream kinds (models/anomaly/rate.stream_kind) decide: whether the stream may be one-way
    at all (not a physical quantity), and what the unit says it is ("counter", "level"; "": the shape decides)."""
    kind = unit_kind(unit)
    return kind is not UnitKind.quantity, kind.value if kind is UnitKind.level or kind is UnitKind.counter else ""


def apply_unit(detector: Detector, unit: str | None) -> None:
    """Tell a stream's detector what its unit says it is (the unit decides over the shape; none: the shape does)."""
    # Only detectors with stream kinds have the switches (the gaussian baseline has none).
    if unit is None or not hasattr(detector, "counters"):
        return
    detector.counters, detector.unit_kind = kind_switches(unit)
