"""Scoring split across workers: devices hash to partitions, each partition scored by the one worker holding its lease.

Off by default (MEDFIX_SCORING_PARTITIONS=0: each API process scores in its own scoring thread). With Redis and
P partitions:

- The ingest's `telemetry.ingested` event is appended (XADD) to the Redis stream of each device's partition
  (`device_id % P`) instead of being scored in the request.
- A `ScoringWorker` owns partitions through leases (`SET NX PX`, value = worker id + a generation from INCR),
  renewed every tick with a compare-and-renew script. Workers heartbeat into a sorted set; each takes at most
  ceil(P / live workers) partitions and hands extras back (checkpoint, then release), so they spread evenly.
- The owner reads its partition's stream with XREADGROUP under one shared consumer name, scores, and acks (and
  deletes) the entries only after the checkpoint that covers them is committed (readings a stream still holds
  back for the lateness tolerance are acked too: the next owner replays them from the reading table, see
  cloud/alerts/scoring.py). When a worker dies its lease
  lapses; the next owner restores the streams from `detector_state` and first re-reads the entries the dead
  owner left unacked, so the detectors end in the very state they would have reached without the move.
- Fencing: a checkpoint commits only if the lease is still ours with a safety margin left (checked after the
  rows are written, right before COMMIT); a worker that lost its lease drops its streams without writing.
- Workers run as threads of the API processes (MEDFIX_SCORING_WORKERS per process), or apart in
  `medfix cloud score` processes with MEDFIX_SCORING_WORKERS=0 on the API, which then only XADDs.
- A failed XADD keeps the batch in the publisher's bounded retry list (see `Publisher`); what falls off it is
  replayed from the reading table when its streams are next restored (see cloud/alerts/scoring.py).
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
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.scoring import INGESTED, Scorer
from cloud.config import Settings
from cloud.events import DomainEvent, EventBus
from cloud.metrics import record_scoring

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


def _entry_ms(entry_id: bytes | str) -> int:
    """The Unix milliseconds a Redis stream entry was added at (its id is "<ms>-<sequence>")."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


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
    """Ingest side: appends each committed batch's readings to the streams of their partitions.

    A failed XADD (Redis down) never fails the ingest and never loses the batch quietly: the entries wait in a
    bounded in-memory list, in order, and are retried before the next batch and every `retry_s` by a background
    thread (the outage is logged once, and the recovery once). Beyond `max_pending` readings the oldest entries
    are dropped, with an error: their readings are in the reading table, and a stream replays them from there
    when it is next restored (the partition's next owner, or its worker's restart).
    """

    def __init__(self, redis: Any, *, prefix: str, partitions: int, max_pending: int = 200_000,
                 retry_s: float = 1.0) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.partitions = partitions
        self.max_pending = max_pending
        self.retry_s = retry_s
        self.dropped = 0  # readings given up on since start (left to the replay)
        # (partition, gateway json, rows json, units json, readings)
        self._pending: deque[tuple[int, str, str, str, int]] = deque()
        self._pending_readings = 0
        self._failing = False
        self._lock = threading.Lock()  # guards the list; never held while talking to Redis
        self._send = threading.Lock()
        self._closed = threading.Event()
        self._retrier: threading.Thread | None = None

    def install(self, bus: EventBus) -> None:
        """Route every batch the ingest commits to the scoring workers."""
        bus.subscribe(INGESTED, self.on_ingested)

    @property
    def pending(self) -> int:
        """Readings waiting for a retry."""
        return self._pending_readings

    def on_ingested(self, event: DomainEvent) -> None:
        """Split one committed batch by partition and XADD each part (after any earlier parts still waiting).

        During an outage the batch only joins the retry list: the ingest does not wait on a dead Redis again.
        """
        parts: dict[int, list[list[Any]]] = {}
        for d, m, t, v in event.data.get("samples", ()):
            parts.setdefault(partition_of(int(d), self.partitions), []).append([int(d), str(m), float(t), float(v)])
        if not parts:
            return
        units: dict[int, list[list[Any]]] = {}
        for d, m, u in event.data.get("units", ()):
            units.setdefault(partition_of(int(d), self.partitions), []).append([int(d), str(m), str(u)])
        gateway = json.dumps(event.data.get("gateway_id"))
        with self._lock:
            for p, rows in parts.items():
                self._pending.append((p, gateway, json.dumps(rows), json.dumps(units.get(p, [])), len(rows)))
                self._pending_readings += len(rows)
            self._trim()
            if self._failing:
                return
        self.flush()

    def flush(self) -> bool:
        """Try to hand over every waiting entry now, oldest first; True when none is left."""
        with self._send:  # one sender at a time keeps the entries in order
            with self._lock:
                entries = list(self._pending)
            if not entries:
                return True
            try:
                pipe = self.redis.pipeline(transaction=False)
                for p, gateway, rows, units, _n in entries:
                    pipe.xadd(self.keys.stream(p), {"g": gateway, "s": rows, "u": units})
                pipe.execute()
            except Exception as exc:  # Redis is down or refusing: keep the entries, in order, for the retry
                with self._lock:
                    if not self._failing:
                        self._failing = True
                        log.warning("could not hand readings to the scoring partitions (%s); keeping up to %s "
                                    "readings for a retry every %.0f s", exc, self.max_pending, self.retry_s)
                    self._start_retrier()
                return False
            # A partly applied pipeline re-sends some entries next time: the workers skip readings already scored.
            with self._lock:
                sent = set(map(id, entries))
                while self._pending and id(self._pending[0]) in sent:  # what _trim dropped meanwhile is gone
                    _p, _g, _rows, _u, n = self._pending.popleft()
                    self._pending_readings -= n
                if self._failing:
                    self._failing = False
                    log.warning("handing readings to the scoring partitions works again")
                return not self._pending

    def close(self) -> None:
        """Stop retrying in the background after a last attempt (what still fails is left to the replay)."""
        self._closed.set()
        if self._retrier is not None:
            self._retrier.join()
            self._retrier = None
        if not self.flush():
            log.error("%s readings could not be handed to the scoring partitions before shutdown; their streams "
                      "replay them from the reading table when next restored", self._pending_readings)

    def _trim(self) -> None:
        dropped = 0
        while self._pending_readings > self.max_pending and len(self._pending) > 1:
            _p, _g, _rows, _u, n = self._pending.popleft()
            self._pending_readings -= n
            dropped += n
        if dropped:
            self.dropped += dropped
            log.error("scoring hand-over backlog full: dropped the oldest %s readings (%s so far); their streams "
                      "replay them from the reading table when next restored", dropped, self.dropped)

    def _start_retrier(self) -> None:
        if self._retrier is not None and self._retrier.is_alive():
            return
        if self._closed.is_set():
            return
        self._retrier = threading.Thread(target=self._retry, name="scoring-publisher-retry", daemon=True)
        self._retrier.start()

    def _retry(self) -> None:
        while not self._closed.wait(self.retry_s):
            if self.flush():
                return


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
            after: Any = "0"
            while True:  # the previous owner's unacked entries first, in order
                # From after the last one read: they stay pending until the checkpoint acks them, so reading from
                # "0" again would return the same first read_count entries for ever.
                reply = self.redis.xreadgroup(GROUP, CONSUMER, {self.keys.stream(p): after}, count=self.read_count)
                entries = reply[0][1] if reply else []
                if not entries:
                    break
                fed += self._feed(p, entries)
                if len(entries) < self.read_count:
                    break
                after = entries[-1][0]
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
        """Score a read of entries in one feed (one session), then remember them for the ack after the checkpoint."""
        batches = []
        fed = 0
        for _entry_id, fields in entries:
            if not fields:  # already deleted from the stream; nothing to score
                continue
            get = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
            samples = json.loads(get["s"])
            self.scorer.note_units(json.loads(get.get("u", b"[]")))  # entries written before units: none
            batches.append((json.loads(get["g"]), samples))
            fed += len(samples)
        if batches:
            self.scorer.feed_batches(batches)
            # An entry id is "<milliseconds>-<n>" of its XADD: how long each batch waited after its ingest.
            now_ms = time.time() * 1000
            record_scoring(fed, [(now_ms - _entry_ms(entry_id)) / 1000 for entry_id, fields in entries if fields])
        self.unacked[p].extend(entry_id for entry_id, _fields in entries)
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


def build_publisher(settings: Settings, bus: EventBus) -> Publisher:
    """Route this process' ingested readings to the scoring partitions through Redis."""
    import redis

    # Timeouts: an unreachable Redis (dropped packets, not refused) must fail the hand-over, never hang the ingest.
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
    publisher = Publisher(client, prefix=settings.scoring_key_prefix, partitions=settings.scoring_partitions,
                          max_pending=settings.scoring_retry_max_readings)
    publisher.install(bus)
    return publisher


def build_workers(settings: Settings, sessions: sessionmaker[Session], count: int) -> list[ScoringWorker]:
    """count scoring workers (not started), each with its own Scorer and Redis client."""
    import redis

    checkpoint_s = settings.alert_checkpoint_interval_s or 60  # acks wait for checkpoints, so they must happen
    return [ScoringWorker(Scorer(sessions, settings), redis.Redis.from_url(settings.redis_url),
                          prefix=settings.scoring_key_prefix, partitions=settings.scoring_partitions,
                          lease_ms=settings.scoring_lease_ms, checkpoint_s=checkpoint_s)
            for _ in range(count)]
