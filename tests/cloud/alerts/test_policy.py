"""The alert rules on their own: min duration, hysteresis, resolve delay, cooldown, silencing, feedback."""

from __future__ import annotations

from cloud.alerts.models import AlertSeverity
from cloud.alerts.policy import Rules, Tracker, Verdict, raise_notch, severity_for


def run(tracker: Tracker, rules: Rules, scores: list[float], *, start: float = 0.0, step: float = 10.0,
        silenced: bool = False) -> list[Verdict]:
    return [tracker.step(s, start + i * step, rules, silenced=silenced) for i, s in enumerate(scores)]


def test_first_hot_score_opens_without_min_duration() -> None:
    assert run(Tracker(), Rules(), [0.1, 0.6]) == [Verdict.normal, Verdict.opened]


def test_min_duration_needs_the_stream_to_stay_abnormal() -> None:
    rules = Rules(min_duration_s=20)
    assert run(Tracker(), rules, [0.6, 0.45, 0.1, 0.0]) == [Verdict.pending, Verdict.pending, Verdict.normal,
                                                            Verdict.normal]
    assert run(Tracker(), rules, [0.6, 0.45, 0.42]) == [Verdict.pending, Verdict.pending, Verdict.opened]


def test_hysteresis_keeps_an_open_alert_and_resolve_after_ends_it() -> None:
    tracker = Tracker()
    rules = Rules(hysteresis=0.1, resolve_after_s=30)
    verdicts = run(tracker, rules, [0.7, 0.45, 0.3, 0.3, 0.3, 0.3])
    assert verdicts == [Verdict.opened, Verdict.abnormal, Verdict.normal, Verdict.normal, Verdict.resolved,
                        Verdict.normal]


def test_cooldown_after_an_alert_suppresses_the_next_hot_score() -> None:
    tracker = Tracker()
    rules = Rules(resolve_after_s=10, cooldown_s=100)
    run(tracker, rules, [0.9, 0.0])
    assert tracker.step(0.9, 50.0, rules) == Verdict.cooling
    assert tracker.step(0.9, 120.0, rules) == Verdict.opened


def test_silenced_or_disabled_streams_open_nothing() -> None:
    assert run(Tracker(), Rules(), [0.9, 0.9], silenced=True) == [Verdict.silenced] * 2
    assert run(Tracker(), Rules(enabled=False), [0.9]) == [Verdict.silenced]


def test_severity_and_feedback_notch() -> None:
    assert [severity_for(s) for s in (0.5, 0.75, 0.95)] == [AlertSeverity.warning, AlertSeverity.major,
                                                           AlertSeverity.critical]
    assert raise_notch(0.5) == 0.55
    assert raise_notch(0.94) == 0.95 == raise_notch(0.95)


def test_a_new_stream_opens_nothing_while_it_learns() -> None:
    rules = Rules(learning_s=3600)
    tracker = Tracker()
    assert run(tracker, rules, [0.1, 0.9, 0.9], start=1000.0) == [Verdict.learning] * 3  # its first hour
    assert tracker.step(0.9, 1000.0 + 3590, rules) == Verdict.learning
    assert tracker.step(0.9, 1000.0 + 3600, rules) == Verdict.opened  # an hour after its first reading
    assert tracker.step(0.1, 1000.0 + 3700, rules) == Verdict.normal
