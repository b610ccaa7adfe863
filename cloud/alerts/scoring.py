"""The Scorer: one online detector per (device, metric) stream, fed by every ingested batch, checkpointed.

How it is fed: `telemetry.service.ingest_batch` emits `telemetry.ingested` with the batch's numeric,
good-quality, mapped readings; the app's bus delivers it after the ingest commits (HTTP and MQTT alike), so
a rolled-back batch is never scored and a duplicate batch (answered from the ledger) emits nothing. Within a
batch readings are scored in timestamp order; a reading not newer than the stream's last scored one (a
re-packed re-send, or a late straggler) is skipped, so each stream stays strictly online.

Detectors are restored lazily from `detector_state` the first time a stream is seen by this process, and
checkpointed by `checkpoint()` (every `alert_checkpoint_interval_s` from the app's lifespan, and on shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import service
from cloud.alerts.models import Alert, AlertStatus, DetectorState
from cloud.alerts.policy import Tracker, Verdict
from cloud.config import Settings
from cloud.db import utcnow
from cloud.events import DomainEvent, EventBus
from models.anomaly import Detector, production_detector

log = logging.getLogger("medfix.alerts.scoring")

INGESTED = "telemetry.ingested"


@dataclass(frozen=True)
class Sample:
    """One reading to score: the device, the metric, its time (epoch seconds) and value."""

    device_id: int
    metric: str
    t: float
    value: float


@dataclass
class Stream:
    """A stream's detector and alert tracker in memory."""

    detector: Detector
    tracker: Tracker = field(default_factory=Tracker)
    points: int = 0
    last_t: float | None = None
    alert_id: int | None = None
    last_score: float = 0.0
    dirty: bool = False


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class Scorer:
    """Scores every stream of this process and applies the alert rules; thread-safe (one lock)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 factory: Callable[[], Detector] = production_detector) -> None:
        self.sessions = sessions
        self.settings = settings
        self.factory = factory
        self.default_threshold = factory().threshold
        self.detector_name = type(factory()).__name__
        self.streams: dict[tuple[int, str], Stream] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    # --- wiring ---------------------------------------------------------------------------------------

    def install(self, bus: EventBus) -> None:
        """Score every batch the ingest commits."""
        bus.subscribe(INGESTED, self.on_ingested)

    def on_ingested(self, event: DomainEvent) -> None:
        """Feed one committed batch's readings."""
        samples = [Sample(int(d), str(m), float(t), float(v)) for d, m, t, v in event.data.get("samples", ())]
        if samples:
            self.feed(samples, gateway_id=event.data.get("gateway_id"))

    def start(self) -> None:
        """Checkpoint periodically in the background (call from a running event loop)."""
        if self.settings.alert_checkpoint_interval_s > 0:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop the periodic checkpoints and write a last one."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.checkpoint)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.alert_checkpoint_interval_s)
            try:
                await asyncio.to_thread(self.checkpoint)
            except Exception:  # a failed checkpoint is retried next time; scoring goes on
                log.exception("detector checkpoint failed")

    # --- scoring --------------------------------------------------------------------------------------

    def feed(self, samples: Sequence[Sample], *, gateway_id: int | None = None) -> dict[tuple[int, str], float]:
        """Score samples in time order and apply the alert rules; returns each stream's last score."""
        ordered = sorted(samples, key=lambda s: (s.t, s.device_id, s.metric))
        if not ordered:
            return {}
        devices = {s.device_id for s in ordered}
        scored: dict[tuple[int, str], float] = {}
        with self._lock, self.sessions() as session:
            offline = gateway_id is not None and service.gateway_offline(session, gateway_id=gateway_id)
            windows = service.windows_covering(session, device_ids=devices, start=_at(ordered[0].t),
                                               end=_at(ordered[-1].t))
            book = service.policy_book(session, device_ids=devices, metrics={s.metric for s in ordered})
            alerts: dict[tuple[int, str], Alert | None] = {}
            for sample in ordered:
                key = (sample.device_id, sample.metric)
                stream = self._stream(session, key)
                if stream.last_t is not None and sample.t <= stream.last_t:
                    continue
                if key not in alerts:
                    alerts[key] = self._sync_alert(session, stream)
                rules = book.rules(sample.device_id, sample.metric, self.default_threshold)
                # The detector's own rest-after-a-hit follows the policy's threshold.
                stream.detector.threshold = rules.threshold
                score = stream.detector.score_learn_one(sample.value, sample.t)
                stream.points += 1
                stream.last_t = sample.t
                stream.last_score = score
                stream.dirty = True
                scored[key] = score
                at = _at(sample.t)
                silenced = offline or any(s <= at < e for s, e in windows.get(sample.device_id, ()))
                started = stream.tracker.pending_since
                verdict = stream.tracker.step(score, sample.t, rules, silenced=silenced)
                alert = alerts[key]
                if verdict is Verdict.opened:
                    alert = service.open_alert(session, device_id=sample.device_id, metric=sample.metric,
                                               started_at=_at(started if started is not None else sample.t), at=at,
                                               score=score, settings=self.settings)
                    alerts[key], stream.alert_id = alert, alert.id
                elif alert is not None and verdict is Verdict.abnormal:
                    service.note_abnormal(session, alert=alert, at=at, score=score)
                elif alert is not None and verdict is Verdict.resolved:
                    alert.last_score = score
                    service.resolve_alert(session, alert=alert, resolution="recovered")
                    alerts[key], stream.alert_id = None, None
                elif alert is not None:
                    alert.last_score = score
            session.commit()
        return scored

    def _sync_alert(self, session: Session, stream: Stream) -> Alert | None:
        """The stream's unresolved alert as the database has it now (a person may have closed it meanwhile)."""
        if stream.alert_id is None:
            return None
        alert = session.get(Alert, stream.alert_id)
        if alert is None or alert.status == AlertStatus.resolved:
            stream.tracker.close()
            stream.alert_id = None
            return None
        return alert

    def _stream(self, session: Session, key: tuple[int, str]) -> Stream:
        stream = self.streams.get(key)
        if stream is not None:
            return stream
        device_id, metric = key
        stream = Stream(detector=self.factory())
        row = session.execute(select(DetectorState).where(DetectorState.device_id == device_id,
                                                          DetectorState.metric == metric)).scalar()
        if row is not None and row.detector == self.detector_name:
            try:
                # Our own checkpoint from our own database; a model that no longer unpickles starts afresh.
                stream.detector = pickle.loads(row.state)  # noqa: S301
                stream.points = row.points
                stream.last_t = row.last_observed_at.timestamp() if row.last_observed_at else None
            except Exception:
                log.warning("detector state of device %s metric %s is unreadable; starting afresh", *key)
        alert = service.unresolved_alert(session, device_id=device_id, metric=metric)
        if alert is not None:
            stream.tracker.adopt(alert.last_abnormal_at.timestamp())
            stream.alert_id = alert.id
        else:
            last = service.last_resolved_alert(session, device_id=device_id, metric=metric)
            if last is not None:
                stream.tracker.cool_from = last.last_abnormal_at.timestamp()
        self.streams[key] = stream
        return stream

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

    def _write(self, session: Session, dirty: Iterable[tuple[tuple[int, str], Stream]]) -> None:
        now = utcnow()
        for (device_id, metric), stream in dirty:
            row = session.execute(select(DetectorState).where(DetectorState.device_id == device_id,
                                                              DetectorState.metric == metric)).scalar()
            if row is None:
                row = DetectorState(device_id=device_id, metric=metric)
                session.add(row)
            row.detector = self.detector_name
            row.state = pickle.dumps(stream.detector, protocol=pickle.HIGHEST_PROTOCOL)
            row.points = stream.points
            row.last_observed_at = _at(stream.last_t) if stream.last_t is not None else None
            row.updated_at = now
