"""Helpers for the serial driver tests: pty pairs, background tasks, waiting, leak checks, outbox contents."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import sqlite3
import threading
import time
import tty
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any

from edge.outbox import AppendResult, Outbox
from protocols.telemetry import Event, Reading, decode_batch


async def leak_check() -> AsyncIterator[None]:
    """Fail the test if it leaves asyncio tasks or threads behind (use as an autouse fixture)."""
    threads_before = set(threading.enumerate())
    yield
    current = asyncio.current_task()
    leftover: list[asyncio.Task[Any]] = []
    for _ in range(50):
        leftover = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not leftover:
            break
        await asyncio.sleep(0.01)
    assert not leftover, f"tasks left running: {leftover}"
    # asyncio.to_thread workers belong to the loop's default executor; shut it down to see real leaks.
    await asyncio.get_running_loop().shutdown_default_executor()
    deadline = time.monotonic() + 2.0
    extra = [t for t in threading.enumerate() if t not in threads_before]
    while extra and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        extra = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    assert not extra, f"threads left running: {extra}"


@contextlib.contextmanager
def pty_pair() -> Iterator[tuple[int, str]]:
    """Yield (master fd, slave path) of a raw pseudo-terminal; the slave fd stays open so the path lives."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(master)
        with contextlib.suppress(OSError):
            os.close(slave)


@contextlib.asynccontextmanager
async def running(coro: Coroutine[Any, Any, Any]) -> AsyncIterator[asyncio.Task[Any]]:
    """Run a coroutine as a task for the block; cancel and await it afterwards (re-raising its failure)."""
    task = asyncio.ensure_future(coro)
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 10 ms until true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def read_fd(fd: int, timeout: float) -> bytes:
    """Read what arrives on ``fd`` within ``timeout`` seconds (b"" if nothing)."""
    ready, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, 4096) if ready else b""


def stored_items(path: Path) -> list[Event | Reading]:
    """Return every item in an outbox file (frozen batches first, then waiting chunks in append order)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        frozen = conn.execute("SELECT wire FROM outbox_frozen ORDER BY sequence").fetchall()
        chunks = conn.execute("SELECT kind, body FROM outbox_chunk ORDER BY id").fetchall()
    items: list[Event | Reading] = []
    for (wire,) in frozen:
        batch = decode_batch(wire)
        items += [*batch.readings, *batch.events]
    for kind, body in chunks:
        for line in zlib.decompress(body).decode("utf-8").split("\n"):
            items.append(Reading.model_validate_json(line) if kind == "reading" else Event.model_validate_json(line))
    return items


def stored_events(path: Path) -> list[Event]:
    """Return the events in an outbox file."""
    return [item for item in stored_items(path) if isinstance(item, Event)]


class GatedOutbox:
    """Wraps an Outbox; append() blocks until ``gate`` is set, so a test can hold a store in flight."""

    def __init__(self, inner: Outbox) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.returned = threading.Event()
        self.calls = 0

    def append(self, items: Iterable[Reading | Event]) -> AppendResult:
        self.calls += 1
        self.entered.set()
        self.gate.wait(10.0)
        result = self.inner.append(items)
        self.returned.set()
        return result
