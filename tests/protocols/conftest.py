"""Fixtures for the ASTM tests: real captures from ../shared and an in-memory host<->analyzer wire."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from protocols.astm.link import Event, Link, MessageReceived
from protocols.simulators.astm import AnalyzerSimulator

ASTM_CAPTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "astm"


@pytest.fixture
def astm_capture() -> Callable[[str], bytes]:
    """Return a reader for a capture in shared/fixtures/astm (never copied into the repo)."""

    def read(name: str) -> bytes:
        path = ASTM_CAPTURES / name
        if not path.exists():
            pytest.fail(f"ASTM capture missing: {path}")
        return path.read_bytes()

    return read


class Wire:
    """Moves bytes between a host Link and an AnalyzerSimulator and advances a fake clock."""

    def __init__(self, host: Link, sim: AnalyzerSimulator, *, auto_ack: bool = True) -> None:
        self.host = host
        self.sim = sim
        self.auto_ack = auto_ack  # act like a caller that stores each message at once
        self.stored: list[str] = []
        self.now = 0.0
        self.events: list[Event] = []
        self.to_host = bytearray()  # every byte the analyzer sent, for assertions
        self.to_sim = bytearray()

    def pump(self) -> bool:
        """Deliver pending bytes both ways until quiet; return True if anything moved."""
        moved = False
        for _ in range(10_000):
            from_sim = self.sim.data_to_send()
            if from_sim:
                self.to_host += from_sim
                self._take(self.host.receive_data(from_sim, self.now))
            from_host = self.host.data_to_send()
            if from_host:
                self.to_sim += from_host
                self.sim.receive_data(from_host, self.now)
            if not from_sim and not from_host:
                return moved
            moved = True
        raise AssertionError("wire never went quiet")

    def _take(self, events: list[Event]) -> None:
        self.events += events
        for event in events:
            if isinstance(event, MessageReceived) and event.complete:
                self.stored.append(event.text)
                if event.ack_withheld and self.auto_ack:
                    assert self.host.ack_message(event.message_id, self.now)

    def advance(self, seconds: float) -> None:
        """Move the clock forward, polling both ends, and pump."""
        self.now += seconds
        self._take(self.host.poll(self.now))
        self.sim.poll(self.now)
        self.pump()

    def run_until_idle(self, limit: float = 600.0) -> None:
        """Jump from deadline to deadline until neither end has a timer (or ``limit`` passes)."""
        end = self.now + limit
        self.pump()
        while self.now < end:
            deadlines = [d for d in (self.host.deadline, self.sim.deadline) if d is not None]
            if not deadlines:
                return
            self.advance(max(0.0, min(deadlines) - self.now))


@pytest.fixture
def wire_factory() -> type[Wire]:
    """Return a constructor for an in-memory wire between a host link and a simulator."""
    return Wire
