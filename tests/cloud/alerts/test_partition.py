"""Two scoring workers split the devices through Redis leases; a dead worker's partitions move with their state."""

from __future__ import annotations

import pickle
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.models import DetectorState
from cloud.alerts.partition import Keys, Publisher, ScoringWorker, partition_of
from cloud.alerts.scoring import INGESTED, Scorer
from cloud.alerts.streams import Sample
from cloud.config import Settings
from cloud.events import DomainEvent
from tests.cloud.world import World
from tests.conftest import need, port_open

PARTITIONS = 4
LEASE_MS = 2000  # long enough that a loaded CI box (slow first queries) never loses a lease mid-test
METRICS = ("temp_c", "pressure_kpa")


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """A client of the local Redis."""
    need(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: Any) -> Iterator[str]:
    """A key prefix of this test alone, deleted afterwards."""
    name = f"test:scoring:{uuid.uuid4().hex}"
    yield name
    keys = list(redis_client.scan_iter(match=f"{name}:*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def sessions(app: Any) -> sessionmaker[Session]:
    """The app's sessionmaker (the app itself scores nothing here: nothing goes through its ingest)."""
    return app.state.sessionmaker  # type: ignore[no-any-return]


def devices(world: World) -> list[int]:
    """Every device of the world, so each partition has some."""
    return [*world.devices_a, *world.devices_b]


def batches(device_ids: list[int], start: int, n: int, size: int = 50) -> list[list[Sample]]:
    """n steady readings of every (device, metric) stream from step start on, in batches of size steps."""
    out = []
    for offset in range(start, start + n, size):
        batch = []
        for step in range(offset, min(offset + size, start + n)):
            for d in device_ids:
                for m in METRICS:
                    rng = random.Random(hash((d, m, step)))
                    batch.append(Sample(d, m, 1_767_225_600.0 + 10 * step, 37.0 + rng.gauss(0.0, 0.05)))
        out.append(batch)
    return out


def event(samples: list[Sample]) -> DomainEvent:
    """The telemetry.ingested event the ingest emits for samples."""
    return DomainEvent(INGESTED, {"gateway_id": None, "samples": [(s.device_id, s.metric, s.t, s.value)
                                                                  for s in samples]})


def worker(sessions: sessionmaker[Session], settings: Settings, prefix: str, name: str) -> ScoringWorker:
    """A worker with its own Redis client and Scorer."""
    import redis

    return ScoringWorker(Scorer(sessions, settings), redis.Redis(host="127.0.0.1", port=6379), prefix=prefix,
                         partitions=PARTITIONS, lease_ms=LEASE_MS, checkpoint_s=3600, worker_id=name)


def settle(*workers: ScoringWorker, rounds: int = 3) -> None:
    """Tick every worker a few rounds so they find each other and balance."""
    for _ in range(rounds):
        for w in workers:
            w.tick()


def test_each_partition_is_owned_by_exactly_one_worker_and_scored_by_it_only(
        sessions: sessionmaker[Session], settings: Settings, world: World, prefix: str, redis_client: Any) -> None:
    a, b = worker(sessions, settings, prefix, "a"), worker(sessions, settings, prefix, "b")
    settle(a, b)
    assert set(a.held).isdisjoint(b.held)
    assert set(a.held) | set(b.held) == set(range(PARTITIONS))
    assert len(a.held) == len(b.held) == PARTITIONS // 2
    keys = Keys(prefix)
    for w in (a, b):
        for p, token in w.held.items():
            assert redis_client.get(keys.lease(p)).decode() == token
    publisher = Publisher(redis_client, prefix=prefix, partitions=PARTITIONS)
    for batch in batches(devices(world), 0, 100):
        publisher.on_ingested(event(batch))
    settle(a, b)
    for w in (a, b):
        assert w.scorer.streams, "both workers score something"
        assert {partition_of(d, PARTITIONS) for d, _m in w.scorer.streams} <= set(w.held)
        assert all(s.points == 100 for s in w.scorer.streams.values())
    assert set(a.scorer.streams) | set(b.scorer.streams) == {(d, m) for d in devices(world) for m in METRICS}


def test_units_travel_with_the_readings_to_the_worker_that_scores_them(
        sessions: sessionmaker[Session], settings: Settings, world: World, prefix: str, redis_client: Any) -> None:
    a, b = worker(sessions, settings, prefix, "a"), worker(sessions, settings, prefix, "b")
    settle(a, b)
    publisher = Publisher(redis_client, prefix=prefix, partitions=PARTITIONS)
    [batch] = batches(devices(world), 0, 5)[:1]
    units = sorted({(s.device_id, s.metric, "°C" if s.metric == METRICS[0] else "h") for s in batch})
    publisher.on_ingested(DomainEvent(INGESTED, {**event(batch).data, "units": units}))
    settle(a, b)
    sent = {(d, m): u for d, m, u in units}
    # Every unit reached a worker that scores that stream, and set its detector up by it (°C: never a counter).
    assert {**a.scorer.units, **b.scorer.units} == sent
    scored = {key: stream for w in (a, b) for key, stream in w.scorer.streams.items()}
    assert scored.keys() == sent.keys()
    for key, stream in scored.items():
        assert stream.detector.counters is (sent[key] == "h")


def test_a_dead_workers_partitions_move_with_their_checkpoint_and_score_identically(
        sessions: sessionmaker[Session], settings: Settings, world: World, prefix: str, redis_client: Any) -> None:
    reference = Scorer(sessions, settings)  # one in-process scorer fed everything: what the split must reproduce
    publisher = Publisher(redis_client, prefix=prefix, partitions=PARTITIONS)
    a, b = worker(sessions, settings, prefix, "a"), worker(sessions, settings, prefix, "b")
    settle(a, b)
    moved = set(a.held)

    def send(start: int, n: int) -> None:
        for batch in batches(devices(world), start, n):
            reference.feed(batch)
            publisher.on_ingested(event(batch))

    send(0, 300)
    settle(a, b)
    a.checkpoint()
    b.checkpoint()
    send(300, 100)  # scored by a but never checkpointed: the new owner must re-read these
    settle(a, b)
    assert a.unacked and any(a.unacked.values())
    # a dies: it stops renewing. b takes its partitions once the leases lapse.
    time.sleep(LEASE_MS * 1.5 / 1000)
    send(400, 100)
    settle(b)
    assert set(b.held) == set(range(PARTITIONS))
    assert set(reference.streams) == set(b.scorer.streams)
    for key, expected in reference.streams.items():
        got = b.scorer.streams[key]
        assert (got.points, got.last_t) == (expected.points, expected.last_t) == (500, expected.last_t)
        assert got.last_score == pytest.approx(expected.last_score)
        assert pickle.dumps(got.detector) == pickle.dumps(expected.detector), key

    # The stale worker cannot overwrite the new owner's checkpoint.
    b.checkpoint()
    with sessions() as session:
        before = {(r.device_id, r.metric): r.points for r in session.execute(select(DetectorState)).scalars()}
    assert all(before[k] == 500 for k in reference.streams)
    for p in moved:
        assert not a.checkpoint_partition(p)
    assert not a.held
    with sessions() as session:
        after = {(r.device_id, r.metric): r.points for r in session.execute(select(DetectorState)).scalars()}
    assert after == before


def test_a_worker_stopping_hands_its_partitions_over_without_losing_readings(
        sessions: sessionmaker[Session], settings: Settings, world: World, prefix: str, redis_client: Any) -> None:
    reference = Scorer(sessions, settings)
    publisher = Publisher(redis_client, prefix=prefix, partitions=PARTITIONS)
    a, b = worker(sessions, settings, prefix, "a"), worker(sessions, settings, prefix, "b")
    settle(a, b)
    for batch in batches(devices(world), 0, 200):
        reference.feed(batch)
        publisher.on_ingested(event(batch))
    settle(a, b)
    a.stop()  # checkpoints, acks and releases at once: no waiting for a lease to lapse
    assert not a.held
    for batch in batches(devices(world), 200, 50):
        reference.feed(batch)
        publisher.on_ingested(event(batch))
    settle(b)
    assert set(b.held) == set(range(PARTITIONS))
    for key, expected in reference.streams.items():
        assert b.scorer.streams[key].points == expected.points == 250
        assert pickle.dumps(b.scorer.streams[key].detector) == pickle.dumps(expected.detector)
    b.stop()
    assert redis_client.xlen(Keys(prefix).stream(0)) == 0  # every entry acked and deleted after the checkpoint
