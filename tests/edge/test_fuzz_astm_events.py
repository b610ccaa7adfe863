"""Property-based fuzzing of the edge's pure parsers: ASTM messages -> Events, device lines -> Readings/Events.

message_to_events promises never to raise and never to return nothing (unparseable text is kept raw), and the
same text gives the same idempotency keys. parse_line returns readings/events that pass the wire model, or None.
Both feed the outbox from a driver's read loop, where an exception would restart the driver. Profiles:
tests/conftest.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st

from edge.drivers.astm_events import message_to_events, parse_astm_time
from edge.drivers.line_serial import LineRule, parse_line
from protocols.telemetry import Event, EventKind, Reading

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))]
MESSAGE = (
    "H|\\^&|||c311^1|||||host|RSUPL^BATCH|P|1|20250301153000\r"
    "P|1||PID-9\r"
    "O|1|S-1||^^^GLU\\^^^CREA|R||||||N||||||||||||||F\r"
    "R|1|^^^GLU|7.8|mmol/L|3.9 to 6.1|H||F||||20250301152900\r"
    "C|1|I|R01^Rerun advised|G\r"
    "R|2|^^^CREA|-----|umol/L||||X||||20250301152900\r"
    "C|1|I|E042^Short sample|I\r"
    "L|1|N\r"
)
ODD_TIMES = ["00010101", "000101010000", "00010101000000", "99991231235959", "20250230", "20251301", "1e100000"]


@st.composite
def mutated_messages(draw: st.DrawFn) -> str:
    """The sample message with odd timestamps, values and codes spliced in, records dropped or cut."""
    lines = MESSAGE.split("\r")[:-1]
    for _ in range(draw(st.integers(0, 5))):
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["time", "value", "drop", "cut", "junk", "field"]))
        if action == "time":
            lines[at] = re.sub(r"\d{8,14}", draw(st.sampled_from(ODD_TIMES)), lines[at])
        elif action == "value":
            value = draw(st.sampled_from(["nan", "inf", "-1e999", "1" * 5000, "", "^^", "血糖", "\x00"]))
            lines[at] = lines[at].replace("7.8", value)
        elif action == "drop" and len(lines) > 1:
            del lines[at]
        elif action == "cut":
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
        elif action == "junk":
            lines.insert(at, draw(st.text(max_size=30)))
        else:
            lines[at] += "|" + draw(st.text(max_size=200))
    return "\r".join(lines) + "\r"


astm_texts = (
    mutated_messages()
    | st.text(max_size=300)
    | st.lists(st.sampled_from(list("HPORCLQ|\\^&!@0123456789X. \r")), max_size=200).map("".join)
)


def _without_surrogates(text: str) -> str:
    # The link hands over text decoded with errors="replace": it never holds lone surrogates.
    return text.encode("utf-8", "replace").decode("utf-8")


@given(text=astm_texts.map(_without_surrogates), complete=st.booleans(), zone=st.sampled_from(ZONES))
@example(
    text="H|\\^&\rO|1|S1\rR|1|^^^GLU|5|mg||||F||||00010101\rL|1|N\r",
    complete=True,
    zone=timezone(timedelta(hours=8)),
)  # was OverflowError "date value out of range": the driver crashed on a never-set instrument clock
@example(
    text="H|\\^&\rO|1|S1\rR|1|^^^GLU|5|mg||||F||||99991231235959\rL|1|N\r",
    complete=True,
    zone=timezone(timedelta(hours=-12)),
)
def test_any_astm_text_becomes_events_and_the_same_text_the_same_keys(
    text: str, complete: bool, zone: timezone
) -> None:
    events = message_to_events(text, device_key="chem-1", complete=complete, received_at=NOW, tz=zone)
    assert events and all(isinstance(event, Event) for event in events)
    assert all(event.kind in (EventKind.ASTM_RESULT, EventKind.ERROR_CODE) for event in events)
    again = message_to_events(text, device_key="chem-1", complete=complete, received_at=NOW, tz=zone)
    assert [e.idempotency_key for e in again] == [e.idempotency_key for e in events]
    for event in events:
        Event.model_validate_json(event.model_dump_json())  # it survives the wire


@given(value=st.text(max_size=16) | st.sampled_from(ODD_TIMES), zone=st.sampled_from(ZONES))
def test_an_astm_timestamp_parses_to_a_utc_convertible_instant_or_none(value: str, zone: timezone) -> None:
    moment = parse_astm_time(value, zone)
    if moment is not None:
        assert moment.tzinfo is UTC
        local = moment.astimezone(zone)  # the instrument's wall time, back
        assert f"{local.year:04d}{local:%m%d%H%M%S}".startswith(value.strip())


RULES = [
    (rule, rule.compile())
    for rule in (
        LineRule(r"ERR\s*(?P<code>\S+)\s*(?P<text>.*)", produce="event"),
        LineRule(r"T=(?P<temp>\S+)\s*(?P<unit>C|F)?", units={"temp": "C"}, metric_prefix="fridge."),
        LineRule(r"^(?P<status>[A-Z]+):(?P<level>.*)$", produce="event", event_kind=EventKind.STATUS),
    )
]


@given(
    line=st.text(max_size=300).map(_without_surrogates)
    | st.sampled_from(["T=nan", "T=1e999", "T=" + "9" * 5000, "ERR " + "E" * 300 + " too long", "OK:" + "1" * 5000])
)
@example(line="T=" + "9" * 5000)  # was ValueError: int() over the 4300-digit limit
@example(line="ERR " + "E" * 300 + " code too long")  # was ValidationError: Event.code is at most 128 characters
def test_any_device_line_gives_wire_valid_items_or_none(line: str) -> None:
    items = parse_line(line, RULES, device_key="fridge-1", now=NOW)
    for item in items or []:
        assert isinstance(item, Reading | Event)
        type(item).model_validate_json(item.model_dump_json())
