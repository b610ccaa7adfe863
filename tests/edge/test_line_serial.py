"""The line/regex serial driver: rules to readings and events, over a pty, with backpressure on clinical events."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.drivers.line_serial import LineRule, LineSerialDriver, parse_line
from edge.drivers.serial_io import Backoff, SerialSettings
from edge.outbox import Outbox
from protocols.telemetry import Event, EventKind, Quality, Reading, RetentionClass, Severity
from tests.edge.serial_helpers import leak_check, pty_pair, running, stored_items, wait_until

no_leaks = pytest.fixture(autouse=True)(leak_check)

NOW = datetime(2025, 3, 1, tzinfo=UTC)
RULES = [
    LineRule(
        r"^T=(?P<temperature>-?[\d.]+)C P=(?P<pressure>[\w.]+)kPa N=(?P<runs>\d+)$",
        units={"temperature": "degC", "pressure": "kPa"},
        metric_prefix="incubator.",
    ),
    LineRule(r"^ERR (?P<code>E\d+) (?P<text>.+)$", produce="event", severity=Severity.ERROR),
    LineRule(r"^STATE (?P<code>\w+)(?: door=(?P<door>\w+))?$", produce="event", event_kind=EventKind.STATUS),
]


@pytest.fixture
def compiled() -> list[tuple[LineRule, object]]:
    return [(rule, rule.compile()) for rule in RULES]


def test_named_groups_become_readings_with_units_and_numbers(compiled: list) -> None:
    items = parse_line("T=37.2C P=nanKPa N=1024", compiled, device_key="inc-1", now=NOW)
    assert items is None  # the unit is case sensitive: no rule matches
    items = parse_line("T=37.2C P=101.3kPa N=1024", compiled, device_key="inc-1", now=NOW)
    assert items is not None
    got = {(r.metric, r.value, r.unit) for r in items if isinstance(r, Reading)}
    assert got == {
        ("incubator.temperature", 37.2, "degC"),
        ("incubator.pressure", 101.3, "kPa"),
        ("incubator.runs", 1024, None),
    }


def test_a_non_finite_number_is_kept_as_a_bad_quality_string(compiled: list) -> None:
    items = parse_line("T=37.0C P=nankPa N=1", compiled, device_key="inc-1", now=NOW)
    assert items is not None
    pressure = next(r for r in items if isinstance(r, Reading) and r.metric == "incubator.pressure")
    assert (pressure.value, pressure.quality) == ("nan", Quality.BAD)


def test_error_and_status_lines_become_events(compiled: list) -> None:
    (error,) = parse_line("ERR E17 Door open too long", compiled, device_key="inc-1", now=NOW) or []
    assert isinstance(error, Event)
    assert (error.kind, error.code, error.text, error.severity) == (
        EventKind.ERROR_CODE,
        "E17",
        "Door open too long",
        Severity.ERROR,
    )
    assert error.retention is RetentionClass.CLINICAL
    (status,) = parse_line("STATE RUN door=closed", compiled, device_key="inc-1", now=NOW) or []
    assert isinstance(status, Event)
    assert (status.kind, status.code, status.retention) == (EventKind.STATUS, "RUN", RetentionClass.TELEMETRY)
    assert status.payload == {"door": "closed", "line": "STATE RUN door=closed"}


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid regex"):
        LineRule("(unclosed").compile()
    with pytest.raises(ValueError, match="named groups"):
        LineRule(r"T=\d+").compile()


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    with pty_pair() as pair:
        yield pair


async def test_lines_from_a_pty_reach_the_outbox(pty: tuple[int, str], tmp_path: Path) -> None:
    master, path = pty
    with Outbox(tmp_path / "o.db", gateway_id="gw") as outbox:
        driver = LineSerialDriver(
            device_key="inc-1", port=SerialSettings(path), outbox=outbox, rules=RULES, backoff=Backoff(0.05, 0.2)
        )
        async with running(driver.run()):
            await wait_until(lambda: driver.status().state == "connected")
            os.write(master, b"T=37.2C P=101.3kPa N=1\r\nnoise\r\nERR E17 Door ")
            os.write(master, b"open\r\nT=37.3C P=101.2kPa N=2\r\n")
            await wait_until(lambda: driver.status().readings == 6 and driver.status().events == 1)
        status = driver.status()
    assert (status.lines, status.matched, status.unmatched) == (4, 3, 1)
    items = stored_items(tmp_path / "o.db")
    assert [i.code for i in items if isinstance(i, Event)] == ["E17"]
    assert [i.value for i in items if isinstance(i, Reading) and i.metric == "incubator.runs"] == [1, 2]


async def test_clinical_events_wait_for_room_while_readings_keep_flowing(pty: tuple[int, str], tmp_path: Path) -> None:
    master, path = pty
    with Outbox(tmp_path / "o.db", gateway_id="gw", max_clinical_rows=1) as outbox:
        driver = LineSerialDriver(
            device_key="inc-1", port=SerialSettings(path), outbox=outbox, rules=RULES, store_retry_s=0.05
        )
        async with running(driver.run()):
            await wait_until(lambda: driver.status().state == "connected")
            os.write(master, b"ERR E1 first\nERR E2 second\nT=1C P=2kPa N=3\n")
            await wait_until(lambda: driver.status().pending_store == 1 and driver.status().readings == 3)
            batch = outbox.lease()
            assert batch is not None and [e.code for e in batch.events] == ["E1"]
            outbox.ack(batch.idempotency_key)  # the cloud took it: room for the held event
            await wait_until(lambda: driver.status().pending_store == 0 and driver.status().events == 2)
    assert driver.status().dropped == 0
