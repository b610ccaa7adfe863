"""The outbox gate's group commit: one transaction per poll tick, each caller back only after its commit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.devices import OutboxGate
from edge.outbox import BufferFull, Outbox, OutboxError
from protocols.telemetry import Event, EventKind, Reading

AT = datetime(2024, 1, 1, tzinfo=UTC)


def group(device: str, count: int = 5) -> list[Reading | Event]:
    return [Reading(device_key=device, metric=f"m{i}", observed_at=AT, value=i) for i in range(count)]


async def test_deliveries_of_one_tick_share_one_commit(tmp_path: Path) -> None:
    woken: list[int] = []
    with Outbox(tmp_path / "o.db", gateway_id="gw") as outbox:
        gate = OutboxGate(outbox, lambda: woken.append(1), linger=0.02)
        await asyncio.gather(*(gate.sink(group(f"d{n}")) for n in range(20)))
        assert gate.commits == 1 and gate.appended == 100 and woken == [1]
        assert outbox.stats().telemetry_rows == 100  # stored (committed) before the sinks returned
        assert set(gate.last_item_at) == {f"d{n}" for n in range(20)}
        assert gate.wait_idle(0.1)
        # Later deliveries go into a later commit.
        await gate.sink(group("late"))
        assert gate.commits == 2 and outbox.stats().telemetry_rows == 105


async def test_a_refused_group_fails_only_its_own_caller(tmp_path: Path) -> None:
    clinical = Event(device_key="c", occurred_at=AT, kind=EventKind.ERROR_CODE, code="E1")
    with Outbox(tmp_path / "o.db", gateway_id="gw", max_clinical_rows=1) as outbox:
        gate = OutboxGate(outbox, linger=0.02)
        results = await asyncio.gather(gate.sink(group("a")), gate.sink([clinical]), gate.sink([clinical]),
                                       gate.sink(group("b")), return_exceptions=True)
        assert [type(r).__name__ for r in results] == ["NoneType", "NoneType", "BufferFull", "NoneType"]
        assert isinstance(results[2], BufferFull)
        assert gate.commits == 1 and gate.appended == 11
        stats = outbox.stats()
        assert (stats.telemetry_rows, stats.clinical_rows, stats.clinical_rejected_total) == (10, 1, 1)


async def test_a_closed_outbox_fails_every_waiting_caller(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", gateway_id="gw")
    outbox.close()
    gate = OutboxGate(outbox, linger=0)
    results = await asyncio.gather(gate.sink(group("a")), gate.sink(group("b")), return_exceptions=True)
    assert all(isinstance(r, OutboxError) for r in results) and gate.appended == 0
    assert gate.wait_idle(0.1)


async def test_plain_append_targets_are_still_served(tmp_path: Path) -> None:
    class Collector:
        def __init__(self) -> None:
            self.items: list[Reading | Event] = []

        def append(self, items):  # type: ignore[no-untyped-def]
            self.items.extend(items)
            return None

    collector = Collector()
    gate = OutboxGate(collector)  # type: ignore[arg-type]
    await asyncio.gather(gate.sink(group("a")), gate.sink(group("b")))
    assert len(collector.items) == 10 and gate.appended == 10


@pytest.mark.parametrize("linger", [0.0, 0.02])
async def test_cancelled_callers_do_not_leave_the_gate_busy(tmp_path: Path, linger: float) -> None:
    with Outbox(tmp_path / "o.db", gateway_id="gw") as outbox:
        gate = OutboxGate(outbox, linger=linger)
        task = asyncio.create_task(gate.sink(group("a")))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0.1)
        assert gate.wait_idle(1.0)
