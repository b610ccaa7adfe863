"""Redis down at hand-over time: the committed batch waits in the publisher's bounded retry list and is scored
once Redis answers again, in order, as if nothing had happened."""

from __future__ import annotations

import logging
import pickle
import time
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.partition import Keys, Publisher
from cloud.alerts.scoring import Scorer
from cloud.config import Settings
from tests.cloud.alerts.test_partition import (
    PARTITIONS,
    batches,
    devices,
    event,
    prefix,  # noqa: F401 - fixture
    redis_client,  # noqa: F401 - fixture
    sessions,  # noqa: F401 - fixture
    settle,
    worker,
)
from tests.cloud.world import World
from tests.edge.cloud_server import free_port


def dead_redis() -> Any:
    """A client of a port nobody listens on: every command fails at once."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))


def wait_handed_over(publisher: Publisher) -> None:
    """Wait for the background retry to empty the publisher's list."""
    deadline = time.monotonic() + 10
    while publisher.pending and time.monotonic() < deadline:
        time.sleep(0.02)
    assert publisher.pending == 0


def test_batches_that_cannot_be_handed_over_wait_and_are_scored_in_order_once_redis_is_back(
        sessions: sessionmaker[Session], settings: Settings, world: World, prefix: str, redis_client: Any,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    reference = Scorer(sessions, settings)
    a = worker(sessions, settings, prefix, "a")
    settle(a)
    publisher = Publisher(redis_client, prefix=prefix, partitions=PARTITIONS, retry_s=0.05)
    sent = batches(devices(world), 0, 300)
    for batch in sent[:2]:
        reference.feed(batch)
        publisher.on_ingested(event(batch))
    publisher.redis = dead_redis()  # Redis goes away
    with caplog.at_level(logging.WARNING, logger="medfix.alerts.partition"):
        for batch in sent[2:5]:  # each fails after its ingest committed; none may raise into the ingest
            reference.feed(batch)
            publisher.on_ingested(event(batch))
    assert publisher.pending == sum(len(b) for b in sent[2:5])
    assert len([r for r in caplog.records if "could not hand readings" in r.getMessage()]) == 1  # logged once
    settle(a)
    reference.feed(sent[5])
    publisher.on_ingested(event(sent[5]))  # still down: it waits behind the others
    publisher.redis = redis_client  # back: the retry hands everything over, oldest first, with no new ingest
    wait_handed_over(publisher)
    settle(a)
    for key, expected in reference.streams.items():
        got = a.scorer.streams[key]
        assert got.points == expected.points == 300
        assert pickle.dumps(got.detector) == pickle.dumps(expected.detector)
    a.stop()


def test_the_backlog_is_bounded_and_what_falls_off_is_said(
        world: World, prefix: str, redis_client: Any, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    sent = batches(devices(world), 0, 200)
    size = len(sent[0])
    publisher = Publisher(dead_redis(), prefix=prefix, partitions=PARTITIONS, max_pending=3 * size, retry_s=3600)
    with caplog.at_level(logging.ERROR, logger="medfix.alerts.partition"):
        for batch in sent:  # 4 batches, room for 3: the oldest goes, loudly
            publisher.on_ingested(event(batch))
    assert publisher.pending == 3 * size
    assert publisher.dropped == size
    assert [r for r in caplog.records if "dropped the oldest" in r.getMessage()]
    publisher.redis = redis_client
    assert publisher.flush()
    assert publisher.pending == 0
    keys = Keys(prefix)
    assert sum(redis_client.xlen(keys.stream(p)) for p in range(PARTITIONS)) == 3 * PARTITIONS
    publisher.close()
