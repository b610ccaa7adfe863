"""Periodic background jobs of an app process (SLA timers, retention): one loop, one place for its rules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from cloud.metrics import timed_job

log = logging.getLogger("medfix.jobs")


class PeriodicJob:
    """Runs a blocking function in a worker thread every interval_s while the app lives.

    A failing run is logged and tried again at the next interval: one bad run never stops the job for good.
    An interval of 0 means the job is off (tests call the function themselves).
    """

    def __init__(self, name: str, interval_s: float, work: Callable[[], object]) -> None:
        self.name = name
        self.interval_s = interval_s
        self.work = timed_job(name, work)  # runs, failures and durations on /metrics, by the job's name
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin the loop on the running event loop (nothing when the interval is 0)."""
        if self.interval_s > 0:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """End the loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await asyncio.to_thread(self.work)
            except Exception:
                log.exception("%s failed; trying again in %s s", self.name, self.interval_s)
