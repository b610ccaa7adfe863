"""The ASTM serial driver end to end: a simulated analyzer on a pty master, the real driver on the slave path."""

from __future__ import annotations

import asyncio
import logging
import os
import select
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.drivers.astm_serial import AstmSerialDriver
from edge.drivers.serial_io import Backoff, SerialSettings
from edge.outbox import Outbox
from edge.simulate.astm import AstmSimConfig, AstmSimulatorRunner
from protocols.astm.framing import ACK, ENQ, EOT, Frame, FrameParser, build_frames
from protocols.astm.link import Timers
from protocols.astm.records import parse_message
from protocols.simulators.astm import AnalyzerSimulator
from protocols.telemetry import EventKind, RetentionClass
from tests.edge.serial_helpers import (
    GatedOutbox,
    leak_check,
    pty_pair,
    read_fd,
    running,
    stored_events,
    wait_until,
)

no_leaks = pytest.fixture(autouse=True)(leak_check)

CAPTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "astm"
HOST = Timers(reply=1.0, frame=1.0, busy_retry=0.3, contention=1.5)
SIM = Timers(reply=1.0, frame=1.0, busy_retry=0.3)
ORDER = "H|\\^&|||LIS\rP|1\rO|1|S9||^^^GLU\rL|1|N\r"


@pytest.fixture
def outbox_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.db"


@pytest.fixture
def outbox(outbox_path: Path) -> Iterator[Outbox]:
    with Outbox(outbox_path, gateway_id="gw-test") as box:
        yield box


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    with pty_pair() as pair:
        yield pair


def driver_for(url: str, outbox: object, timers: Timers = HOST) -> AstmSerialDriver:
    return AstmSerialDriver(
        device_key="chem-1",
        port=SerialSettings(url),
        outbox=outbox,  # type: ignore[arg-type]
        timers=timers,
        store_retry_s=0.1,
        backoff=Backoff(initial=0.05, maximum=0.2),
    )


