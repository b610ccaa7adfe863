"""Property-based fuzzing of the ASTM codec: E1381 frames, E1394 records and the E1381 link table.

Peer bytes never make the codec raise: the frame parser reports BadFrame/Junk tokens, the record parser raises
RemoteProtocolError, the link NAKs or ignores. Only our own misuse (building a frame with control bytes, a
message the link's encoding cannot carry) raises LocalProtocolError. Profiles: tests/conftest.py.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, note
from hypothesis import strategies as st

from protocols.astm.fields import Delimiters, escape, parse_record, unescape
from protocols.astm.framing import (
    ACK,
    CR,
    ENQ,
    EOT,
    FRAMING_BYTES,
    LF,
    NAK,
    STX,
    BadFrame,
    Control,
    Frame,
    FrameParser,
    Junk,
    Token,
    UnframedAssembler,
    build_frame,
    build_frames,
    checksum,
)
from protocols.astm.link import (
    Event,
    FrameReceived,
    Link,
    MessageReceived,
    MessageSent,
    SendFailed,
    State,
    Timers,
    ends_with_terminator,
)
from protocols.astm.records import (
    HeaderRecord,
    Message,
    Record,
    build_message,
    parse_message,
    parse_messages,
)
from protocols.errors import LocalProtocolError, RemoteProtocolError
from tests.protocols.conftest import ASTM_CAPTURES

SAMPLE = (
    "H|\\^&|||cobas c311^1|||||host|RSUPL^BATCH|P|1|20240301101500\r"
    "P|1||PID-1||Doe^Jane||19800101|F\r"
    "O|1|S-001^01|R1|^^^GLU\\^^^CHOL|R||20240301100000||||N||||||||||||||F\r"
    "R|1|^^^GLU|5.4|mmol/L|3.9 to 6.1|N||F||admin||20240301101200|c311\r"
    "C|1|I|E12^Short sample|G\r"
    "R|2|^^^CHOL|-----|mmol/L||||X\r"
    "L|1|N\r"
)


def _seeds() -> tuple[list[bytes], list[bytes]]:
    """Message texts and wire captures to mutate: two made-up messages plus shared/fixtures/astm if present."""
    texts = [SAMPLE.encode("latin-1"), b"H|@^\\|||GeneXpert\rR|1|^GLU^|^12.5|\rL|1\r"]
    wires = [bytes([ENQ]) + b"".join(build_frames(text, per_record=True)) + bytes([EOT]) for text in texts]
    if ASTM_CAPTURES.is_dir():
        for path in sorted(ASTM_CAPTURES.glob("*.bin")):
            capture = path.read_bytes()
            frames = [t for t in FrameParser().feed(capture) if isinstance(t, Frame)]
            if frames:
                wires.append(capture)
                texts.append(b"".join(f.text for f in frames))
            else:
                texts.append(capture)
    return texts, wires


SEED_TEXTS, SEED_WIRES = _seeds()

# --- strategies --------------------------------------------------------------------------------------


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split data at the given offsets (any order, duplicates allowed)."""
    points = sorted({min(max(cut, 0), len(data)) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


frame_text = st.binary(max_size=600).map(lambda b: bytes(x for x in b if x not in FRAMING_BYTES))
astm_alphabet = st.sampled_from(list("HPORCLQMS|\\^&@!~ 0123456789.-+eEXFSR\r\n\x02\x03\x04\x05\x06\x15\x17"))
astm_ish_text = st.lists(astm_alphabet, max_size=300).map("".join)
any_text = st.text(max_size=300) | astm_ish_text
cuts = st.lists(st.integers(0, 4000), max_size=12)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A seed with a few bytes flipped, inserted, deleted, duplicated or the whole thing truncated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "control"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 40))]
        else:
            data.insert(at, draw(st.sampled_from(sorted(FRAMING_BYTES | {CR}))))
    return bytes(data)


mutated_messages = st.sampled_from(SEED_TEXTS).flatmap(mutated)
mutated_wire = st.sampled_from(SEED_WIRES).flatmap(mutated)


