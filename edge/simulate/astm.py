"""The I/O runner for the pure ASTM AnalyzerSimulator: a realistic analyzer on a serial port, a pty or TCP.

`medfix edge simulate astm` runs it (see :func:`simulate_astm`); tests and the demo use the async API
(:class:`AstmSimulatorRunner`, :func:`run_astm_simulator`). The simulator itself stays sans-I/O in
protocols/simulators/astm.py; this module moves its bytes, drives its timers from a monotonic clock,
queues a result message every ``interval`` seconds with slowly drifting values, and injects the faults
that live on the wire rather than in the instrument's logic: corrupted checksums and a stalled sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Protocol

import typer

from edge.drivers.serial_io import PortClosed, SerialChannel, SerialSettings
from protocols.astm.framing import ETB, ETX, STX
from protocols.astm.link import Timers
from protocols.simulators.astm import (
    CHEMISTRY_PANEL,
    AnalyzerSimulator,
    Faults,
    SimResult,
    error_result,
    result_message,
)

__all__ = ["AstmSimConfig", "AstmSimulatorRunner", "DriftingPanel", "run_astm_simulator", "simulate_astm"]


@dataclass
class AstmSimConfig:
    """What the simulated analyzer sends and which faults it injects."""

    interval: float = 5.0  # seconds between result messages (the first goes out after ``first_after``)
    first_after: float = 0.5
    count: int | None = None  # stop once this many messages were delivered or given up (None: run forever)
    seed: int = 0
    timers: Timers = field(default_factory=Timers)
    bad_checksum_every: int = 0  # corrupt the checksum of every Nth frame on the wire (0: never)
    stall_first: bool = False  # go silent after frame 1 of the first message, for ``stall_seconds``
    stall_every: int = 0  # ... or of every Nth message (0: never)
    stall_seconds: float = 45.0  # longer than the host's 30 s frame timer, so the host times out
    busy_naks: int = 0  # answer the host's first N ENQs (orders) with NAK: instrument busy
    error_code: str | None = None  # make one test of every ``error_every``-th message fail with this code
    error_every: int = 3
    sample_prefix: str = "S"


class DriftingPanel:
    """Chemistry results: patient-to-patient spread around a level that drifts slowly (calibration drift)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._drift = {code: 0.0 for code, *_ in CHEMISTRY_PANEL}

    def draw(self) -> list[SimResult]:
        """Return the next sample's results, flagged L/H against the reference range."""
        out: list[SimResult] = []
        for code, units, low, high, decimals in CHEMISTRY_PANEL:
            span = high - low
            drift = self._drift[code] + self._rng.gauss(0.0, 0.03 * span)
            self._drift[code] = max(-0.6 * span, min(0.6 * span, drift))
            value = max(0.0, (low + high) / 2 + self._drift[code] + self._rng.gauss(0.0, 0.2 * span))
            flag = "L" if value < low else "H" if value > high else "N"
            out.append(SimResult(code, f"{value:.{decimals}f}", units, f"{low:g} to {high:g}", flag))
        return out


class _Pipe(Protocol):
    async def read(self, timeout: float | None) -> bytes: ...

    def write(self, data: bytes) -> None: ...


class _FdPipe:
    """A pty master (or any fd) read through the event loop; writes are small and non-blocking."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._rx = bytearray()
        self._ready = asyncio.Event()
        self._eof = False
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._eof = True
            self._loop.remove_reader(self._fd)
        self._rx += data
        self._ready.set()

    async def read(self, timeout: float | None) -> bytes:
        if not self._rx and not self._eof:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
        self._ready.clear()
        data = bytes(self._rx)
        self._rx.clear()
        if not data and self._eof:
            raise PortClosed("peer closed")
        return data

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:
                return  # nobody reads the other end: like a real line, bytes are lost
            except OSError as exc:
                raise PortClosed(str(exc)) from exc

    def close(self) -> None:
        if not self._eof:
            self._loop.remove_reader(self._fd)
        self._eof = True


class _StreamPipe:
    """One TCP client of the simulator's listener."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, timeout: float | None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                data = await self._reader.read(4096)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise PortClosed(str(exc)) from exc
        if not data:
            raise PortClosed("client closed the connection")
        return data

    def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise PortClosed("connection closed")
        self._writer.write(data)


