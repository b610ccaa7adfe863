"""Stopping asyncio tasks for sure: the agent's supervisor and the OPC UA driver both rely on it.

Python 3.11's asyncio.wait_for returns the result instead of raising when the awaited future completes in the
same loop step as the cancellation (fixed in 3.12). pymodbus awaits every reply that way and asyncua every
request, so a task cancelled just as a reply lands may swallow the cancel and run on (seen in CI: the agent never
stopped). Cancelling again until the task is done stops it at its next await.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final

CANCEL_AGAIN_AFTER_S: Final = 0.2  # how long a cancelled task may take before it is cancelled again


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel the tasks and return once each has ended; their outcomes are collected, never raised."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_AFTER_S)
    await asyncio.gather(*tasks, return_exceptions=True)  # retrieved, so none is logged as never retrieved
