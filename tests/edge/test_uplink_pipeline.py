"""The HTTP uplink with several batches in flight: concurrency, per-stream order, the same keys after failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from edge.config import EdgeConfig, parse_config
from edge.outbox import Outbox
from edge.uplink import batch_streams
from edge.uplink.http import HttpUplink
from protocols.telemetry import BatchAck, Reading, decode_batch, encode_ack


def config(tmp_path: Path) -> EdgeConfig:
    """Small batches and fast retries."""
    return parse_config("gateway_id: gw\ncloud: {url: 'http://cloud.test', token: mfgw_t, retry_initial_s: 0.05,"
                        " retry_max_s: 0.1, batch_max_items: 10, linger_s: 0}\noutbox: {path: o.db}\n",
                        base_dir=tmp_path)


def fill(outbox: Outbox, devices: list[str]) -> None:
    """One append (= one batch of 10) per entry, each for one device; later entries are newer."""
    start = datetime.now(UTC)
    for n, device in enumerate(devices):
        at = start + timedelta(seconds=n)
        outbox.append([Reading(device_key=device, metric=f"m{i}", value=float(n), observed_at=at) for i in range(10)])


async def run_until_empty(uplink: HttpUplink, outbox: Outbox, timeout: float = 10.0) -> None:
    """Run the uplink until the outbox is empty, then stop it."""
    task = asyncio.create_task(uplink.run())
    deadline = asyncio.get_running_loop().time() + timeout
    while outbox.stats().telemetry_rows or outbox.stats().pending_batches:
        assert asyncio.get_running_loop().time() < deadline, "outbox not drained in time"
        await asyncio.sleep(0.02)
    uplink.request_stop()
    await task


async def test_up_to_max_in_flight_disjoint_batches_are_sent_at_once(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    active, peak, keys = 0, 0, []

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        batch = decode_batch(request.read())
        keys.append(batch.idempotency_key)
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        return httpx.Response(200, content=encode_ack(BatchAck(idempotency_key=batch.idempotency_key,
                                                               accepted_readings=len(batch.readings),
                                                               accepted_events=0)))

    with Outbox(cfg.outbox.path, gateway_id="gw") as outbox:
        fill(outbox, [f"d{n}" for n in range(12)])
        uplink = HttpUplink(cfg.cloud, outbox, gateway_id="gw", http_transport=httpx.MockTransport(handler))
        assert uplink.max_in_flight == 4  # the HTTP default
        await run_until_empty(uplink, outbox)
        assert peak == 4 and len(keys) == 12 == len(set(keys))
        assert outbox.stats().acked_items_total == 120 and uplink.stats.batches_acked == 12


async def test_batches_sharing_a_stream_are_acked_in_order_even_after_a_failure(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    log: list[tuple[str, int, int]] = []  # (start|end, sequence, status)
    failed_once: set[int] = set()

    async def handler(request: httpx.Request) -> httpx.Response:
        batch = decode_batch(request.read())
        log.append(("start", batch.sequence, 0))
        await asyncio.sleep(0.03 if batch.sequence % 2 else 0.01)
        if batch.sequence in (1, 2) and batch.sequence not in failed_once:  # the oldest batches fail once
            failed_once.add(batch.sequence)
            log.append(("end", batch.sequence, 503))
            return httpx.Response(503, json={"detail": "busy"})
        log.append(("end", batch.sequence, 200))
        return httpx.Response(200, content=encode_ack(BatchAck(idempotency_key=batch.idempotency_key,
                                                               accepted_readings=len(batch.readings),
                                                               accepted_events=0)))

    with Outbox(cfg.outbox.path, gateway_id="gw") as outbox:
        devices = ["a", "b", "a", "c", "b", "a", "d", "e"]  # batches 1, 3, 6 share device a; 2 and 5 share b
        fill(outbox, devices)
        uplink = HttpUplink(cfg.cloud, outbox, gateway_id="gw", http_transport=httpx.MockTransport(handler))
        await run_until_empty(uplink, outbox)
    streams = {n + 1: batch_streams_of(device) for n, device in enumerate(devices)}
    for later, later_streams in streams.items():
        for earlier in range(1, later):
            if streams[earlier] & later_streams:
                # Every send of a later batch of the same stream starts after the earlier one was acked.
                acked_at = log.index(("end", earlier, 200))
                assert all(i > acked_at for i, e in enumerate(log) if e[:2] == ("start", later)), (earlier, later)
    assert sorted({e[1] for e in log if e[0] == "end" and e[2] == 200}) == list(range(1, 9))
    assert uplink.stats.retries == 2 and uplink.stats.batches_acked == 8


def batch_streams_of(device: str) -> set[tuple[str, str]]:
    """The streams fill() gives one device's batch."""
    return {(device, f"m{i}") for i in range(10)}


def test_batch_streams_covers_readings_and_event_devices() -> None:
    from protocols.telemetry import Batch

    at = datetime.now(UTC)
    batch = Batch(gateway_id="gw", stream_id="s", sequence=1, created_at=at,
                  readings=[Reading(device_key="d", metric="t", value=1.0, observed_at=at)])
    assert batch_streams(batch) == {("d", "t")}


async def test_a_window_that_fails_while_filling_recovers_with_the_same_keys(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    keys: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        batch = decode_batch(request.read())
        keys.append(batch.idempotency_key)
        if len(keys) <= 6:  # the cloud is down for the first sends: they fail at once, while the window fills
            raise httpx.ConnectError("connection refused")
        await asyncio.sleep(0.01)
        return httpx.Response(200, content=encode_ack(BatchAck(idempotency_key=batch.idempotency_key,
                                                               accepted_readings=len(batch.readings),
                                                               accepted_events=0)))

    with Outbox(cfg.outbox.path, gateway_id="gw") as outbox:
        fill(outbox, [f"d{n % 5}" for n in range(20)])
        uplink = HttpUplink(cfg.cloud, outbox, gateway_id="gw", http_transport=httpx.MockTransport(handler))
        await run_until_empty(uplink, outbox)
        assert uplink.stats.batches_acked == 20 and outbox.stats().acked_items_total == 200
        assert len(set(keys)) == 20  # re-sends reuse their batch's key
