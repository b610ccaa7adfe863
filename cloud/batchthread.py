"""A queue worked off in batches by one daemon thread: the shape of the notification outbox's worker and the
WeChat callback's writer (cloud/notify/outbox.py, cloud/wechat/inbound.py).

`offer` queues items while the thread runs (False otherwise, or when the queue is full: the caller then does the
work itself); the thread hands up to `batch` items at a time to `handle`. When `handle` raises, the items are
kept and tried again after a backoff (0.5 s, doubling up to `retry_max_s`) if `retry_max_s` is set, else the
failure is logged and they are dropped (the handler keeps its own promises then). `stop` works off what is queued
(items waiting for a retry are left to the owner's recovery), `wait_idle` waits for an empty queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("medfix.batchthread")


class BatchThread(Generic[T]):
    """One daemon thread handing queued items to `handle` in batches."""

    def __init__(self, name: str, handle: Callable[[list[T]], object], *, batch: int = 200,
                 queue_max: int | None = None, retry_max_s: float = 0.0) -> None:
        self.name = name
        self.handle = handle
        self.batch = batch
        self.queue_max = queue_max
        self.retry_max_s = retry_max_s
        self._cond = threading.Condition()
        self._queue: deque[T] = deque()
        self._retry: list[T] = []  # items whose batch failed, tried again at _retry_at
        self._retry_at = 0.0
        self._retry_wait = 0.0
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def offer(self, items: Iterable[T]) -> bool:
        """Queue items for the thread; False (nothing queued) when it is not running or the queue is full."""
        batch = list(items)
        with self._cond:
            if self._thread is None or self._stopping:
                return False
            if self.queue_max is not None and len(self._queue) + len(batch) > self.queue_max:
                return False
            self._queue.extend(batch)
            self._cond.notify_all()
            return True

    def start(self) -> None:
        """Start the thread (once)."""
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Work off what is queued, then end the thread."""
        with self._cond:
            thread = self._thread
            self._stopping = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            self._thread = None

    def wait_idle(self, timeout: float | None = 30.0) -> bool:
        """Block until nothing is queued, being handled or waiting for a retry (tests, benchmarks); False on
        timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy and not self._retry, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._retry and time.monotonic() >= self._retry_at:
                        self._queue.extendleft(reversed(self._retry))
                        self._retry = []
                    if self._queue:
                        break
                    self._cond.wait(max(0.0, self._retry_at - time.monotonic()) if self._retry else None)
                if not self._queue:
                    return  # stopping: items waiting for a retry are the owner's to recover
                items = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
                self._busy = True
            failed = False
            try:
                self.handle(items)
            except Exception:
                failed = True
                if self.retry_max_s > 0:
                    log.warning("%s: %d item(s) failed; trying again", self.name, len(items), exc_info=True)
                else:
                    log.exception("%s: %d item(s) failed and were dropped", self.name, len(items))
            finally:
                with self._cond:
                    if failed and self.retry_max_s > 0:
                        self._retry_wait = min(max(0.5, self._retry_wait * 2), max(0.5, self.retry_max_s))
                        self._retry.extend(items)
                        self._retry_at = time.monotonic() + self._retry_wait
                    elif not failed:
                        self._retry_wait = 0.0
                    self._busy = False
                    self._cond.notify_all()
