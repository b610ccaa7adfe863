"""Scoring split across workers: devices hash to partitions, each partition scored by the one worker holding its lease.

Off by default (MEDFIX_SCORING_PARTITIONS=0: the ingest request scores in-process). With Redis and P partitions:

- The ingest's `telemetry.ingested` event is appended (XADD) to the Redis stream of each device's partition
  (`device_id % P`) instead of being scored in the request.
- A `ScoringWorker` owns partitions through leases (`SET NX PX`, value = worker id + a generation from INCR),
  renewed every tick with a compare-and-renew script. Workers heartbeat into a sorted set; each takes at most
  ceil(P / live workers) partitions and hands extras back (checkpoint, then release), so they spread evenly.
- The owner reads its partition's stream with XREADGROUP under one shared consumer name, scores, and acks (and
  deletes) the entries only after the checkpoint that covers them is committed. When a worker dies its lease
  lapses; the next owner restores the streams from `detector_state` and first re-reads the entries the dead
  owner left unacked, so the detectors end in the very state they would have reached without the move.
- Fencing: a checkpoint commits only if the lease is still ours with a safety margin left (checked after the
  rows are written, right before COMMIT); a worker that lost its lease drops its streams without writing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.scoring import INGESTED, Sample, Scorer
from cloud.config import Settings
from cloud.events import DomainEvent, EventBus

log = logging.getLogger("medfix.alerts.partition")

GROUP = "scorers"
# One consumer name for every owner: a new owner reading from id 0 gets exactly what the last owner left unacked.
CONSUMER = "owner"

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_REMAINING = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PTTL', KEYS[1]) end
return -1
"""


def partition_of(device_id: int, partitions: int) -> int:
    """The partition a device's streams belong to (device ids are dense, so a modulo spreads them evenly)."""
    return device_id % partitions


class Keys:
    """Redis key names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.workers = f"{prefix}:workers"

    def lease(self, p: int) -> str:
        """The lease of partition p."""
        return f"{self.prefix}:lease:{p}"

    def generation(self, p: int) -> str:
        """The counter numbering the leases of partition p."""
        return f"{self.prefix}:gen:{p}"

    def stream(self, p: int) -> str:
        """The Redis stream of partition p's readings."""
        return f"{self.prefix}:q:{p}"


class Publisher:
    """Ingest side: appends each committed batch's readings to the streams of their partitions."""

    def __init__(self, redis: Any, *, prefix: str, partitions: int) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.partitions = partitions

    def install(self, bus: EventBus) -> None:
        """Route every batch the ingest commits to the scoring workers."""
        bus.subscribe(INGESTED, self.on_ingested)

    def on_ingested(self, event: DomainEvent) -> None:
        """Split one committed batch by partition and XADD each part."""
        parts: dict[int, list[list[Any]]] = {}
        for d, m, t, v in event.data.get("samples", ()):
            parts.setdefault(partition_of(int(d), self.partitions), []).append([int(d), str(m), float(t), float(v)])
        if not parts:
            return
        gateway = json.dumps(event.data.get("gateway_id"))
        pipe = self.redis.pipeline(transaction=False)
        for p, rows in parts.items():
            pipe.xadd(self.keys.stream(p), {"g": gateway, "s": json.dumps(rows)})
        pipe.execute()


