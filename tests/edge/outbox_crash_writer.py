"""Child process for the SIGKILL test: appends numbered items, leases and "delivers" batches, forever.

Usage: python outbox_crash_writer.py DB SINK FIRST_NUMBER SEED CRASH_AT

After each append() returns it prints the item's number (the append is then acknowledged to the
parent). Every leased batch is logged to SINK as {"leased", "key", "numbers"}; a delivered one is then
written as {"delivered", "key", "numbers"} *before* ack(), like a cloud that stored the batch before
the gateway saw its answer. The parent kills this process with SIGKILL at random moments; CRASH_AT
makes it SIGKILL itself at the worst moments too: "after_lease" (leased, not sent) or "after_send"
(sent, not acked) on the fifth lease; "never" leaves it to the parent.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO

from edge.outbox import Outbox
from protocols.telemetry import Batch, Event, EventKind, Reading

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def item_for(number: int) -> Reading | Event:
    """Clinical event for even numbers, telemetry reading for odd ones; the number is recoverable."""
    moment = EPOCH + timedelta(seconds=number)
    if number % 2 == 0:
        return Event(device_key="dev", occurred_at=moment, kind=EventKind.ASTM_RESULT, code=str(number))
    return Reading(device_key="dev", metric="counter", observed_at=moment, value=number)


def numbers_in(batch: Batch) -> list[int]:
    """The item numbers a batch carries, in batch order (readings then events)."""
    return [int(r.value) for r in batch.readings] + [int(e.code or "-1") for e in batch.events]


def log(out: TextIO, what: str, batch: Batch) -> None:
    """Append one JSON line about a batch to the sink and push it to disk."""
    out.write(json.dumps({what: True, "key": batch.idempotency_key, "numbers": numbers_in(batch)}) + "\n")
    out.flush()
    os.fsync(out.fileno())


def main() -> None:
    db, sink, first, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    crash_at = sys.argv[5]
    rng = random.Random(seed)
    leases = 0
    with Outbox(db, gateway_id="gw-crash", max_telemetry_rows=1_000_000) as outbox, open(sink, "a") as out:
        for number in range(first, first + 100_000):
            outbox.append([item_for(number)])
            sys.stdout.write(f"{number}\n")
            sys.stdout.flush()
            if rng.random() < 0.3:
                batch = outbox.lease(max_items=rng.randint(1, 6))
                if batch is None:
                    continue
                leases += 1
                log(out, "leased", batch)
                if crash_at == "after_lease" and leases == 5:
                    os.kill(os.getpid(), signal.SIGKILL)
                if rng.random() < 0.2:
                    outbox.nack(batch.idempotency_key)  # the send failed; the batch must come back as is
                    continue
                log(out, "delivered", batch)
                if crash_at == "after_send" and leases == 5:
                    os.kill(os.getpid(), signal.SIGKILL)
                outbox.ack(batch.idempotency_key)


if __name__ == "__main__":
    main()
