"""The alert rules, pure: when a stream's scores open an alert, keep it open, resolve it; severity and feedback.

Times are stream times (the readings' own timestamps, epoch seconds), so replays and late uploads follow the
same rules as live data. The production detector already turns one incident into one score pulse (it rests
after a hit and re-learns a lasting level shift), so the rules here are thin on purpose:

- *hot*: score >= threshold (the policy's sensitivity, else the detector's own, 0.5 = p 1e-5).
- *abnormal*: score >= threshold - hysteresis (the clear level); a stream stays abnormal while it stays there.
- An episode starts at a hot score and must stay abnormal for min_duration_s before an alert opens
  (0 = at the first hot score).
- An open alert resolves once the stream has not been abnormal for resolve_after_s.
- After an alert ends, hot scores within cooldown_s open nothing (the return to normal is itself a surprise).
- A silenced stream (maintenance window, gateway known offline) or a disabled policy opens nothing.
- A new stream opens nothing for its first learning_s of readings (stream time): its detector is still finding
  out what normal is for it (the first shift after a quiet night was the first day's false alarm on the analyzer
  bench, 22 of them, none a fault). The analyzer's own signals (failed QC, error bursts) alert from the start.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cloud.alerts.models import AlertSeverity
from cloud.tickets.models import Urgency

NOTCH = 0.05  # one false alarm raises the stream's threshold by this much (half a decade of p)
MAX_SENSITIVITY = 0.95
SEVERITY_LEVELS = ((0.9, AlertSeverity.critical), (0.7, AlertSeverity.major))
SEVERITY_URGENCY = {AlertSeverity.warning: Urgency.normal, AlertSeverity.major: Urgency.high,
                    AlertSeverity.critical: Urgency.critical}
SEVERITY_RANK = {AlertSeverity.warning: 0, AlertSeverity.major: 1, AlertSeverity.critical: 2}


@dataclass(frozen=True)
class Rules:
    """The effective policy of one stream."""

    threshold: float = 0.5
    min_duration_s: float = 0.0
    hysteresis: float = 0.1
    cooldown_s: float = 1800.0
    resolve_after_s: float = 600.0
    enabled: bool = True
    learning_s: float = 0.0

    @property
    def clear_level(self) -> float:
        """Below this score the stream counts as normal again."""
        return max(0.0, self.threshold - self.hysteresis)


class Verdict(enum.StrEnum):
    """What one score means for the stream's alert."""

    normal = "normal"  # nothing going on (or an open alert waiting to resolve)
    pending = "pending"  # an episode that has not lasted min_duration yet
    opened = "opened"  # open an alert now
    abnormal = "abnormal"  # the open alert's stream is still abnormal
    resolved = "resolved"  # the open alert's stream has been normal long enough
    silenced = "silenced"  # maintenance window, gateway offline, or policy disabled
    learning = "learning"  # the stream's first learning_s: nothing opens yet
    cooling = "cooling"  # hot, but within the cooldown after the last alert


@dataclass
class Tracker:
    """One stream's alert state between readings."""

    pending_since: float | None = None
    alert_open: bool = False
    last_abnormal: float = 0.0
    cool_from: float | None = None  # when the last alert's stream was last abnormal
    first_t: float | None = None  # the stream's first reading (its learning period runs from it)

    def step(self, score: float, t: float, rules: Rules, *, silenced: bool = False) -> Verdict:
        """Apply the rules to one score at stream time t."""
        abnormal = score >= rules.clear_level
        if self.first_t is None:
            self.first_t = t
        if not self.alert_open and t - self.first_t < rules.learning_s:
            self.pending_since = None
            return Verdict.learning
        if self.alert_open:
            if abnormal:
                self.last_abnormal = t
                return Verdict.abnormal
            if t - self.last_abnormal >= rules.resolve_after_s:
                self.close()
                return Verdict.resolved
            return Verdict.normal
        if silenced or not rules.enabled:
            self.pending_since = None
            return Verdict.silenced
        if self.pending_since is None:
            if score < rules.threshold:
                return Verdict.normal
            if self.cool_from is not None and t - self.cool_from < rules.cooldown_s:
                return Verdict.cooling
            self.pending_since = t
        elif not abnormal:
            self.pending_since = None  # a blip that did not last
            return Verdict.normal
        if t - self.pending_since < rules.min_duration_s:
            return Verdict.pending
        self.pending_since = None
        self.alert_open = True
        self.last_abnormal = t
        return Verdict.opened

    def close(self) -> None:
        """The alert ended (recovered, or closed by a person): the cooldown runs from its last abnormal score."""
        self.alert_open = False
        self.pending_since = None
        self.cool_from = self.last_abnormal

    def adopt(self, last_abnormal: float) -> None:
        """Carry on an alert that is open in the database (after a restart, or opened by another worker)."""
        self.alert_open = True
        self.pending_since = None
        self.last_abnormal = last_abnormal


def severity_for(score: float) -> AlertSeverity:
    """The severity of an alert whose strongest score is score."""
    for level, severity in SEVERITY_LEVELS:
        if score >= level:
            return severity
    return AlertSeverity.warning


def raise_notch(threshold: float) -> float:
    """The threshold after one false alarm: a notch higher, never out of reach."""
    return round(min(MAX_SENSITIVITY, threshold + NOTCH), 4)