# Delimiters are single non-alphanumeric characters other than CR/LF (those end records).
DELIMITER_CHARS = [c for c in map(chr, range(1, 256)) if not c.isalnum() and c not in "\r\n"]


@st.composite
def delimiters(draw: st.DrawFn) -> Delimiters:
    """Four distinct delimiters, as an H record may define them."""
    chars = draw(st.lists(st.sampled_from(DELIMITER_CHARS), min_size=4, max_size=4, unique=True))
    return Delimiters(field=chars[0], repeat=chars[1], component=chars[2], escape=chars[3])


component = st.text(st.characters(codec="latin-1"), max_size=12)


@st.composite
def records(draw: st.DrawFn) -> Record:
    """A non-header record whose fields are built from arbitrary component text (delimiters included)."""
    kind = draw(st.sampled_from("POCRQMS"))
    fields = draw(
        st.lists(st.lists(st.lists(component, min_size=1, max_size=3), min_size=1, max_size=2), max_size=6)
    )
    built = Record.build(kind, *fields)
    # A field holding one empty component is written as nothing and reads back as an empty field.
    normal = tuple(() if field == (("",),) else field for field in built.fields)
    return type(built)(normal)


# --- framing ---------------------------------------------------------------------------------------


def _signature(tokens: list[Token]) -> tuple[list[Token], bytes]:
    return [t for t in tokens if not isinstance(t, Junk)], b"".join(t.data for t in tokens if isinstance(t, Junk))


@given(data=st.binary(max_size=2000) | mutated_wire, cuts=cuts)
@example(data=b"\x02\x02\x03\x03\x03", cuts=[])
@example(data=b"\x021\x03", cuts=[2])
def test_frame_parser_tokenizes_any_bytes_the_same_way_in_any_chunking(data: bytes, cuts: list[int]) -> None:
    whole = FrameParser().feed(data)
    parser = FrameParser()
    pieces: list[Token] = []
    for chunk in chunked(data, cuts):
        pieces += parser.feed(chunk)
    assert all(isinstance(t, Frame | BadFrame | Control | Junk) for t in whole)
    assert _signature(whole) == _signature(pieces)
    for token in whole:
        if isinstance(token, Frame):
            assert 0 <= token.number <= 7
            assert checksum(token.raw[1:-2]) == token.raw[-2:].upper()


@given(text=frame_text, per_record=st.booleans(), max_text=st.integers(1, 300), first=st.integers(0, 7), cuts=cuts)
def test_built_frames_parse_back_to_the_same_text(
    text: bytes, per_record: bool, max_text: int, first: int, cuts: list[int]
) -> None:
    wire = b"".join(build_frames(text, first_number=first, max_text=max_text, per_record=per_record))
    parser = FrameParser()
    tokens: list[Token] = []
    for chunk in chunked(wire, cuts):
        tokens += parser.feed(chunk)
    assert all(isinstance(t, Frame) for t in tokens), tokens
    frames = [t for t in tokens if isinstance(t, Frame)]
    assert b"".join(f.text for f in frames) == text
    assert [f.number for f in frames] == [(first + i) % 8 for i in range(len(frames))]
    assert frames[-1].final
    assert all(len(f.text) <= max_text for f in frames)
    assert not parser.in_frame


@given(
    text=frame_text.filter(bool),
    number=st.integers(0, 7),
    final=st.booleans(),
    data=st.data(),
)
def test_a_frame_with_one_byte_changed_is_rejected(text: bytes, number: int, final: bool, data: st.DataObject) -> None:
    raw = bytearray(build_frame(number, text, final=final))
    # Positions 1 .. end of the checksum: the frame number, the text, the ETB/ETX and both checksum digits.
    at = data.draw(st.integers(1, len(raw) - 3), label="position")
    original = raw[at]
    new = data.draw(
        st.integers(0, 255).filter(
            lambda b: b != original
            and b not in FRAMING_BYTES - {LF}  # a control byte cuts the frame short: tested below
            and not (at >= len(raw) - 4 and bytes([b]).upper() == bytes([original]).upper())  # hex case
        ),
        label="new byte",
    )
    raw[at] = new
    tokens = FrameParser().feed(bytes(raw))
    # A changed number, text byte or checksum digit fails the checksum; a changed ETB/ETX leaves the frame open.
    assert not any(isinstance(t, Frame) for t in tokens), tokens


