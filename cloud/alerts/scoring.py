"""The Scorer: one online detector per (device, metric) stream, fed by every ingested batch, checkpointed.

How it is fed: `telemetry.service.ingest_batch` emits `telemetry.ingested` with the batch's numeric,
good-quality, mapped readings; the app's bus delivers it after the ingest commits (HTTP and MQTT alike), so
a rolled-back batch is never scored and a duplicate batch (answered from the ledger) emits nothing.

Determinism: the alerts are those of scoring each stream's readings once each, in reading-time order, whatever
the batch boundaries, arrival order, number of workers and restarts. The rules that make it so, each in one place:

- Reading time, never arrival: each stream holds its readings back (`Stream.pending`, cloud/alerts/streams.py)
  until it has a reading `scoring_lateness_s` newer (`Stream.release`), so a batch arriving up to that much late
  (in reading time, behind its stream's newest reading) still lands in order. A reading not newer than the
  stream's last scored one (a re-send, or later than the tolerance) is skipped (`Stream.hold`), so each stream
  stays strictly online.
- The alert rules (cloud/alerts/policy.py) run on reading times only; wall-clock times (opened_at,
  resolved_at) are recorded, never decided on.
- A checkpoint holds the detector *and* the alert tracker as of the stream's last scored reading (`Saved`);
  a restored stream replays the stored readings after it (`_replay`: those scored after the checkpoint by a
  process that died, and those held back, whose hand-over entries may already be acked), and the decisions
  the replay makes again are idempotent (`predictive.open_alert` finds the episode's alert by its start).

Off the request thread: once `start()`ed, `on_ingested` only appends the batch to a bounded in-process queue
and returns; one scoring thread drains the queue, scoring every batch waiting in one `feed_batches()` call (one
database session and commit per drain, not per batch). Back-pressure: when `scoring_queue_max_readings` are
already waiting, the ingest blocks until the scorer has made room (at most `scoring_queue_block_s`; then the
batch is queued over the bound with a warning, because dropping readings is never acceptable and an ingest that
hangs for ever is worse than memory that grows for a while). `close()` drains the queue, then checkpoints; a
Scorer that is not started (or already closed) scores on the caller's thread, as before. `wait_idle()` waits
until everything queued has been scored (tests, benchmarks).

Detectors are restored lazily from `detector_state` the first time a stream is seen by this process, and
checkpointed every `alert_checkpoint_interval_s` (by the scoring thread) and on close. A restored stream first
replays the readings the `reading` table holds for it after the checkpoint's last reading (before the new
readings at most `scoring_replay_max_points`, none older than `scoring_replay_horizon_s` before the first new
reading; after it, at most as many again), through the detector and the alert rules, so a crash between two
checkpoints loses no learning and no decision.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import checkpoint, predictive, service
from cloud.alerts.instrument import instrument_spans
from cloud.alerts.models import Alert, AlertStatus, DetectorState
from cloud.alerts.policy import Verdict
from cloud.alerts.streams import Batch, Row, Saved, Stream, apply_unit
from cloud.config import Settings
from cloud.db import utcnow
from cloud.events import DomainEvent, EventBus
from cloud.metrics import record_scoring
from cloud.telemetry.store import timeseries_store
from models.anomaly import Detector, production_detector

log = logging.getLogger("medfix.alerts.scoring")

INGESTED = "telemetry.ingested"
# The biggest single feed of the scoring thread (readings): bounds one transaction, not the queue.
DRAIN_MAX_READINGS = 50_000
_ORDER = itemgetter(0, 1, 2)  # rows are (t, device_id, metric, value, gateway_id)
_END_OF_TIME = datetime(2262, 4, 11, tzinfo=UTC)  # the last instant every time-series backend can name


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _inside(windows: Sequence[tuple[datetime, datetime]], at: datetime) -> bool:
    """True when `at` lies in one of the [start, end) windows."""
    return any(s <= at < e for s, e in windows)


def _ended_between(windows: Sequence[tuple[datetime, datetime]], after: datetime, until: datetime) -> bool:
    """True when one of the windows ended in (after, until]: the stream came out of it since its last reading."""
    return any(after < e <= until for _s, e in windows)


class Scorer:
    """Scores every stream of this process and applies the alert rules; thread-safe (one lock)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 factory: Callable[[], Detector] = production_detector) -> None:
        self.sessions = sessions
        self.settings = settings
        self.factory = factory
        self.default_threshold = settings.alert_threshold  # a policy's sensitivity overrides it per stream
        self.detector_name = type(factory()).__name__
        self._checkpoint_key: bytes | None = None
        self.streams: dict[tuple[int, str], Stream] = {}
        self.replayed = 0  # readings fed from the reading table when streams were restored
        self.units: dict[tuple[int, str], str] = {}  # each stream's unit as the ingest last reported it
        self._lock = threading.Lock()
        # The queue of the scoring thread; _queued counts its readings, including the drain in progress.
        self._cond = threading.Condition()
        self._queue: deque[tuple[float, Batch]] = deque()  # (monotonic arrival, batch): arrival gives the lag
        self._queued = 0
        self._busy = False
        self._closing = False
        self._over_bound = False
        self._thread: threading.Thread | None = None

    @property
    def checkpoint_key(self) -> bytes:
        """The key checkpoints are signed with (derived from the secret key on first use)."""
        if self._checkpoint_key is None:
            self._checkpoint_key = checkpoint.checkpoint_key(self.settings)
        return self._checkpoint_key

    # --- wiring ---------------------------------------------------------------------------------------

    def install(self, bus: EventBus) -> None:
        """Score every batch the ingest commits."""
        bus.subscribe(INGESTED, self.on_ingested)

    def on_ingested(self, event: DomainEvent) -> None:
        """Queue one committed batch for the scoring thread (or score it here when no thread runs)."""
        samples = event.data.get("samples") or ()
        if not samples:
            return
        self.note_units(event.data.get("units") or ())
        gateway_id = event.data.get("gateway_id")
        if not self.submit(gateway_id, samples):
            self.feed_batches([(gateway_id, samples)])

    def note_units(self, units: Iterable[Sequence[Any]]) -> None:
        """Remember each stream's unit ((device_id, metric, unit) triples); read when a stream is created."""
        known = self.units
        for d, m, u in units:
            key = (int(d), str(m))
            if known.get(key) != u:
                known[key] = str(u)
                stream = self.streams.get(key)
                if stream is not None:  # a stream whose unit changed (re-configured device) follows it
                    apply_unit(stream.detector, str(u))

    def submit(self, gateway_id: int | None, samples: Sequence[Sequence[Any]]) -> bool:
        """Queue a batch for the scoring thread; False when no thread runs (the caller scores it itself).

        Back-pressure: while the queue holds scoring_queue_max_readings, wait for room (at most
        scoring_queue_block_s), then queue over the bound with a warning rather than drop anything.
        """
        n = len(samples)
        bound = self.settings.scoring_queue_max_readings
        with self._cond:
            if self._thread is None or self._closing:
                return False
            if bound > 0 and self._queued and self._queued + n > bound:
                deadline = time.monotonic() + self.settings.scoring_queue_block_s
                while self._queued and self._queued + n > bound and not self._closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        if not self._over_bound:
                            log.warning("scoring queue full (%s readings waiting) for %.1f s; queueing over the "
                                        "bound rather than dropping readings", self._queued,
                                        self.settings.scoring_queue_block_s)
                            self._over_bound = True
                        break
                    self._cond.wait(left)
                if self._closing:
                    return False
            self._queue.append((time.monotonic(), (gateway_id, samples)))
            self._queued += n
            self._cond.notify_all()
        return True

    def start(self) -> None:
        """Start the scoring thread (it also writes the periodic checkpoints)."""
        with self._cond:
            if self._thread is not None:
                return
            self._closing = False
            self._thread = threading.Thread(target=self._run, name="scorer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Score everything queued, stop the scoring thread, and write a last checkpoint."""
        with self._cond:
            thread = self._thread
            self._closing = True
            self._cond.notify_all()
        if thread is not None:
            thread.join()
        with self._cond:
            self._thread = None
        self.checkpoint()

    async def stop(self) -> None:
        """close() from the event loop, off its thread."""
        await asyncio.to_thread(self.close)

    def wait_idle(self, timeout: float | None = 30.0) -> bool:
        """Wait until every queued batch has been scored; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queued, timeout)

    @property
    def queued(self) -> int:
        """Readings waiting for the scoring thread (including those being scored)."""
        return self._queued

    @property
    def oldest_wait_s(self) -> float:
        """How long the oldest batch still queued has waited (0 when none waits)."""
        with self._cond:
            return time.monotonic() - self._queue[0][0] if self._queue else 0.0

    def _run(self) -> None:
        interval = self.settings.alert_checkpoint_interval_s
        next_checkpoint = time.monotonic() + interval if interval > 0 else math.inf
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    wait = next_checkpoint - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(None if wait == math.inf else wait)
                taken: list[Batch] = []
                waits: list[float] = []
                n = 0
                while self._queue and (not taken or n + len(self._queue[0][1][1]) <= DRAIN_MAX_READINGS):
                    arrived, batch = self._queue.popleft()
                    waits.append(time.monotonic() - arrived)
                    taken.append(batch)
                    n += len(batch[1])
                if not taken and self._closing:
                    return
            if taken:
                try:
                    self.feed_batches(taken)
                    record_scoring(n, waits)
                except Exception:  # their streams restart from the checkpoint and the stored readings
                    log.exception("scoring %s queued readings failed", n)
                finally:
                    with self._cond:
                        self._queued -= n
                        if self._queued == 0:
                            self._over_bound = False
                        self._cond.notify_all()
            if time.monotonic() >= next_checkpoint:
                next_checkpoint = time.monotonic() + interval
                try:
                    self.checkpoint()
                except Exception:  # a failed checkpoint is retried next time; scoring goes on
                    log.exception("detector checkpoint failed")

    # --- scoring --------------------------------------------------------------------------------------

    def feed(self, samples: Sequence[Sequence[Any]], *, gateway_id: int | None = None,
             ) -> dict[tuple[int, str], float]:
        """Score samples ((device_id, metric, t, value)) in time order and apply the alert rules.

        Returns each stream's last score.
        """
        return self.feed_batches([(gateway_id, samples)])

    def feed_batches(self, batches: Iterable[Batch]) -> dict[tuple[int, str], float]:
        """Score several batches together (one session, one commit), in time order; returns last scores."""
        incoming: dict[tuple[int, str], list[tuple[float, float, int | None]]] = {}
        for gateway_id, samples in batches:
            for d, m, t, v in samples:
                got = incoming.get((d, m))
                if got is None:
                    got = incoming[(d, m)] = []
                got.append((t, v, gateway_id))
        if not incoming:
            return {}
        with self._lock:
            streams = self.streams
            try:
                with self.sessions() as session:
                    rows: list[Row] = []
                    for key, got in incoming.items():
                        stream = streams.get(key)
                        restored = stream is None
                        if stream is None:
                            stream = self._restore(session, key)
                        stream.hold(got)
                        if restored:
                            self._replay(session, key, stream, first=min(t for t, _v, _g in got),
                                         gateway_id=got[0][2])
                        stream.release(key, self.settings.scoring_lateness_s, rows)
                    scored: dict[tuple[int, str], float] = {}
                    if rows:
                        rows.sort(key=_ORDER)
                        scored = self._score(session, rows)
                    session.commit()
            except Exception:
                # Nothing of this feed was committed, yet the detectors learned part of it: forget its streams, so
                # their next readings restore them from the checkpoint and replay the stored readings instead (the
                # readings they held back are stored too).
                for key in incoming:
                    streams.pop(key, None)
                raise
        return scored

    def _score(self, session: Session, rows: list[Row]) -> dict[tuple[int, str], float]:
        """Score rows (each stream's strictly after its last scored reading: `Stream.hold`), in time order."""
        streams = self.streams
        keys = {(r[1], r[2]) for r in rows}
        devices = {d for d, _m in keys}
        # Maintenance windows from the earliest last scored reading of these streams on, so a stream whose previous
        # reading was inside a window and whose next is not is seen coming out of maintenance.
        earliest = min([rows[0][0], *(last for last in (streams[key].last_t for key in keys) if last is not None)])
        windows = service.windows_covering(session, device_ids=devices, start=_at(earliest), end=_at(rows[-1][0]))
        # The analyzers' own maintenance, calibration and reagent changes (cloud/alerts/instrument.py) count alike.
        for device, spans in instrument_spans(session, device_ids=devices, start=_at(earliest),
                                              end=_at(rows[-1][0])).items():
            windows.setdefault(device, []).extend(spans)
        book = service.policy_book(session, device_ids=devices, metrics={m for _d, m in keys})
        offline: dict[int | None, bool] = {None: False}
        # Per stream in this feed: the stream, its unresolved alert (list for in-place updates), rules, windows, and
        # the time of its previous reading (list for in-place updates).
        seen: dict[tuple[int, str], tuple[Stream, list[Alert | None], Any, Any, list[float | None]]] = {}
        scored: dict[tuple[int, str], float] = {}
        for i, (t, d, m, v, g) in enumerate(rows):
            if not i & 63:
                # Let a thread back from I/O (an ingest's database round trip) have the GIL now rather than
                # after the interpreter's 5 ms switch interval: the scoring thread must not slow the ingest down.
                time.sleep(0)
            key = (d, m)
            entry = seen.get(key)
            if entry is None:
                stream = streams[key]
                rules = book.rules(d, m, self.default_threshold, self.settings.alert_learning_hours * 3600.0)
                # The detector's own rest-after-a-hit follows the policy's threshold.
                stream.detector.threshold = rules.threshold
                wins = windows.get(d)
                entry = seen[key] = (stream, [self._sync_alert(session, stream)], rules, wins, [stream.last_t])
            stream, alert_box, rules, wins, previous_box = entry
            # Inside a maintenance window (declared, or the analyzer's own maintenance or calibration) the readings
            # say nothing about the samples' analyzer: they are neither alerted nor learnt (learnt, they made
            # streams look bursty and hid later drifts). The first reading after one ended (a zero-length one: a
            # passed calibration, a reagent change) takes the level it finds (a new lamp, a replaced probe, a new
            # lot) as the new normal.
            in_window = False
            if wins:
                at = _at(t)
                in_window = _inside(wins, at)
                previous = previous_box[0]
                if not in_window and previous is not None and _ended_between(wins, _at(previous), at):
                    stream.detector.rebaseline(t)
                previous_box[0] = t
            score = stream.detector.score_learn_one(v, t, maintenance=in_window)
            stream.points += 1
            stream.last_t = t
            stream.last_score = score
            stream.dirty = True
            scored[key] = score
            off = offline.get(g)
            if off is None:  # g is not None here: offline[None] is False
                off = offline[g] = service.gateway_offline(session, gateway_id=g or 0)
            silenced = off or in_window
            started = stream.tracker.pending_since
            verdict = stream.tracker.step(score, t, rules, silenced=silenced)
            alert = alert_box[0]
            if verdict is Verdict.opened:
                alert = predictive.open_alert(session, device_id=d, metric=m,
                                           started_at=_at(started if started is not None else t), at=_at(t),
                                           score=score, settings=self.settings)
                alert_box[0], stream.alert_id = alert, alert.id
            elif alert is not None and verdict is Verdict.abnormal:
                service.note_abnormal(session, alert=alert, at=_at(t), score=score)
            elif alert is not None and verdict is Verdict.resolved:
                alert.last_score = score
                service.resolve_alert(session, alert=alert, resolution=service.RECOVERED)
                alert_box[0], stream.alert_id = None, None
            elif alert is not None:
                alert.last_score = score
        return scored

    def _sync_alert(self, session: Session, stream: Stream) -> Alert | None:
        """The stream's unresolved alert as the database has it now (a person may have closed it meanwhile)."""
        if stream.alert_id is None:
            return None
        alert = session.get(Alert, stream.alert_id)
        # Resolved as recovered: by this stream's own rules, before a restart whose replay is deciding it again
        # (resolving it once more changes nothing); any other resolution is a person's, which ends the episode.
        if alert is None or (alert.status == AlertStatus.resolved and alert.resolution != service.RECOVERED):
            stream.tracker.close()
            stream.alert_id = None
            return None
        return alert

    def _restore(self, session: Session, key: tuple[int, str]) -> Stream:
        """Bring a stream into memory from its checkpoint (the replay of what it missed follows the hold)."""
        device_id, metric = key
        stream = Stream(detector=self.factory())
        row = session.execute(select(DetectorState).where(DetectorState.device_id == device_id,
                                                          DetectorState.metric == metric)).scalar()
        saved: Saved | None = None
        if row is not None and row.detector == self.detector_name:
            try:
                # Only a checkpoint this service signed is unpickled (cloud/alerts/checkpoint.py); a model that
                # no longer unpickles starts afresh.
                restored = checkpoint.unseal(self.checkpoint_key, row.state, device_id=device_id, metric=metric,
                                             detector_name=self.detector_name)
                if restored is not None:
                    if isinstance(restored, Saved):
                        saved = restored
                        stream.detector = restored.detector
                    else:  # written before checkpoints held the tracker: the tracker follows the alert rows
                        stream.detector = restored
                    stream.points = row.points
                    stream.last_t = row.last_observed_at.timestamp() if row.last_observed_at else None
            except Exception:
                log.warning("detector state of device %s metric %s is unreadable; starting afresh", *key)
        if saved is not None:
            stream.tracker, stream.alert_id = saved.tracker, saved.alert_id
        else:
            alert = service.unresolved_alert(session, device_id=device_id, metric=metric)
            if alert is not None:
                stream.tracker.adopt(alert.last_abnormal_at.timestamp())
                stream.alert_id = alert.id
            else:
                last = service.last_resolved_alert(session, device_id=device_id, metric=metric)
                if last is not None:
                    stream.tracker.cool_from = last.last_abnormal_at.timestamp()
        apply_unit(stream.detector, self.units.get(key))
        self.streams[key] = stream
        return stream

    def _replay(self, session: Session, key: tuple[int, str], stream: Stream, *, first: float,
                gateway_id: int | None) -> None:
        """Hold, besides a restored stream's new readings, the stored ones after its checkpoint that it missed.

        Before `first` (its first new reading): readings scored by a process that died before its next
        checkpoint, or never handed to a scorer at all (a failed hand-over). After it: readings a previous
        owner held back (their hand-over entries were acked with its checkpoint) or scored after its checkpoint
        while this feed is a late one; those still to come here are the same readings, held once.
        """
        limit = self.settings.scoring_replay_max_points
        if limit <= 0:
            return
        device_id, metric = key
        held = len(stream.pending)
        # Before `first`: after the checkpoint's last reading, from the horizon's start on (a point exactly there is
        # not worth a branch).
        horizon = self.settings.scoring_replay_horizon_s
        floor = first - horizon if horizon > 0 else -math.inf
        after = stream.last_t
        since = after if after is not None and after >= floor else (floor if floor > -math.inf else None)
        # Through the time-series store, so the replay reads wherever the readings live (SQL or InfluxDB).
        store = timeseries_store(session, self.settings)
        missed = store.recent(device_id, metric, _at(since) if since is not None else None, _at(first), limit=limit)
        later = store.recent(device_id, metric, _at(first), _END_OF_TIME, limit=limit)
        stream.hold([(at.timestamp(), v, gateway_id) for at, v in missed])
        stream.hold([(at.timestamp(), v, gateway_id) for at, v in later])
        self.replayed += len(stream.pending) - held

    # --- checkpoints ----------------------------------------------------------------------------------

    def checkpoint(self, where: Callable[[tuple[int, str]], bool] | None = None,
                   allowed: Callable[[], bool] | None = None) -> int:
        """Write every changed stream (those where() accepts); returns how many, or -1 when allowed() refused."""
        with self._lock:
            dirty = [(key, stream) for key, stream in self.streams.items()
                     if stream.dirty and (where is None or where(key))]
            if not dirty:
                return 0
            with self.sessions() as session:
                self._write(session, dirty)
                # The fence of a partitioned worker: checked last, just before the commit, so a worker whose
                # lease lapsed meanwhile never overwrites the new owner's checkpoint.
                if allowed is not None and not allowed():
                    session.rollback()
                    return -1
                session.commit()
            for _key, stream in dirty:
                stream.dirty = False
            return len(dirty)

    def forget(self, where: Callable[[tuple[int, str]], bool]) -> int:
        """Drop the in-memory streams where() accepts (their partition moved away); returns how many."""
        with self._lock:
            keys = [key for key in self.streams if where(key)]
            for key in keys:
                del self.streams[key]
            return len(keys)

    def _write(self, session: Session, dirty: Sequence[tuple[tuple[int, str], Stream]]) -> None:
        now = utcnow()
        # The existing rows in a few queries (a superset: these metrics of these devices, filtered here).
        devices = sorted({device_id for (device_id, _metric), _stream in dirty})
        metrics = {metric for (_device_id, metric), _stream in dirty}
        existing: dict[tuple[int, str], DetectorState] = {}
        for i in range(0, len(devices), 500):
            found = session.execute(select(DetectorState).where(
                DetectorState.device_id.in_(devices[i:i + 500]), DetectorState.metric.in_(metrics))).scalars()
            existing.update(((row.device_id, row.metric), row) for row in found)
        for (device_id, metric), stream in dirty:
            row = existing.get((device_id, metric))
            if row is None:
                row = DetectorState(device_id=device_id, metric=metric)
                session.add(row)
            row.detector = self.detector_name
            saved = Saved(detector=stream.detector, tracker=stream.tracker, alert_id=stream.alert_id)
            row.state = checkpoint.seal(self.checkpoint_key, device_id=device_id, metric=metric,
                                        detector_name=self.detector_name, detector=saved)
            row.points = stream.points
            row.last_observed_at = _at(stream.last_t) if stream.last_t is not None else None
            row.updated_at = now
