"""The callback's work after its answer: claim each message's dedupe key, then log it and apply its effect, many
messages per Redis round trip and per transaction, on one thread per process.

Why not a task per message: WeChat wants an answer within 5 s, and at a busy hour (a ward scanning labels,
template-message receipts arriving in bursts) hundreds of messages a second reach the callback. Done after each
response as a BackgroundTask, the claim (a Redis round trip) and the log row (a transaction, an fsync) kept the
keep-alive connection busy, so the next message on it waited: at 2 workers the callback topped out at ~260 req/s
with a p99 of ~140 ms (docs/benchmarks-wechat.md). Now the request only queues the message; the writer claims the
keys of everything queued in one pipeline and logs the claimed ones in one transaction.

Once per message: the claim decides which of WeChat's deliveries of one message (up to 3, possibly at once, on
different workers) acts; deliveries that lose the claim do nothing, wherever they were queued.

What a failure does: the database away, the batch is written again (0.5 s, 1 s, … apart) for up to
`retry_for_s`, claims kept, since this process owns them; a batch that still fails is written one message at a
time, so one bad message loses only itself, and what then fails is logged as an error. A full queue (the
database slower than the callers for a long while) makes the request write its own message after its answer,
as before, rather than grow without bound. A process that dies loses what it had queued (at most a batch,
milliseconds' worth), as a BackgroundTask lost it before: WeChat does not resend a message that was answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from wechatpy.messages import BaseMessage

from cloud.batchthread import BatchThread
from cloud.wechat.callback import CallbackHandler
from cloud.wechat.dedupe import dedupe_key

log = logging.getLogger("medfix.wechat.inbound")
T = TypeVar("T")


class InboundWriter(BatchThread[BaseMessage]):
    """The queue of answered callback messages and the thread that claims and logs them in batches (`offer` a
    message; False when the thread is not running or the queue is full: the request then writes its own)."""

    def __init__(self, handler: CallbackHandler, *, batch: int = 200, queue_max: int = 20_000,
                 retry_for_s: float = 30.0) -> None:
        # No retry by the thread: write() retries what can be retried, and its claims must not be taken twice.
        super().__init__("wechat inbound writer", self.write, batch=batch, queue_max=queue_max)
        self.handler = handler
        self.retry_for_s = retry_for_s

    def write(self, messages: Sequence[BaseMessage]) -> int:
        """Claim and log messages now, on the calling thread; how many acted (the others were retries)."""
        keys = [dedupe_key(message) for message in messages]
        firsts = self._retrying("claim", len(keys), lambda: self.handler.claim_many(keys))
        claimed = [(message, key) for message, key, first in zip(messages, keys, firsts, strict=True) if first]
        if not claimed:
            return 0
        try:
            self._retrying("log", len(claimed), lambda: self.handler.act_many(claimed))
        except Exception:
            if len(claimed) == 1:
                raise
            for one in claimed:  # one bad message must not lose the batch
                try:
                    self.handler.act_many([one])
                except Exception:
                    log.exception("WeChat message %s was answered but could not be logged", one[1])
        return len(claimed)

    def _retrying(self, what: str, count: int, work: Callable[[], T]) -> T:
        wait, deadline = 0.5, time.monotonic() + self.retry_for_s
        while True:
            try:
                return work()
            except Exception:
                if time.monotonic() + wait > deadline:
                    raise
                log.warning("could not %s %d WeChat message(s); trying again in %.1f s", what, count, wait,
                            exc_info=True)
                time.sleep(wait)
                wait = min(wait * 2, 5.0)
