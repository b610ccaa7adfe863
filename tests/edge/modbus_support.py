"""Helpers for the Modbus tests: a pseudo-terminal null-modem cable and a leak check."""

from __future__ import annotations

import asyncio
import os
import threading
import tty
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def null_modem() -> AsyncIterator[tuple[str, str]]:
    """Two pseudo-terminal device paths wired to each other (what `socat pty pty` does), in-process."""
    loop = asyncio.get_running_loop()
    ends = [os.openpty() for _ in range(2)]
    for _, slave in ends:
        tty.setraw(slave)  # no echo, no line discipline: bytes pass as they are
    (master_a, slave_a), (master_b, slave_b) = ends

    def relay(source: int, target: int) -> None:
        try:
            data = os.read(source, 4096)
        except OSError:  # the other side closed its slave: nothing to relay
            return
        os.write(target, data)

    loop.add_reader(master_a, relay, master_a, master_b)
    loop.add_reader(master_b, relay, master_b, master_a)
    try:
        yield os.ttyname(slave_a), os.ttyname(slave_b)
    finally:
        for master, slave in ends:
            loop.remove_reader(master)
            os.close(master)
            os.close(slave)


async def assert_no_leaks(threads_before: set[threading.Thread]) -> None:
    """Fail when a test left asyncio tasks running or threads alive."""
    for _ in range(50):  # pymodbus finishes request handlers with call_soon: give them a moment
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        # The loop's default executor threads ("asyncio_N") are joined when pytest-asyncio closes the loop.
        threads = [
            t
            for t in threading.enumerate()
            if t not in threads_before and t.is_alive() and not t.name.startswith("asyncio_")
        ]
        if not tasks and not threads:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"leaked tasks {tasks} / threads {threads}")
