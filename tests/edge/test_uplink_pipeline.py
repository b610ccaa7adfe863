"""The HTTP uplink with several batches in flight: concurrency, per-stream order, the same keys after failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from edge.config import EdgeConfig, parse_config
from edge.outbox import Outbox
from edge.uplink.http import HttpUplink
from protocols.telemetry import Batch, BatchAck, Event, EventKind, Reading, decode_batch, encode_ack


def config(tmp_path: Path) -> EdgeConfig:
    """Small batches and fast retries."""
    return parse_config("gateway_id: gw\ncloud: {url: 'http://cloud.test', token: mfgw_t, retry_initial_s: 0.05,"
                        " retry_max_s: 0.1, batch_max_items: 10, linger_s: 0}\noutbox: {path: o.db}\n",
                        base_dir=tmp_path)


def batch_streams(batch: Batch) -> frozenset[tuple[str, str]]:
    """The receiver's view of a batch's streams: (device, metric) of each reading, (device, "") of each event."""
    streams = {(reading.device_key, reading.metric) for reading in batch.readings}
    streams.update((event.device_key, "") for event in batch.events)
    return frozenset(streams)


def accepted(batch: Batch) -> httpx.Response:
    """The cloud's 200 for a batch of readings: every reading accepted."""
    return httpx.Response(200, content=encode_ack(BatchAck(idempotency_key=batch.idempotency_key,
                                                           accepted_readings=len(batch.readings), accepted_events=0)))


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
        return accepted(batch)

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
    streams: dict[int, set[tuple[str, str]]] = {}  # sequence -> its streams, as sent
    delivered: dict[tuple[str, str], list[datetime]] = {}  # stream -> observed_at of its readings, in ack order
    failed_once: set[int] = set()

    async def handler(request: httpx.Request) -> httpx.Response:
        batch = decode_batch(request.read())
        streams[batch.sequence] = set(batch_streams(batch))
        log.append(("start", batch.sequence, 0))
        await asyncio.sleep(0.03 if batch.sequence % 2 else 0.01)
        if batch.sequence in (1, 2) and batch.sequence not in failed_once:  # the oldest batches fail once
            failed_once.add(batch.sequence)
            log.append(("end", batch.sequence, 503))
            return httpx.Response(503, json={"detail": "busy"})
        log.append(("end", batch.sequence, 200))
        for reading in batch.readings:
            delivered.setdefault((reading.device_key, reading.metric), []).append(reading.observed_at)
        return accepted(batch)

    with Outbox(cfg.outbox.path, gateway_id="gw") as outbox:
        devices = ["a", "b", "a", "c", "b", "a", "d", "e"]  # a's appends 1, 3, 6 share its streams; b's 2 and 5
        fill(outbox, devices)
        uplink = HttpUplink(cfg.cloud, outbox, gateway_id="gw", http_transport=httpx.MockTransport(handler))
        await run_until_empty(uplink, outbox)
    shared = 0
    for later, later_streams in streams.items():
        for earlier in range(1, later):
            if streams[earlier] & later_streams:
                shared += 1
                # Every send of a later batch of the same stream starts after the earlier one was acked.
                acked_at = log.index(("end", earlier, 200))
                assert all(i > acked_at for i, e in enumerate(log) if e[:2] == ("start", later)), (earlier, later)
    assert shared  # the case under test happened
    # What the ordering protects: each stream's readings reach the cloud in time order (the scorer's rule).
    assert delivered and all(times == sorted(set(times)) for times in delivered.values())
    assert sum(len(times) for times in delivered.values()) == 80
    assert sorted({e[1] for e in log if e[0] == "end" and e[2] == 200}) == sorted(streams)
    assert uplink.stats.retries == 2 and uplink.stats.batches_acked == len(streams)


def test_the_streams_the_uplink_orders_by_are_the_batch_readings_and_event_devices(tmp_path: Path) -> None:
    at = datetime.now(UTC)
    with Outbox(tmp_path / "o.db", gateway_id="gw") as outbox:
        outbox.append([Reading(device_key="d", metric="t", value=1.0, observed_at=at),
                       Event(device_key="e", occurred_at=at, kind=EventKind.STATUS, code="1")])
        frozen = outbox.lease_wire()
        assert frozen is not None
        assert frozen.streams == batch_streams(frozen.decode()) == {("d", "t"), ("e", "")}


