"""The notification outbox: durable event handlers run after commit, off the request, and are never lost.

Why a row and not only an in-memory queue: the notification flows used to run on the request's thread right
after its commit (a submit waited for the notification rows, the template messages and their retries, and held
its database connection while the flows took a second one). Queued in memory alone, the work of every change
committed just before a crash, a restart or a deploy would be lost without a trace. So `emit` (cloud/events.py)
stages an `outbox_event` row in the change's own transaction: the change and the promise to notify about it
commit together or not at all.

How the rows are worked off:

* After commit, `committed()` hands the rows to this process's worker thread (started with the app) and
  returns: the request answers at once. The thread claims a batch (one UPDATE), runs the bus's durable
  handlers for each event, deletes the rows that succeeded (one DELETE) and makes the others due again after
  a backoff, keeping the error on the row.
* `recover()` (a periodic job of every API process) takes rows that are due and unclaimed: those whose process
  died between commit and notify (due `lease_s` after their commit) and retries after a failure. A claim
  (`claimed_until`) makes sure one process at a time works on a row; an expired claim is taken over.
* The database away (a PostgreSQL restart): the worker keeps the items it could not claim or settle and tries
  them again itself, from 0.5 s up to `retry_s` apart, so notifications follow within seconds of the database's
  return rather than after the lease. Rows it had claimed are claimed again by the claim's own value (this
  process remembers it), which no other process can hold; the handlers' second run tells nobody twice.
* Not started (CLI commands, `medfix cloud score`, `notify_inline`): `committed()` works the rows off on the
  committing thread at once, as the flows always ran before; the rows are still written and deleted, so a
  failure there is retried by the API processes' recovery like any other.

At least once: a handler that fails half-way (or a crash after it ran but before its row was deleted) runs
again. The ticket flows are idempotent where it matters: a notification row is unique per (event, user) and
only a newly created row is sent through the channels, so the second run tells nobody twice; a WeChat
template message repeated after a crash carries the same client_msg_id, which WeChat deduplicates.
A row that failed `max_attempts` times stays in the table with its last error (ops can see it, and set its
attempts back to 0 to have it retried) and is logged as an error.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, inspect, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.batchthread import BatchThread
from cloud.db import utcnow
from cloud.events import DomainEvent, EventBus
from cloud.notify.models import OutboxEvent

log = logging.getLogger("medfix.notify.outbox")

Item = tuple[int, DomainEvent]  # (outbox row id, the event as its handlers see it)


@dataclass(frozen=True)
class Staged:
    """An event staged in a transaction: its (not yet flushed) row and the event as the handlers get it."""

    row: OutboxEvent
    event: DomainEvent


class Outbox:
    """The outbox of one app: attach to its bus, start with the app, stop with it."""

    def __init__(self, sessions: sessionmaker[Session], bus: EventBus, *, lease_s: float = 60.0,
                 retry_s: float = 10.0, retry_max_s: float = 3600.0, max_attempts: int = 12,
                 batch: int = 200, around_event: Callable[[], AbstractContextManager[object]] | None = None) -> None:
        self.sessions = sessions
        self.bus = bus
        # Wraps each event's handlers: the app's hub.collect, so what one event pushes to the consoles (the in-app
        # notification, the on-site estimate) leaves in one message and reaches each console in one frame.
        self.around_event = around_event or contextlib.nullcontext
        self.lease = timedelta(seconds=lease_s)
        self.retry_s = retry_s
        self.retry_max_s = retry_max_s
        self.max_attempts = max_attempts
        self.batch = batch
        # The worker: the database away, it keeps its items and tries again (0.5 s up to retry_s).
        self.thread: BatchThread[Item] = BatchThread("notification outbox", self.work, batch=batch,
                                                     retry_max_s=retry_s)
        # Rows this process has claimed and not yet settled: row id -> the claim's claimed_until (its token).
        self._claims: dict[int, datetime] = {}
        bus.outbox = self

    # --- the committing side ------------------------------------------------------------------------------

    def stage(self, session: Session, domain_event: DomainEvent) -> Staged:
        """Add the event's row to session's transaction (called by cloud.events.emit)."""
        # The handlers get the data as it is stored (JSON), whether they run now or after a restart.
        data = json.loads(json.dumps(domain_event.data, default=str))
        now = utcnow()
        row = OutboxEvent(name=domain_event.name, data=data, created_at=now, due_at=now + self.lease, attempts=0)
        session.add(row)
        return Staged(row, DomainEvent(domain_event.name, data))

    def committed(self, handles: list[object]) -> None:
        """The staged events committed: queue them for the worker thread (or work them off here when none runs)."""
        items: list[Item] = []
        for handle in handles:
            assert isinstance(handle, Staged)
            identity = inspect(handle.row).identity  # no SQL: the session has just committed
            if identity is None:  # staged inside a savepoint that was rolled back: nothing was committed
                continue
            items.append((int(identity[0]), handle.event))
        if not items or self.thread.offer(items):
            return
        try:
            self.work(items)
        except Exception:  # never fail the committed change; the rows stay due and recover() takes them
            log.exception("could not work off %d outbox event(s); they are retried later", len(items))

    # --- the worker ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread: from now on committed events are worked off in the background."""
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Work off what is queued, then end the thread (what is left is recovered after the next start)."""
        self.thread.stop(timeout)

    def wait_idle(self, timeout: float | None = 30.0) -> bool:
        """Block until nothing is queued or being worked on (tests, benchmarks); False on timeout."""
        return self.thread.wait_idle(timeout)

    def recover(self) -> int:
        """Work off rows that are due and unclaimed (a dead process's, or failed ones whose retry is due)."""
        now = utcnow()
        with self.sessions() as session:
            rows = session.execute(
                select(OutboxEvent.id, OutboxEvent.name, OutboxEvent.data)
                .where(OutboxEvent.due_at <= now, OutboxEvent.attempts < self.max_attempts,
                       or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now))
                .order_by(OutboxEvent.id).limit(self.batch)).all()
        if rows:
            log.info("recovering %d outbox event(s)", len(rows))
        return self.work([(int(row_id), DomainEvent(name, dict(data))) for row_id, name, data in rows])

    def work(self, items: list[Item]) -> int:
        """Claim items, run their durable handlers, then settle each row; the number that succeeded."""
        if not items:
            return 0
        now = utcnow()
        ids = [row_id for row_id, _ in items]
        claimable: list[ColumnElement[bool]] = [OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now]
        claimable += [and_(OutboxEvent.id == row_id, OutboxEvent.claimed_until == self._claims[row_id])
                      for row_id in ids if row_id in self._claims]  # ours from a try the database cut short
        until = now + self.lease
        with self.sessions() as session:
            claimed = dict(session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(ids), or_(*claimable))
                .values(claimed_until=until, attempts=OutboxEvent.attempts + 1)
                .returning(OutboxEvent.id, OutboxEvent.attempts)).all())
            session.commit()
        for row_id in ids:
            if row_id in claimed:
                self._claims[row_id] = until
            else:
                self._claims.pop(row_id, None)
        done: list[int] = []
        failed: list[tuple[int, int, str]] = []
        for row_id, domain_event in items:
            if row_id not in claimed:
                continue  # another process has it, or it is already done
            try:
                with self.around_event():
                    self.bus.run_durable(domain_event)
            except Exception as exc:
                attempts = claimed[row_id]
                level = logging.ERROR if attempts >= self.max_attempts else logging.WARNING
                log.log(level, "notification work for %s failed (attempt %d of %d)", domain_event.name, attempts,
                        self.max_attempts, exc_info=True)
                failed.append((row_id, attempts, f"{type(exc).__name__}: {exc}"[:500]))
            else:
                done.append(row_id)
        with self.sessions() as session:
            if done:
                session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(done)))
            for row_id, attempts, error in failed:
                wait = min(self.retry_s * 2 ** (attempts - 1), self.retry_max_s)
                session.execute(update(OutboxEvent).where(OutboxEvent.id == row_id).values(
                    claimed_until=None, due_at=utcnow() + timedelta(seconds=wait), last_error=error))
            session.commit()
        for row_id in claimed:
            self._claims.pop(row_id, None)
        return len(done)
