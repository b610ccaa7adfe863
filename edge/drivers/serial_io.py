"""Serial plumbing shared by the serial drivers: open a pyserial URL, read it without blocking the loop, back off.

Reading design: the port's file descriptor is watched with ``loop.add_reader`` and read with a zero timeout
when it is readable. Why not a reader thread: a thread blocked in ``read()`` cannot be stopped promptly for
every URL handler (``cancel_read`` exists only for posix ports), it would hand bytes to the loop through a
queue anyway, and each thread is one more thing that can leak past a restart. With add_reader the link state
machine is only ever touched from the event loop thread, so it needs no lock. Real ``/dev/tty*`` ports,
pseudo-terminals and ``socket://`` URLs all have a descriptor; handlers without one (``rfc2217://``,
``loop://``) fall back to a small polling thread with a short read timeout that stops within that timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from dataclasses import dataclass
from typing import Any

import serial

__all__ = ["Backoff", "HealthLog", "PortClosed", "SerialChannel", "SerialSettings"]

_THREAD_POLL_S = 0.1  # read timeout of the fallback reader thread: the upper bound on stopping it
_WRITE_TIMEOUT_S = 5.0  # a port that cannot take a few bytes in this long is wedged: treat it as gone


class PortClosed(ConnectionError):
    """The port went away (unplugged adapter, terminal server dropped the TCP connection, pty closed)."""


@dataclass(frozen=True)
class SerialSettings:
    """Where and how to open a serial line: a device path, a pty path or a pyserial URL (``socket://h:p``)."""

    url: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    xonxoff: bool = False
    rtscts: bool = False
    exclusive: bool = True  # one owner per port: a second opener fails instead of stealing bytes

    def open_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments for ``serial.serial_for_url``."""
        kwargs: dict[str, Any] = {
            "baudrate": self.baudrate,
            "bytesize": self.bytesize,
            "parity": self.parity,
            "stopbits": self.stopbits,
            "xonxoff": self.xonxoff,
            "rtscts": self.rtscts,
            "timeout": 0,
            "write_timeout": _WRITE_TIMEOUT_S,
        }
        if "://" not in self.url:  # exclusive (flock) only means something for local device files
            kwargs["exclusive"] = self.exclusive
        return kwargs


class SerialChannel:
    """An open pyserial port whose incoming bytes are collected by the event loop."""

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        self._loop = asyncio.get_running_loop()
        self._rx = bytearray()
        self._ready = asyncio.Event()
        self._error: BaseException | None = None
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False
        try:
            fd = port.fileno()
        except (AttributeError, NotImplementedError, OSError, serial.SerialException):
            fd = None
        if isinstance(fd, int):
            self._fd = fd
            self._loop.add_reader(fd, self._on_readable)
        else:
            self._thread = threading.Thread(target=self._read_thread, name=f"serial-reader {port.name}", daemon=True)
            self._thread.start()

    @classmethod
    async def open(cls, settings: SerialSettings) -> SerialChannel:
        """Open the port in a thread (opening a tty or connecting a socket may block) and start reading."""
        opening = asyncio.ensure_future(
            asyncio.to_thread(serial.serial_for_url, settings.url, **settings.open_kwargs())
        )
        try:
            port = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The thread finishes opening anyway: close what it opens so the port is not left owned.
            opening.add_done_callback(_close_opened)
            raise
        try:
            return cls(port)
        except BaseException:
            port.close()
            raise

    async def read(self, timeout: float | None) -> bytes:
        """Return the bytes received so far, waiting up to ``timeout`` seconds (b"" if none); PortClosed if gone."""
        if not self._rx and self._error is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
        if self._rx:
            data = bytes(self._rx)
            self._rx.clear()
            if self._error is None:
                self._ready.clear()
            return data
        if self._error is not None:
            raise PortClosed(str(self._error)) from self._error
        self._ready.clear()
        return b""

    def wake(self) -> None:
        """Make a pending read() return now (with b"" if nothing arrived), e.g. when a timer moved earlier."""
        self._ready.set()

    def write(self, data: bytes) -> None:
        """Write bytes (a few control bytes or frames: short enough to write from the loop); PortClosed on failure."""
        if not data:
            return
        if self._error is not None:
            raise PortClosed(str(self._error)) from self._error
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            self._fail(exc)
            raise PortClosed(str(exc)) from exc

    async def close(self) -> None:
        """Stop reading and close the port (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
        if self._thread is not None:
            self._stop.set()
            await asyncio.to_thread(self._thread.join)
        with contextlib.suppress(Exception):
            self.port.close()

    # --- internals ---------------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError) as exc:
            self._fail(exc)
            return
        if data:
            self._rx += data
            self._ready.set()

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        if self._fd is not None:
            # A hung-up descriptor stays readable forever: stop watching it or the loop would spin.
            self._loop.remove_reader(self._fd)
        self._ready.set()

    def _read_thread(self) -> None:
        self.port.timeout = _THREAD_POLL_S
        while not self._stop.is_set():
            try:
                data = self.port.read(max(1, self.port.in_waiting))
            except Exception as exc:  # any failure ends the port; the driver decides what happens next
                with contextlib.suppress(RuntimeError):  # loop already closed: nobody is listening
                    self._loop.call_soon_threadsafe(self._fail, exc)
                return
            if data:
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._deliver, data)

    def _deliver(self, data: bytes) -> None:
        self._rx += data
        self._ready.set()


def _close_opened(opening: asyncio.Future[serial.SerialBase]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        with contextlib.suppress(Exception):
            opening.result().close()


class Backoff:
    """Exponential backoff with jitter, so many gateways do not reconnect in lockstep."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, factor: float = 2.0, jitter: float = 0.2) -> None:
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self._next = initial

    def next_delay(self) -> float:
        """Return the next delay and grow it."""
        delay = self._next
        self._next = min(self.maximum, self._next * self.factor)
        return delay * (1.0 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        """Start again from the initial delay (after a success)."""
        self._next = self.initial


class HealthLog:
    """Logs a failure once when it starts and the recovery once when it ends, not on every retry."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._logger = logger
        self._what = what
        self.failing = False
        self.failures = 0

    def failed(self, reason: str) -> None:
        """Record a failure; only the first of a run is logged."""
        self.failures += 1
        if not self.failing:
            self.failing = True
            self._logger.warning("%s failed: %s", self._what, reason)

    def recovered(self) -> None:
        """Record a success; logged only if it ends a failure."""
        if self.failing:
            self.failing = False
            self._logger.info("%s recovered", self._what)