class ScoringWorker:
    """Holds partition leases, scores their readings with its own Scorer, checkpoints under the lease."""

    def __init__(self, scorer: Scorer, redis: Any, *, prefix: str, partitions: int, lease_ms: int = 10_000,
                 checkpoint_s: float = 60.0, worker_id: str | None = None, read_count: int = 100) -> None:
        self.scorer = scorer
        self.redis = redis
        self.keys = Keys(prefix)
        self.partitions = partitions
        self.lease_ms = lease_ms
        self.checkpoint_s = checkpoint_s
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.read_count = read_count
        self.held: dict[int, str] = {}  # partition -> our lease token
        self.unacked: dict[int, list[Any]] = {}  # entries scored but not yet covered by a committed checkpoint
        self._backlog: set[int] = set()  # partitions whose previous owner's unacked entries are still to re-read
        self._last_checkpoint = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._remaining = redis.register_script(_REMAINING)

    # --- running --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Run tick() in a background thread until stop()."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"scoring-{self.worker_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, checkpoint every held partition and hand the leases back."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for p in sorted(self.held):
            self._hand_back(p)
        self.redis.zrem(self.keys.workers, self.worker_id)

    def _run(self) -> None:
        block_ms = max(10, min(1000, self.lease_ms // 4))
        while not self._stop.is_set():
            try:
                self.tick(block_ms=block_ms)
            except Exception:  # Redis or the database hiccuped: the leases lapse if this persists, others take over
                log.exception("scoring worker %s tick failed", self.worker_id)
                self._stop.wait(1.0)

    def tick(self, block_ms: int | None = None) -> int:
        """One round: heartbeat, renew, rebalance, score what arrived, checkpoint when due; returns readings fed."""
        share = self._heartbeat()
        self._renew_all()
        self._balance(share)
        fed = self._consume(block_ms)
        if time.monotonic() - self._last_checkpoint >= self.checkpoint_s:
            self.checkpoint()
        return fed

    # --- leases ---------------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        seconds, micros = self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def _heartbeat(self) -> int:
        """Announce this worker; returns its fair share of partitions."""
        now = self._now_ms()  # Redis' clock, so workers on different hosts agree
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.keys.workers, {self.worker_id: now + self.lease_ms})
        pipe.zremrangebyscore(self.keys.workers, "-inf", now)
        pipe.zcard(self.keys.workers)
        live = int(pipe.execute()[-1])
        return math.ceil(self.partitions / max(1, live))

    def _renew_all(self) -> None:
        for p, token in list(self.held.items()):
            if not self._renew(keys=[self.keys.lease(p)], args=[token, self.lease_ms]):
                log.warning("worker %s lost the lease of partition %s", self.worker_id, p)
                self._drop(p)

    def _balance(self, share: int) -> None:
        while len(self.held) > share:
            self._hand_back(max(self.held))
        # Start the search at a worker-specific offset so simultaneous starters do not all race for partition 0.
        start = int(uuid.uuid5(uuid.NAMESPACE_OID, self.worker_id)) % self.partitions
        for i in range(self.partitions):
            if len(self.held) >= share:
                break
            p = (start + i) % self.partitions
            if p not in self.held:
                self._acquire(p)

    def _acquire(self, p: int) -> bool:
        if self.redis.exists(self.keys.lease(p)):
            return False
        token = f"{self.worker_id}#{self.redis.incr(self.keys.generation(p))}"
        if not self.redis.set(self.keys.lease(p), token, nx=True, px=self.lease_ms):
            return False
        try:
            self.redis.xgroup_create(self.keys.stream(p), GROUP, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: the group outlives owners, which is the point
            if "BUSYGROUP" not in str(exc):
                raise
        # Whatever we knew of this partition before is stale: restore lazily from the latest checkpoint.
        self.scorer.forget(self._in(p))
        self.held[p] = token
        self.unacked[p] = []
        self._backlog.add(p)
        log.info("worker %s took partition %s (%s)", self.worker_id, p, token)
        return True

    def holds(self, p: int) -> bool:
        """Whether our lease on p is current with at least a third of its time left (the checkpoint fence)."""
        token = self.held.get(p)
        if token is None:
            return False
        return int(self._remaining(keys=[self.keys.lease(p)], args=[token])) > self.lease_ms // 3

    def _hand_back(self, p: int) -> None:
        """Checkpoint p (fenced) and release its lease, so the next owner continues from here."""
        if self.checkpoint_partition(p):
            self._release(keys=[self.keys.lease(p)], args=[self.held[p]])
        self._drop(p)

    def _drop(self, p: int) -> None:
        self.held.pop(p, None)
        self.unacked.pop(p, None)
        self._backlog.discard(p)
        self.scorer.forget(self._in(p))

    def _in(self, p: int) -> Callable[[tuple[int, str]], bool]:
        return lambda key: partition_of(key[0], self.partitions) == p

    # --- scoring --------------------------------------------------------------------------------------

    def _consume(self, block_ms: int | None) -> int:
        fed = 0
        for p in sorted(self._backlog & set(self.held)):
            while True:  # the previous owner's unacked entries first, in order
                reply = self.redis.xreadgroup(GROUP, CONSUMER, {self.keys.stream(p): "0"}, count=self.read_count)
                entries = reply[0][1] if reply else []
                if not entries:
                    break
                fed += self._feed(p, entries)
                if len(entries) < self.read_count:
                    break
            self._backlog.discard(p)
        if not self.held:
            if block_ms:
                self._stop.wait(block_ms / 1000)
            return fed
        streams = {self.keys.stream(p): ">" for p in sorted(self.held)}
        reply = self.redis.xreadgroup(GROUP, CONSUMER, streams, count=self.read_count, block=block_ms)
        by_key = {self.keys.stream(p): p for p in self.held}
        for name, entries in reply or ():
            key = name.decode() if isinstance(name, bytes) else name
            fed += self._feed(by_key[key], entries)
        return fed

    def _feed(self, p: int, entries: list[Any]) -> int:
        fed = 0
        for entry_id, fields in entries:
            if not fields:  # already deleted from the stream; nothing to score
                self.unacked[p].append(entry_id)
                continue
            get = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
            gateway_id = json.loads(get["g"])
            samples = [Sample(int(d), str(m), float(t), float(v)) for d, m, t, v in json.loads(get["s"])]
            self.scorer.feed(samples, gateway_id=gateway_id)
            self.unacked[p].append(entry_id)
            fed += len(samples)
        return fed

    # --- checkpoints ----------------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Checkpoint every held partition under its lease."""
        self._last_checkpoint = time.monotonic()
        for p in sorted(self.held):
            self.checkpoint_partition(p)

    def checkpoint_partition(self, p: int) -> bool:
        """Write p's changed streams if the lease is still ours, then ack what they cover; False when fenced off."""
        if p not in self.held:
            return False
        if self.scorer.checkpoint(self._in(p), allowed=lambda: self.holds(p)) < 0:
            log.warning("worker %s: lease of partition %s lapsed; checkpoint not written", self.worker_id, p)
            self._drop(p)
            return False
        ids = self.unacked.get(p) or []
        if ids:
            pipe = self.redis.pipeline(transaction=False)
            pipe.xack(self.keys.stream(p), GROUP, *ids)
            pipe.xdel(self.keys.stream(p), *ids)
            pipe.execute()
            self.unacked[p] = []
        return True


def build_partitioned(settings: Settings, sessions: sessionmaker[Session], bus: EventBus) -> list[ScoringWorker]:
    """Route ingested readings through Redis and build this process' workers (not started)."""
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    prefix, partitions = settings.scoring_key_prefix, settings.scoring_partitions
    Publisher(client, prefix=prefix, partitions=partitions).install(bus)
    checkpoint_s = settings.alert_checkpoint_interval_s or 60  # acks wait for checkpoints, so they must happen
    return [ScoringWorker(Scorer(sessions, settings), redis.Redis.from_url(settings.redis_url), prefix=prefix,
                          partitions=partitions, lease_ms=settings.scoring_lease_ms, checkpoint_s=checkpoint_s)
            for _ in range(settings.scoring_workers)]