@given(
    text=frame_text, number=st.integers(0, 7), cut=st.integers(1, 600), then=st.sampled_from([STX, ENQ, EOT, ACK, NAK])
)
def test_a_frame_cut_short_by_a_control_byte_is_bad(text: bytes, number: int, cut: int, then: int) -> None:
    raw = build_frame(number, text, final=True)
    cut = min(cut, len(raw) - 3)  # still inside the frame (before its last checksum digit)
    tokens = FrameParser().feed(raw[:cut] + bytes([then]))
    assert isinstance(tokens[0], BadFrame)
    assert "cut short" in tokens[0].reason
    assert not any(isinstance(t, Frame) for t in tokens)


@given(text=frame_text, limit=st.integers(2, 200))
def test_an_oversize_frame_is_dropped_as_too_long(text: bytes, limit: int) -> None:
    raw = build_frame(1, text, final=True)
    tokens = FrameParser(max_frame_bytes=limit).feed(raw)
    if len(text) + 2 > limit:
        assert isinstance(tokens[0], BadFrame) and tokens[0].reason == "frame too long"
        assert not any(isinstance(t, Frame) for t in tokens)
    else:
        assert tokens and isinstance(tokens[0], Frame)


@given(number=st.integers(-(2**70), 2**70), text=st.binary(max_size=50), final=st.booleans())
def test_building_a_frame_raises_only_local_protocol_errors(number: int, text: bytes, final: bool) -> None:
    try:
        raw = build_frame(number, text, final=final)
    except LocalProtocolError:
        assert not 0 <= number <= 7 or FRAMING_BYTES & set(text)
        return
    (token,) = FrameParser().feed(raw)
    assert isinstance(token, Frame) and (token.number, token.text, token.final) == (number, text, final)


@given(data=st.binary(max_size=2000) | mutated_messages, cuts=cuts, limit=st.integers(1, 4096))
def test_unframed_assembler_yields_only_h_to_l_messages(data: bytes, cuts: list[int], limit: int) -> None:
    assembler = UnframedAssembler(max_message_bytes=limit)
    messages: list[bytes] = []
    for chunk in chunked(data, cuts):
        messages += assembler.feed(chunk)
    for message in messages:
        lines = message.split(b"\r")
        assert lines[0][:1] == b"H" and lines[-2][:1] == b"L" and lines[-1] == b""
    assert isinstance(assembler.pending, bytes)


# --- records -------------------------------------------------------------------------------------------


def _touch(message: Message) -> None:
    """Read every typed accessor: none may raise on a record that parsed."""
    for record in message.records:
        for name in dir(type(record)):
            if isinstance(getattr(type(record), name, None), property):
                getattr(record, name)
        message.comments_for(record)
    assert isinstance(message.header, HeaderRecord)
    message.terminator  # noqa: B018
    message.results_by_order()
    message.to_text()


@given(text=any_text | mutated_messages.map(lambda b: b.decode("latin-1")))
@example(text="H|")
@example(text="H|\\\\\\")
@example(text="H|\\^&\rR|1|&X0&&XZZ&&X4&")
@example(text="P|1\rH|\\^&")
def test_parsing_any_text_gives_messages_or_a_remote_protocol_error(text: str) -> None:
    try:
        messages = parse_messages(text)
    except RemoteProtocolError:
        return
    for message in messages:
        _touch(message)


@given(text=st.text(max_size=40))
def test_delimiters_come_from_any_header_or_a_remote_protocol_error(text: str) -> None:
    try:
        delims = Delimiters.from_header(text)
    except RemoteProtocolError:
        return
    assert len({delims.field, delims.repeat, delims.component, delims.escape}) == 4