class AstmSimulatorRunner:
    """Serves one AnalyzerSimulator over a pty, a serial port or TCP, sending results every ``interval``."""

    def __init__(self, config: AstmSimConfig | None = None, *, sim: AnalyzerSimulator | None = None) -> None:
        self.config = config or AstmSimConfig()
        cfg = self.config
        self.sim = sim or AnalyzerSimulator(timers=cfg.timers, faults=Faults(busy_naks=cfg.busy_naks), seed=cfg.seed)
        self._rng = random.Random(cfg.seed)
        self._panel = DriftingPanel(self._rng)
        self.queued: list[str] = []  # every message text queued, in order
        self.frames_corrupted = 0
        self.stalls = 0
        self._frames_out = 0
        self._next_result: float | None = None
        self._frozen_until: float | None = None
        self._held_input = bytearray()
        self._stalled: set[int] = set()
        self._done = asyncio.Event()
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def done(self) -> bool:
        """True once ``count`` messages were delivered or given up."""
        count = self.config.count
        return count is not None and len(self.sim.sent) + len(self.sim.failed) >= count and not self.sim.pending

    def queue_result(self, now: float | None = None) -> str:
        """Queue the next result message now (besides the periodic ones); return its text."""
        cfg = self.config
        number = len(self.queued) + 1
        results = self._panel.draw()
        if cfg.error_code and cfg.error_every > 0 and number % cfg.error_every == 0:
            failed = self._rng.randrange(len(results))
            results[failed] = error_result(results[failed].code, cfg.error_code, "Instrument error")
        stamp = datetime.now().strftime("%Y%m%d%H%M%S")
        text = result_message(f"{cfg.sample_prefix}{number:05d}", results, patient_id=f"P{number:04d}", timestamp=stamp)
        self.queued.append(text)
        self.sim.queue_message(text, time.monotonic() if now is None else now)
        return text

    # --- transports --------------------------------------------------------------------------------------

    async def serve_fd(self, fd: int) -> None:
        """Serve on an open descriptor (a pty master) until ``count`` is reached or cancelled."""
        pipe = _FdPipe(fd)
        try:
            await self._pump(pipe)
        finally:
            pipe.close()

    async def serve_pty(self, on_ready: Callable[[str], None]) -> None:
        """Create a pseudo-terminal, report its slave path through ``on_ready``, and serve on the master."""
        master, slave = os.openpty()
        try:
            # Raw at once: a cooked pty would echo our ENQ back at us before the host opens it.
            tty.setraw(slave)
            on_ready(os.ttyname(slave))
            await self.serve_fd(master)  # keeping ``slave`` open means a host may close and reopen the path
        finally:
            os.close(master)
            os.close(slave)

    async def serve_serial(self, settings: SerialSettings) -> None:
        """Serve on a serial port or pyserial URL (e.g. one end of a null-modem cable)."""
        channel = await SerialChannel.open(settings)
        try:
            await self._pump(channel)
        finally:
            await channel.close()

    async def serve_tcp(self, host: str, port: int, on_ready: Callable[[str], None]) -> None:
        """Listen on host:port for ``socket://`` hosts (one at a time) and report the URL through ``on_ready``."""
        busy = asyncio.Lock()
        handlers: set[asyncio.Task[None]] = set()

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                handlers.add(task)
            try:
                if busy.locked():  # like a terminal server port: one host owns the line
                    return
                async with busy:
                    self._clients.add(writer)
                    with contextlib.suppress(PortClosed, ConnectionError):
                        await self._pump(_StreamPipe(reader, writer))
            finally:
                self._clients.discard(writer)
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
                if task is not None:
                    handlers.discard(task)

        server = await asyncio.start_server(client, host, port)
        try:
            bound = server.sockets[0].getsockname()
            on_ready(f"socket://{bound[0]}:{bound[1]}")
            if not self.done:  # count=0: nothing to send
                await self._done.wait()
        finally:
            server.close()
            for task in list(handlers):
                task.cancel()
            if handlers:
                await asyncio.gather(*handlers, return_exceptions=True)
            await server.wait_closed()

    def disconnect_clients(self) -> None:
        """Drop every TCP client (a terminal server restarting); the listener keeps accepting."""
        for writer in list(self._clients):
            writer.close()

    # --- the pump ----------------------------------------------------------------------------------------

    async def _pump(self, pipe: _Pipe) -> None:
        sim, cfg = self.sim, self.config
        if self._next_result is None:
            self._next_result = time.monotonic() + cfg.first_after
        while not self.done:
            now = time.monotonic()
            if self._next_result is not None and now >= self._next_result and self._frozen_until is None:
                if cfg.count is None or len(self.queued) < cfg.count:
                    self.queue_result(now)
                self._next_result = max(self._next_result + cfg.interval, now)
            if self._frozen_until is not None and now >= self._frozen_until:
                self._frozen_until = None
                held, self._held_input = bytes(self._held_input), bytearray()
                if held:
                    sim.receive_data(held, now)  # before poll: the ACK came "now", not after a timeout
            if self._frozen_until is None:
                sim.poll(now)
                out = sim.data_to_send()
                if out:
                    pipe.write(self._inject(out))
                    self._maybe_stall(out, now)
            data = await pipe.read(self._wait_time(now))
            if data:
                if self._frozen_until is not None:
                    self._held_input += data
                else:
                    sim.receive_data(data, time.monotonic())
        self._done.set()

    def _wait_time(self, now: float) -> float | None:
        candidates: list[float | None]
        if self._frozen_until is not None:
            candidates = [self._frozen_until]  # no results are queued while frozen
        else:
            candidates = [self.sim.deadline, self._next_result]
        times = [t for t in candidates if t is not None]
        return max(0.0, min(times) - now) if times else None

    def _inject(self, out: bytes) -> bytes:
        every = self.config.bad_checksum_every
        buf = bytearray(out)
        start = buf.find(STX)
        while start != -1:
            ends = [i for i in (buf.find(ETX, start), buf.find(ETB, start)) if i != -1]
            if not ends:
                break
            end = min(ends)
            self._frames_out += 1
            if every > 0 and self._frames_out % every == 0 and end + 2 < len(buf):
                digit = end + 2  # the second checksum digit
                buf[digit] = ord("0") if buf[digit] != ord("0") else ord("1")
                self.frames_corrupted += 1
            start = buf.find(STX, end)
        return bytes(buf)

    def _maybe_stall(self, out: bytes, now: float) -> None:
        cfg = self.config
        if STX not in out or self.sim.state != "wait_frame_reply":
            return
        ordinal = len(self.sim.sent) + len(self.sim.failed) + 1  # the message in flight heads the queue
        wanted = (cfg.stall_first and ordinal == 1) or (cfg.stall_every > 0 and ordinal % cfg.stall_every == 0)
        if wanted and ordinal not in self._stalled:
            # Freeze the instrument right after its first frame: no reads, no timers, no writes.
            self._stalled.add(ordinal)
            self.stalls += 1
            self._frozen_until = now + cfg.stall_seconds


