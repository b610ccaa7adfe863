"""`medfix edge probe modbus` against the simulator: a known float32 shows under its true order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest
import typer

from edge.probe import ProbeTable, probe_modbus
from edge.simulate.modbus import analyzer_register_map, run_modbus_simulator
from protocols.modbus import DataType
from tests.edge.modbus_support import assert_no_leaks


@pytest.fixture(autouse=True)
async def no_leaks() -> AsyncIterator[None]:
    before = set(threading.enumerate())
    yield
    await assert_no_leaks(before)


async def test_probe_prints_a_known_float32_under_every_order(capsys: pytest.CaptureFixture[str]) -> None:
    sim = await run_modbus_simulator(port=0, units=(3,), clock=lambda: 1_800_000_000.0)
    sim.analyzer(3).faults.overrides["incubator_temp"] = 37.25  # float32 0x42150000, served word-swapped (CDAB)
    try:
        # The CLI function runs its own event loop, so it goes to a thread while the server serves here.
        await asyncio.to_thread(
            probe_modbus, host="127.0.0.1", port=sim.port or 0, unit=3, address=2, count=2, table=ProbeTable.INPUT
        )
    finally:
        await sim.stop()
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"127.0.0.1:{sim.port} unit 3 input 2..3"
    assert lines[1] == "words: 0000 4215"
    assert "float32  CDAB  37.25" in lines
    assert "float32  ABCD  37.25" not in lines  # read unswapped it is a denormal, not the value
    assert any(line.startswith("uint32   ABCD  16917") for line in lines)


async def test_probe_reports_an_unreachable_device_and_exits_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    sim = await run_modbus_simulator(port=0, units=(1,))
    port = sim.port or 0
    await sim.stop()  # nothing listens there any more
    with pytest.raises(typer.Exit):
        await asyncio.to_thread(probe_modbus, host="127.0.0.1", port=port, timeout=0.2)
    assert "probe failed" in capsys.readouterr().err


def test_probe_needs_exactly_one_transport() -> None:
    with pytest.raises(typer.BadParameter):
        probe_modbus()
    with pytest.raises(typer.BadParameter):
        probe_modbus(host="h", serial="/dev/null")


def test_simulated_map_pads_to_fifty_metrics_in_one_extra_read() -> None:
    padded = analyzer_register_map(4, pad_to=50)
    assert len(padded.points) == 50
    assert {p.unit_id for p in padded.points} == {4}
    assert {p.data_type for p in padded.points} == set(DataType)
    assert len(padded.plan()) == len(analyzer_register_map(4).plan()) + 1
