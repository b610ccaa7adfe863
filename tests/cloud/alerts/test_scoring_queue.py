"""Scoring off the request thread: the ingest only queues; one thread drains several batches per feed; a full
queue holds the ingest back rather than dropping readings; shutdown scores what is queued, then checkpoints."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.models import DetectorState
from cloud.config import Settings
from cloud.main import create_app
from models.anomaly import production_detector
from tests.cloud.alerts.conftest import BATCH, Lab, normal


class Gate:
    """Holds every detector update until opened, so a test can keep the scorer busy."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()
        cls = type(production_detector())
        original = cls.score_learn_one

        def held(detector: Any, x: float, t: float | None = None, **context: Any) -> float:
            self.entered.set()
            assert self.opened.wait(30), "the gate was never opened"
            return original(detector, x, t, **context)

        monkeypatch.setattr(cls, "score_learn_one", held)

    def open(self) -> None:
        """Let scoring go on."""
        self.opened.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    """A closed gate in front of every detector (opened at the end whatever happens)."""
    g = Gate(monkeypatch)
    yield g
    g.open()


def in_thread(work: Any) -> threading.Thread:
    """Run work() in a daemon thread, started."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def points(db: Session, lab: Lab) -> int | None:
    """Readings the stream's checkpoint covers (None: no checkpoint)."""
    db.rollback()
    row = db.execute(select(DetectorState).where(DetectorState.device_id == lab.devices["c702"])).scalar()
    return None if row is None else row.points


def test_the_ingest_answers_while_the_scorer_is_still_busy(client: TestClient, lab: Lab, gate: Gate) -> None:
    sent = in_thread(lambda: lab.send(client, normal(3 * BATCH, 1), wait=False))
    sent.join(10)
    assert not sent.is_alive(), "the ingest waited for scoring"
    assert gate.entered.wait(10)  # the scorer is stuck inside the first reading meanwhile
    scorer = client.app.state.scorer  # type: ignore[attr-defined]
    assert scorer.queued == 3 * BATCH
    assert not scorer.wait_idle(0.1)
    gate.open()
    assert scorer.wait_idle(30)
    assert scorer.streams[(lab.devices["c702"], "temp_c")].points == 3 * BATCH


def test_batches_waiting_together_are_scored_in_one_feed(client: TestClient, lab: Lab, gate: Gate) -> None:
    scorer = client.app.state.scorer  # type: ignore[attr-defined]
    feeds: list[int] = []
    original = scorer.feed_batches

    def counting(batches: Any) -> Any:
        batches = list(batches)
        feeds.append(len(batches))
        return original(batches)

    scorer.feed_batches = counting
    lab.send(client, normal(BATCH, 1), wait=False)
    assert gate.entered.wait(10)  # the first batch is being scored; the next four wait in the queue
    lab.send(client, normal(4 * BATCH, 2), wait=False)
    gate.open()
    assert scorer.wait_idle(30)
    assert feeds == [1, 4]
    assert scorer.streams[(lab.devices["c702"], "temp_c")].points == 5 * BATCH


@pytest.fixture
def small_queue(settings: Settings) -> Settings:
    """Room for 150 queued readings; an ingest waits at most 0.5 s for more."""
    return settings.model_copy(update={"scoring_queue_max_readings": 150, "scoring_queue_block_s": 0.5})


def test_a_full_queue_holds_the_ingest_back_and_never_drops_readings(
        small_queue: Settings, lab: Lab, gate: Gate, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(small_queue)
    scorer = app.state.scorer
    with TestClient(app) as client:
        lab.send(client, normal(BATCH, 1), wait=False)  # 100 queued, the scorer stuck on the first one
        assert gate.entered.wait(10)
        second = in_thread(lambda: lab.send(client, normal(BATCH, 2), wait=False))  # 200 > 150: it must wait
        second.join(0.25)
        assert second.is_alive(), "a full queue did not hold the ingest back"
        gate.open()  # room again: the waiting ingest goes on at once
        second.join(10)
        assert not second.is_alive()
        assert scorer.wait_idle(30)
        assert scorer.streams[(lab.devices["c702"], "temp_c")].points == 2 * BATCH

        # A scorer that does not make room within scoring_queue_block_s: queued over the bound, said so, kept.
        gate.opened.clear()
        gate.entered.clear()
        lab.send(client, normal(BATCH, 3), wait=False)
        assert gate.entered.wait(10)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="medfix.alerts.scoring"):
            lab.send(client, normal(2 * BATCH, 4), wait=False)
        assert 0.9 <= time.monotonic() - started < 5  # each of its two batches waited 0.5 s
        assert len([r for r in caplog.records if "scoring queue full" in r.getMessage()]) == 1  # said once
        assert scorer.queued == 3 * BATCH
        gate.open()
        assert scorer.wait_idle(30)
        assert scorer.streams[(lab.devices["c702"], "temp_c")].points == 5 * BATCH


def test_shutdown_scores_what_is_queued_then_checkpoints(settings: Settings, db: Session, lab: Lab,
                                                         gate: Gate) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        lab.send(client, normal(3 * BATCH, 1), wait=False)
        assert gate.entered.wait(10)
        in_thread(lambda: (time.sleep(0.3), gate.open()))
    # The lifespan ended only after the queue was empty and the checkpoint written.
    assert app.state.scorer.queued == 0
    assert points(db, lab) == 3 * BATCH


def test_without_a_running_scoring_thread_the_batch_is_scored_at_once(app: Any, db: Session, lab: Lab) -> None:
    client = TestClient(app)  # no lifespan: nothing started the scoring thread (a script, a one-off tool)
    lab.send(client, normal(BATCH, 1), wait=False)
    assert app.state.scorer.streams[(lab.devices["c702"], "temp_c")].points == BATCH