async def test_a_window_that_fails_while_filling_recovers_with_the_same_keys(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    keys: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        batch = decode_batch(request.read())
        keys.append(batch.idempotency_key)
        if len(keys) <= 6:  # the cloud is down for the first sends: they fail at once, while the window fills
            raise httpx.ConnectError("connection refused")
        await asyncio.sleep(0.01)
        return accepted(batch)

    with Outbox(cfg.outbox.path, gateway_id="gw") as outbox:
        fill(outbox, [f"d{n % 5}" for n in range(20)])
        uplink = HttpUplink(cfg.cloud, outbox, gateway_id="gw", http_transport=httpx.MockTransport(handler))
        await run_until_empty(uplink, outbox)
        assert uplink.stats.batches_acked == 20 and outbox.stats().acked_items_total == 200
        assert len(set(keys)) == 20  # re-sends reuse their batch's key


def fleet_config(tmp_path: Path, extra: str = "") -> EdgeConfig:
    return parse_config("gateway_id: gw\ncloud: {url: 'http://cloud.test', token: mfgw_t, retry_initial_s: 0.05,"
                        f" retry_max_s: 0.1, batch_max_items: 100, linger_s: 0{extra}}}\noutbox: {{path: o.db}}\n",
                        base_dir=tmp_path)


def fill_fleet(outbox: Outbox, devices: int, metrics: int, seconds: int) -> None:
    """A backlog as the agent stores it: a group per device per second."""
    start = datetime.now(UTC)
    for second in range(seconds):
        at = start + timedelta(seconds=second)
        outbox.append_many([[Reading(device_key=f"d{d}", metric=f"m{m}", value=float(second), observed_at=at)
                             for m in range(metrics)] for d in range(devices)])


class Receiver:
    """A mock cloud that checks no two batches sharing a stream are ever in flight together."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.active: dict[int, set[tuple[str, str]]] = {}
        self.peak = 0
        self.sizes: list[int] = []
        self.delivered: dict[tuple[str, str], list[datetime]] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        batch = decode_batch(request.read())
        streams = set(batch_streams(batch))
        for other in self.active.values():
            assert not streams & other, "two batches sharing a stream were in flight at once"
        self.active[batch.sequence] = streams
        self.peak = max(self.peak, len(self.active))
        self.sizes.append(len(batch.readings))
        await asyncio.sleep(self.delay)
        del self.active[batch.sequence]
        for reading in batch.readings:
            self.delivered.setdefault((reading.device_key, reading.metric), []).append(reading.observed_at)
        return accepted(batch)


async def test_a_small_fleet_backlog_goes_out_in_disjoint_concurrent_batches(tmp_path: Path) -> None:
    # 10 devices x 10 metrics, batches of 100: a FIFO batch would be one second of every stream of the fleet, so
    # each would wait for the one before (one batch at a time). Batches are formed device-disjoint instead.
    cfg = fleet_config(tmp_path)
    receiver = Receiver()
    with Outbox(cfg.outbox.path, gateway_id="gw") as outbox:
        fill_fleet(outbox, devices=10, metrics=10, seconds=20)
        uplink = HttpUplink(cfg.cloud, outbox, gateway_id="gw", http_transport=httpx.MockTransport(receiver))
        await run_until_empty(uplink, outbox)
    assert receiver.peak == 4 and uplink.stats.peak_in_flight == 4 and uplink.stats.in_flight == 0
    assert sum(receiver.sizes) == 2000 == uplink.stats.items_acked
    assert len(receiver.delivered) == 100
    assert all(times == sorted(set(times)) and len(times) == 20 for times in receiver.delivered.values())


async def test_batches_sharing_a_stream_never_go_out_together(tmp_path: Path) -> None:
    # One device: every batch shares its streams with the next, so they go one at a time, in order.
    cfg = fleet_config(tmp_path)
    receiver = Receiver(delay=0.005)
    with Outbox(cfg.outbox.path, gateway_id="gw") as outbox:
        fill_fleet(outbox, devices=1, metrics=10, seconds=50)
        uplink = HttpUplink(cfg.cloud, outbox, gateway_id="gw", http_transport=httpx.MockTransport(receiver))
        await run_until_empty(uplink, outbox)
    assert receiver.peak == 1 and len(receiver.sizes) == 5
    assert all(times == sorted(set(times)) and len(times) == 50 for times in receiver.delivered.values())


async def test_a_backlog_is_sent_in_larger_batches_then_in_normal_ones(tmp_path: Path) -> None:
    cfg = fleet_config(tmp_path, ", backlog_batch_max_items: 300")
    receiver = Receiver(delay=0.005)
    with Outbox(cfg.outbox.path, gateway_id="gw") as outbox:
        fill_fleet(outbox, devices=10, metrics=10, seconds=30)  # 3,000 waiting: a backlog
        uplink = HttpUplink(cfg.cloud, outbox, gateway_id="gw", http_transport=httpx.MockTransport(receiver))
        await run_until_empty(uplink, outbox)
    assert receiver.sizes[0] > 100 and max(receiver.sizes) <= 300  # larger while more than 300 waited
    assert receiver.sizes[-1] <= 100  # normal size once the backlog is gone
    assert sum(receiver.sizes) == 3000
    assert all(times == sorted(set(times)) and len(times) == 30 for times in receiver.delivered.values())