def results_by_sample(path: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for event in stored_events(path):
        if event.kind is EventKind.ASTM_RESULT and event.payload.get("complete"):
            sample = str(event.payload["sample_id"])
            assert sample not in out, f"sample {sample} stored twice"
            out[sample] = {str(r["test"]): str(r["value"]) for r in event.payload["results"]}  # type: ignore[index,union-attr]
    return out


def sent_by_sample(texts: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for text in texts:
        message = parse_message(text)
        out[message.orders[0].sample_id] = {r.test_code: r.value for r in message.results}
    return out


async def test_results_reach_the_outbox_as_clinical_events_with_the_right_values(
    pty: tuple[int, str], outbox: Outbox, outbox_path: Path
) -> None:
    master, path = pty
    driver = driver_for(path, outbox)
    runner = AstmSimulatorRunner(
        AstmSimConfig(interval=0.05, first_after=0.05, count=3, timers=SIM, error_code="E042", error_every=3)
    )
    async with running(driver.run()):
        await wait_until(lambda: driver.status().state == "connected")
        await asyncio.wait_for(runner.serve_fd(master), 10)
        await wait_until(lambda: driver.status().messages_stored == 3)
    assert results_by_sample(outbox_path) == sent_by_sample(runner.sim.sent)
    events = stored_events(outbox_path)
    assert all(e.retention is RetentionClass.CLINICAL and e.device_key == "chem-1" for e in events)
    first = events[0].payload
    assert first["sample_id"] == "S00001" and first["patient_id"] == "P0001" and first["complete"] is True
    result = first["results"][0]  # type: ignore[index]
    assert set(result) >= {"test", "value", "units", "flags", "status", "completed_at"}  # type: ignore[arg-type]
    errors = [e for e in events if e.kind is EventKind.ERROR_CODE]
    assert [e.code for e in errors] == ["E042"] and errors[0].payload["sample_id"] == "S00003"
    status = driver.status()
    assert (status.messages_received, status.duplicates, status.naks_sent, status.busy) == (3, 0, 0, False)
    assert status.last_message_at is not None and status.as_dict()["state"] == "stopped"


async def test_bad_checksum_is_naked_and_the_retransmission_stored_once(
    pty: tuple[int, str], outbox: Outbox, outbox_path: Path
) -> None:
    master, path = pty
    driver = driver_for(path, outbox)
    runner = AstmSimulatorRunner(
        AstmSimConfig(interval=0.05, first_after=0.05, count=2, timers=SIM, bad_checksum_every=4)
    )
    async with running(driver.run()):
        await asyncio.wait_for(runner.serve_fd(master), 10)
        await wait_until(lambda: driver.status().messages_stored == 2)
    assert runner.frames_corrupted >= 3
    status = driver.status()
    assert status.checksum_errors == status.frame_errors == status.naks_sent == runner.frames_corrupted
    assert runner.sim.naks_received == runner.frames_corrupted
    assert results_by_sample(outbox_path) == sent_by_sample(runner.sim.sent)
    assert len(stored_events(outbox_path)) == 2


async def test_a_stalled_sender_times_out_and_the_partial_message_is_kept_flagged(
    pty: tuple[int, str], outbox: Outbox, outbox_path: Path
) -> None:
    master, path = pty
    driver = driver_for(path, outbox, Timers(reply=1.0, frame=0.3, busy_retry=0.2))
    sim_timers = Timers(reply=0.3, frame=1.0, busy_retry=0.2)
    runner = AstmSimulatorRunner(
        AstmSimConfig(first_after=0.05, count=1, timers=sim_timers, stall_first=True, stall_seconds=0.7)
    )
    async with running(driver.run()):
        await asyncio.wait_for(runner.serve_fd(master), 10)
        await wait_until(lambda: driver.status().messages_stored == 2)
    assert runner.stalls == 1
    partial, whole = stored_events(outbox_path)
    assert partial.payload["complete"] is False and "raw" in partial.payload
    assert whole.payload["complete"] is True and whole.payload["sample_id"] == "S00001"
    status = driver.status()
    assert status.timeouts >= 1 and status.incomplete_messages == 1


async def test_contention_the_instrument_wins_and_the_host_sends_afterwards(
    pty: tuple[int, str], outbox: Outbox, outbox_path: Path
) -> None:
    master, path = pty
    driver = driver_for(path, outbox)
    sim = AnalyzerSimulator(timers=SIM)
    runner = AstmSimulatorRunner(AstmSimConfig(first_after=3600, timers=SIM), sim=sim)
    async with running(driver.run()):
        await wait_until(lambda: driver.status().state == "connected")
        driver.send_message(ORDER)
        # Both bid for the line: the host's ENQ is on the wire, unread, when the instrument sends its own.
        assert await asyncio.to_thread(lambda: select.select([master], [], [], 2.0)[0])
        runner.queue_result()
        os.write(master, sim.data_to_send())
        async with running(runner.serve_fd(master)):
            await wait_until(lambda: driver.status().messages_stored == 1 and sim.received != [], timeout=8)
    status = driver.status()
    assert status.contentions == 1 and status.orders_sent == 1
    assert [m.replace("\n", "\r") for m in sim.received][0].startswith("H|\\^&|||LIS\rP|1\rO|1|S9")
    assert list(results_by_sample(outbox_path)) == ["S00001"]


async def test_outbox_full_naks_new_sessions_then_resumes_and_loses_nothing(
    tmp_path: Path, pty: tuple[int, str]
) -> None:
    master, path = pty
    with Outbox(tmp_path / "small.db", gateway_id="gw-test", max_clinical_rows=1) as small:
        driver = driver_for(path, small)
        sim_timers = Timers(reply=0.4, frame=1.0, busy_retry=0.2)
        runner = AstmSimulatorRunner(AstmSimConfig(interval=0.05, first_after=0.05, count=3, timers=sim_timers))
        delivered: list[str] = []

        def drain() -> None:
            while (batch := small.lease()) is not None:
                delivered.extend(str(e.payload["sample_id"]) for e in batch.events)
                small.ack(batch.idempotency_key)

        async with running(driver.run()), running(runner.serve_fd(master)) as sim_task:
            await wait_until(lambda: driver.status().busy, what="busy")
            await wait_until(lambda: driver.status().naks_sent >= 1, what="a busy NAK to an ENQ")
            while not sim_task.done():
                drain()  # the cloud catches up: room frees, one row at a time
                await asyncio.sleep(0.05)
            await wait_until(lambda: driver.status().pending_store == 0)
            drain()
        assert sorted(delivered) == ["S00001", "S00002", "S00003"]
        assert runner.sim.failed == [] and driver.status().busy is False
        assert small.stats().clinical_rejected_total >= 1


async def test_last_ack_is_withheld_until_the_outbox_append_returned(
    pty: tuple[int, str], outbox: Outbox, outbox_path: Path
) -> None:
    master, path = pty
    gated = GatedOutbox(outbox)
    driver = driver_for(path, gated)
    text = AstmSimulatorRunner(AstmSimConfig(timers=SIM)).queue_result(0.0)
    frames = build_frames(text.encode("latin-1"), per_record=True)
    async with running(driver.run()):
        await wait_until(lambda: driver.status().state == "connected")
        os.write(master, bytes([ENQ]))
        assert await asyncio.to_thread(read_fd, master, 2.0) == bytes([ACK])
        for frame in frames[:-1]:
            os.write(master, frame)
            assert await asyncio.to_thread(read_fd, master, 2.0) == bytes([ACK])
        os.write(master, frames[-1])
        await wait_until(gated.entered.is_set, what="append to start")
        assert await asyncio.to_thread(read_fd, master, 0.4) == b"", "ACK sent before the message was stored"
        assert driver.status().link_state == "recv_hold_ack" and not gated.returned.is_set()
        gated.gate.set()
        assert await asyncio.to_thread(read_fd, master, 2.0) == bytes([ACK])
        assert gated.returned.is_set()
        os.write(master, bytes([EOT]))
        await wait_until(lambda: driver.status().link_state == "idle")
    assert list(results_by_sample(outbox_path)) == ["S00001"]


async def test_a_message_resent_after_a_late_ack_is_stored_once(
    pty: tuple[int, str], outbox: Outbox, outbox_path: Path
) -> None:
    master, path = pty
    gated = GatedOutbox(outbox)
    driver = driver_for(path, gated)
    runner = AstmSimulatorRunner(AstmSimConfig(first_after=0.05, count=1, timers=Timers(reply=0.3, busy_retry=0.1)))
    async with running(driver.run()), running(runner.serve_fd(master)) as sim_task:
        # The store outlasts the instrument's reply timer: it gives up (EOT) and sends the message again.
        await wait_until(lambda: driver.status().sender_gave_up >= 1, what="the instrument to give up")
        gated.gate.set()
        await asyncio.wait_for(sim_task, 5)
    status = driver.status()
    assert status.messages_received == 2 and status.duplicates == 1 and status.messages_stored == 1
    assert gated.calls == 1 and len(stored_events(outbox_path)) == 1
    assert len(runner.sim.sent) == 1


async def test_socket_url_via_a_tcp_listener_reconnects_after_a_drop(
    outbox: Outbox, outbox_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge.drivers.astm_serial")
    runner = AstmSimulatorRunner(AstmSimConfig(interval=0.1, first_after=0.05, timers=SIM))
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    async with running(runner.serve_tcp("127.0.0.1", 0, ready.set_result)):
        url = await asyncio.wait_for(ready, 5)
        assert url.startswith("socket://127.0.0.1:")
        driver = driver_for(url, outbox)
        async with running(driver.run()):
            await wait_until(lambda: driver.status().messages_stored >= 1)
            runner.disconnect_clients()  # the terminal server drops the connection
            await wait_until(lambda: driver.status().reconnects >= 1 and driver.status().state == "connected")
            stored = driver.status().messages_stored
            await wait_until(lambda: driver.status().messages_stored >= stored + 2)
    samples = results_by_sample(outbox_path)  # asserts no sample twice
    assert len(samples) >= 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("failed" in m for m in messages) == 1 and sum("recovered" in m for m in messages) == 1


async def test_a_vanished_port_is_reported_and_logged_once(outbox: Outbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge.drivers.astm_serial")
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    driver = driver_for(path, outbox)
    try:
        async with running(driver.run()):
            await wait_until(lambda: driver.status().state == "connected")
            os.close(master)  # unplugged: the slave sees a hang-up and the path disappears
            master = -1
            await wait_until(lambda: driver.status().state in ("disconnected", "connecting"))
            await asyncio.sleep(0.5)  # several reconnect attempts with the 0.05 s backoff
            status = driver.status()
            assert status.last_error is not None and status.state in ("disconnected", "connecting")
    finally:
        if master >= 0:
            os.close(master)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "failed" in warnings[0].getMessage()


@pytest.mark.parametrize("name", ["c111.bin", "cobas_c311.bin", "genexpert.bin", "pentra.bin", "sysmex_xn550.bin"])
async def test_real_captures_played_over_a_pty_become_result_events(
    name: str, pty: tuple[int, str], outbox: Outbox, outbox_path: Path
) -> None:
    master, path = pty
    raw = (CAPTURES / name).read_bytes()
    tokens = [t for t in FrameParser().feed(raw) if isinstance(t, Frame)]
    frames = [t.raw for t in tokens]
    driver = driver_for(path, outbox)
    async with running(driver.run()):
        await wait_until(lambda: driver.status().state == "connected")
        os.write(master, bytes([ENQ]))
        for frame in [b""] + frames:
            if frame:
                os.write(master, frame)
            reply = await asyncio.to_thread(read_fd, master, 2.0)
            assert reply == bytes([ACK]), f"got {reply!r} instead of ACK"
        os.write(master, bytes([EOT]))
        await wait_until(lambda: driver.status().link_state == "idle")
    text = b"".join(t.text for t in tokens).decode("latin-1")
    message = parse_message(text)
    events = [e for e in stored_events(outbox_path) if e.kind is EventKind.ASTM_RESULT]
    assert len(events) == len(message.orders)
    assert sum(len(e.payload["results"]) for e in events) == len(message.results)  # type: ignore[arg-type]
    assert events[0].payload["sample_id"] == message.orders[0].sample_id
    assert driver.status().naks_sent == 0