async def run_astm_simulator(
    endpoint: str,
    config: AstmSimConfig | None = None,
    *,
    baudrate: int = 9600,
    on_ready: Callable[[str], None] | None = None,
    sim: AnalyzerSimulator | None = None,
) -> AstmSimulatorRunner:
    """Run a simulated analyzer on ``endpoint``: "pty", "tcp://HOST:PORT" (listen), or a serial path/URL.

    Returns the runner once ``config.count`` messages are done; runs until cancelled when count is None.
    """
    runner = AstmSimulatorRunner(config, sim=sim)
    ready = on_ready or (lambda _where: None)
    if endpoint == "pty":
        await runner.serve_pty(ready)
    elif endpoint.startswith("tcp://"):
        host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
        await runner.serve_tcp(host or "127.0.0.1", int(port), ready)
    else:
        ready(endpoint)
        await runner.serve_serial(SerialSettings(url=endpoint, baudrate=baudrate))
    return runner


def simulate_astm(
    port: Annotated[str | None, typer.Option(help="Serial device or pyserial URL to open; default: a new pty")] = None,
    listen: Annotated[str | None, typer.Option(help="HOST:PORT to accept socket:// hosts on instead")] = None,
    baudrate: Annotated[int, typer.Option(help="Baud rate when opening a serial port")] = 9600,
    interval: Annotated[float, typer.Option(help="Seconds between result messages")] = 5.0,
    count: Annotated[int | None, typer.Option(help="Stop after this many messages")] = None,
    seed: Annotated[int, typer.Option(help="Random seed for the values")] = 0,
    bad_checksum_every: Annotated[int, typer.Option(help="Corrupt the checksum of every Nth frame (0: never)")] = 0,
    stall: Annotated[bool, typer.Option(help="Go silent mid-message once (the first message)")] = False,
    stall_every: Annotated[int, typer.Option(help="Go silent mid-message in every Nth message (0: never)")] = 0,
    stall_seconds: Annotated[float, typer.Option(help="How long a stall lasts")] = 45.0,
    busy: Annotated[int, typer.Option(help="Answer the host's first N ENQs with NAK (busy)")] = 0,
    error_code: Annotated[str | None, typer.Option(help="Instrument error code to report in some results")] = None,
    error_every: Annotated[int, typer.Option(help="Report the error code in every Nth message")] = 3,
) -> None:
    """Run a simulated ASTM analyzer that sends drifting chemistry results (Ctrl-C stops it)."""
    config = AstmSimConfig(
        interval=interval,
        count=count,
        seed=seed,
        bad_checksum_every=bad_checksum_every,
        stall_first=stall,
        stall_every=stall_every,
        stall_seconds=stall_seconds,
        busy_naks=busy,
        error_code=error_code,
        error_every=error_every,
    )
    endpoint = port or (f"tcp://{listen}" if listen else "pty")

    def ready(where: str) -> None:
        typer.echo(f"simulated ASTM analyzer on {where}  (host side: --url {where})")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        runner = asyncio.run(run_astm_simulator(endpoint, config, baudrate=baudrate, on_ready=ready))
        typer.echo(f"done: {len(runner.sim.sent)} delivered, {len(runner.sim.failed)} given up")