@given(value=st.text(max_size=60), delims=delimiters())
def test_escape_then_unescape_gives_the_value_back(value: str, delims: Delimiters) -> None:
    escaped = escape(value, delims)
    framing = {"\r", *map(chr, FRAMING_BYTES)} - {delims.escape}
    assert not ({delims.field, delims.repeat, delims.component} | framing) & set(escaped)
    assert unescape(escaped, delims) == value


@given(record=records(), delims=delimiters())
def test_a_built_record_parses_back_to_itself(record: Record, delims: Delimiters) -> None:
    assert parse_record(record.to_text(delims), delims) == record


@given(body=st.lists(records(), max_size=4), delims=delimiters(), sender=component)
def test_a_built_message_parses_back_to_the_same_records(body: list[Record], delims: Delimiters, sender: str) -> None:
    header = Record.build("H", "", "", "", [sender])
    terminator = Record.build("L", "1", "N")
    text = build_message([header, *body, terminator], delims)
    message = parse_message(text)
    assert message.delimiters == delims
    assert message.records[1:] == (*body, terminator)
    assert message.header.sender == ((sender,) if sender else ())
    assert message.to_text() == text


# --- the link ------------------------------------------------------------------------------------------

actions = st.lists(
    st.one_of(
        st.tuples(st.just("bytes"), st.binary(max_size=80) | st.sampled_from([b"\x05", b"\x04", b"\x06", b"\x15"])),
        st.tuples(st.just("wire"), mutated_wire),
        st.tuples(st.just("wait"), st.floats(0, 40)),
        st.tuples(st.just("ack"), st.integers(0, 5)),
        st.tuples(st.just("busy"), st.booleans()),
        st.tuples(st.just("send"), any_text),
    ),
    max_size=25,
)


@given(actions=actions, strict=st.booleans(), withhold=st.booleans(), per_record=st.booleans())
@example(actions=[("send", "血糖")], strict=True, withhold=True, per_record=False)
def test_the_link_survives_any_sequence_of_peer_bytes_timers_and_calls(
    actions: list[tuple[str, object]], strict: bool, withhold: bool, per_record: bool
) -> None:
    link = Link(strict_frame_numbers=strict, withhold_last_ack=withhold, per_record=per_record, max_text=64)
    now = 0.0
    events: list[Event] = []
    for kind, arg in actions:
        if kind in ("bytes", "wire"):
            assert isinstance(arg, bytes)
            events += link.receive_data(arg, now)
        elif kind == "wait":
            assert isinstance(arg, float)
            now += arg
            events += link.poll(now)
        elif kind == "ack":
            assert isinstance(arg, int)
            link.ack_message(arg, now)
        elif kind == "busy":
            link.set_busy(bool(arg))
        else:
            assert isinstance(arg, str)
            try:
                link.send_message(arg, now)
            except LocalProtocolError:  # text the link cannot carry: our misuse, said plainly
                assert any(ord(c) > 0xFF or ord(c) in FRAMING_BYTES for c in arg)
        assert isinstance(link.state, State)
        # What the link writes is control bytes and frames it built itself: never anything a peer would NAK.
        assert all(isinstance(t, Control | Frame) for t in FrameParser().feed(link.data_to_send()))
    for event in events:
        if isinstance(event, MessageReceived):
            assert event.text.endswith("\r") or not event.complete or not event.text


