"""Retry pacing and "log it once" bookkeeping shared by the uplinks and the supervisor (no I/O, no extras)."""

from __future__ import annotations

import logging
import random


class Backoff:
    """Exponential backoff with jitter, so a fleet of gateways never retries in lockstep."""

    def __init__(self, initial: float = 0.5, maximum: float = 60.0, factor: float = 2.0, jitter: float = 0.2) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("need 0 < initial <= maximum, factor >= 1 and 0 <= jitter < 1")
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self._next = initial
        self.attempts = 0

    def next_delay(self) -> float:
        """Return the next delay (with jitter) and grow the one after it."""
        delay = self._next
        self._next = min(self.maximum, self._next * self.factor)
        self.attempts += 1
        return delay * (1.0 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        """Start again from the initial delay (after a success)."""
        self._next = self.initial
        self.attempts = 0


class OnceLog:
    """Logs a failure when it starts and the recovery when it ends, not on every retry in between."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._logger = logger
        self._what = what
        self.failing = False
        self.failures = 0
        self.last_error: str | None = None

    def failed(self, reason: str, *, level: int = logging.ERROR, exc_info: BaseException | None = None) -> None:
        """Record a failure; only the first of a run of failures is logged above DEBUG."""
        self.failures += 1
        self.last_error = reason
        if self.failing:
            self._logger.debug("%s: still failing: %s", self._what, reason)
            return
        self.failing = True
        self._logger.log(level, "%s: %s", self._what, reason, exc_info=exc_info)

    def recovered(self, detail: str = "") -> None:
        """Record a success; logged once when it ends a run of failures."""
        if self.failing:
            self.failing = False
            self._logger.info("%s: recovered%s", self._what, f" ({detail})" if detail else "")