def _pump(sender: Link, receiver: Link, now: float, damage: list[int] | None = None) -> list[Event]:
    """Move bytes both ways until quiet; ``damage`` lists byte offsets of the sender's output to corrupt once."""
    got: list[Event] = []
    sent = 0
    for _ in range(1000):
        out = bytearray(sender.data_to_send())
        if damage:
            for offset in list(damage):
                if sent <= offset < sent + len(out):
                    at = offset - sent
                    if out[at] not in FRAMING_BYTES:
                        out[at] = 0x21 if out[at] != 0x21 else 0x22  # stays printable, never a control byte
                    damage.remove(offset)
            sent += len(out)
        if out:
            got += receiver.receive_data(bytes(out), now)
        for event in got:
            if isinstance(event, MessageReceived) and event.ack_withheld and receiver.held_message_id is not None:
                receiver.ack_message(event.message_id, now)
        back = receiver.data_to_send()
        if back:
            got += sender.receive_data(back, now)
        if not out and not back:
            return got
    raise AssertionError("the two links never went quiet")


@given(
    body=st.lists(records(), max_size=4),
    max_text=st.integers(1, 240),
    per_record=st.booleans(),
    withhold=st.booleans(),
)
def test_a_valid_message_survives_the_link_state_machines(
    body: list[Record], max_text: int, per_record: bool, withhold: bool
) -> None:
    text = build_message([Record.build("H", ""), *body, Record.build("L", "1", "N")])
    sender = Link(max_text=max_text, per_record=per_record)
    receiver = Link(withhold_last_ack=withhold)
    message_id = sender.send_message(text, 0.0)
    events = _pump(sender, receiver, 0.0)
    events += sender.poll(0.0) + receiver.poll(0.0)
    received = [e for e in events if isinstance(e, MessageReceived)]
    assert [(e.text, e.complete) for e in received] == [(text, True)]
    assert any(isinstance(e, MessageSent) and e.message_id == message_id for e in events)
    assert sender.state is State.IDLE and receiver.state is State.IDLE
    assert ends_with_terminator(text.encode("latin-1"))


@given(
    text=any_text.map(lambda t: "".join(c for c in t if ord(c) <= 0xFF and ord(c) not in FRAMING_BYTES)).filter(
        lambda t: t.strip("\r")
    ),
    max_text=st.integers(1, 100),
    damage=st.lists(st.integers(0, 800), max_size=3),
)
def test_damaged_frames_are_nakked_and_the_message_arrives_intact_or_not_at_all(
    text: str, max_text: int, damage: list[int]
) -> None:
    sender = Link(max_text=max_text, timers=Timers(max_naks=len(damage) + 2))
    receiver = Link()
    sender.send_message(text, 0.0)
    events = _pump(sender, receiver, 0.0, damage=sorted(damage))
    note(repr(events))
    received = [e.text for e in events if isinstance(e, MessageReceived)]
    wanted = text if text.endswith("\r") else text + "\r"
    assert received == [wanted]
    assert not any(isinstance(e, SendFailed) for e in events)
    assert [e.text for e in events if isinstance(e, FrameReceived)]  # at least one frame went through


def test_a_message_the_link_cannot_encode_is_a_local_protocol_error() -> None:
    # Fuzzing found send_message("血糖") raising UnicodeEncodeError from the default latin-1 encoding.
    with pytest.raises(LocalProtocolError, match="latin-1"):
        Link().send_message("H|\\^&\rC|1||血糖\rL|1\r", 0.0)


def test_an_unknown_link_encoding_is_a_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError, match="encoding"):
        Link(encoding="no-such-codec")


def test_framing_control_bytes_in_a_component_are_escaped_so_the_message_can_be_sent() -> None:
    # Fuzzing found a record with "\x17" (ETB) in a component building text the link refused to frame.
    record = Record.build("P", "1", "a\x17b\x02c")
    text = build_message([Record.build("H", ""), record, Record.build("L", "1")])
    assert "&X17&" in text and "&X02&" in text
    assert Link().send_message(text, 0.0) == 1
    assert parse_message(text).records[1] == record


def test_a_bare_header_record_still_writes_its_delimiters() -> None:
    # Record.build("H") used to build "H", which does not parse back (no delimiters, so not a header).
    text = build_message([Record.build("H"), Record.build("L", "1")], Delimiters(field="!", repeat="@"))
    assert text.startswith("H!@^&\r")
    assert parse_message(text).delimiters == Delimiters(field="!", repeat="@")
