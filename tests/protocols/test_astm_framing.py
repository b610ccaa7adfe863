"""E1381 frames: checksum, numbering, splitting, and the incremental parser."""

from __future__ import annotations

import pytest

from protocols.astm.framing import (
    ACK,
    ENQ,
    EOT,
    ETB,
    ETX,
    NAK,
    STX,
    BadFrame,
    Control,
    Frame,
    FrameParser,
    Junk,
    UnframedAssembler,
    build_frame,
    build_frames,
    checksum,
    next_frame_number,
    split_text,
)
from protocols.errors import LocalProtocolError


def test_checksum_is_sum_from_frame_number_through_etx_mod_256_in_uppercase_hex() -> None:
    body = b"1H|\\^&\r" + bytes([ETX])
    assert checksum(body) == b"%02X" % (sum(body) % 256)
    # Known values from the Pentra capture: frame "7R|2|..." and the bare terminator frame.
    assert checksum(b"4L|1|N\r\x03") == b"07"
    assert checksum(b"\xff\xff") == b"FE"  # wraps modulo 256 and is uppercase


def test_checksum_matches_a_real_capture_frame() -> None:
    raw = b"\x027L|1|N\r\x030A\n"  # last frame of the cobas c111 capture
    assert checksum(raw[1:-3]) == b"0A"


def test_build_frame_layout() -> None:
    frame = build_frame(3, b"R|1|^^^GLU|5.4\r", final=True)
    assert frame[0] == STX and frame[1:2] == b"3"
    assert frame[-5] == ETX and frame.endswith(b"\r\n")
    assert frame[-4:-2] == checksum(frame[1:-4])
    assert build_frame(1, b"x", final=False)[-5] == ETB


@pytest.mark.parametrize("bad", [b"a\x02b", b"a\x03", b"\x04", b"x\ny"])
def test_build_frame_refuses_control_bytes_in_text(bad: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        build_frame(1, bad, final=True)


def test_build_frame_refuses_frame_numbers_outside_0_to_7() -> None:
    with pytest.raises(LocalProtocolError):
        build_frame(8, b"x", final=True)


def test_frame_numbers_count_1_to_7_then_wrap_to_0() -> None:
    numbers = [1]
    for _ in range(9):
        numbers.append(next_frame_number(numbers[-1]))
    assert numbers == [1, 2, 3, 4, 5, 6, 7, 0, 1, 2]
    frames = build_frames(b"x" * 10, max_text=1)
    assert [f[1:2] for f in frames] == [b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"0", b"1", b"2"]


def test_a_message_is_split_into_240_character_frames_with_etb_then_etx() -> None:
    text = bytes(range(0x20, 0x7F)) * 6  # 570 printable bytes
    frames = build_frames(text)
    assert len(frames) == 3
    assert [len(f) - 7 for f in frames] == [240, 240, 90]  # STX FN ... ETX C1 C2 CR LF
    assert [f[-5] for f in frames] == [ETB, ETB, ETX]
    parsed = FrameParser().feed(b"".join(frames))
    assert all(isinstance(t, Frame) for t in parsed)
    assert b"".join(t.text for t in parsed if isinstance(t, Frame)) == text


def test_exactly_240_characters_fit_in_one_frame_and_max_text_is_configurable() -> None:
    assert len(build_frames(b"a" * 240)) == 1
    assert len(build_frames(b"a" * 241)) == 2
    assert split_text(b"abcdefg", 3) == [b"abc", b"def", b"g"]
    assert split_text(b"") == [b""]
    with pytest.raises(LocalProtocolError):
        split_text(b"a", 0)


def test_per_record_framing_ends_each_record_with_etx_and_splits_long_records_with_etb() -> None:
    text = b"H|\\^&\r" + b"R|1|" + b"9" * 300 + b"\rL|1|N\r"
    frames = build_frames(text, per_record=True)
    assert [f[-5] for f in frames] == [ETX, ETB, ETX, ETX]
    tokens = FrameParser().feed(b"".join(frames))
    assert b"".join(t.text for t in tokens if isinstance(t, Frame)) == text


def test_parser_accepts_any_chunking() -> None:
    data = b"".join(build_frames(b"H|\\^&\rL|1|N\r" * 40, max_text=50))
    whole = FrameParser().feed(data)
    parser = FrameParser()
    bytewise = [token for byte in data for token in parser.feed(bytes([byte]))]
    assert whole == bytewise
    assert len(whole) == len(data) // 57 + 1


def test_parser_reports_bad_checksum_as_a_token_not_an_exception() -> None:
    good = build_frame(2, b"P|1\r", final=True)
    bad = good[:-4] + b"00" + good[-2:]
    tokens = FrameParser().feed(bad + good)
    assert isinstance(tokens[0], BadFrame)
    assert tokens[0].number == 2 and "checksum" in tokens[0].reason
    assert isinstance(tokens[1], Frame) and tokens[1].text == b"P|1\r"


def test_parser_accepts_lowercase_checksum_digits_and_any_trailer() -> None:
    frame = build_frame(1, b"L|1|N\r", final=True)
    lower = frame[:-4] + frame[-4:-2].lower()
    for trailer in (b"", b"\r", b"\n", b"\r\n"):
        (token,) = FrameParser().feed(lower + trailer)
        assert isinstance(token, Frame) and token.number == 1 and token.final


def test_parser_tokens_for_control_bytes_and_junk() -> None:
    tokens = FrameParser().feed(bytes([ENQ]) + b"noise" + bytes([ACK, NAK, EOT]))
    assert tokens == [Control(ENQ), Junk(b"noise"), Control(ACK), Control(NAK), Control(EOT)]
    assert [t.name for t in tokens if isinstance(t, Control)] == ["ENQ", "ACK", "NAK", "EOT"]


def test_parser_reports_a_frame_cut_short_by_eot_or_a_new_stx() -> None:
    good = build_frame(1, b"H|\\^&\r", final=True)
    tokens = FrameParser().feed(b"\x021H|partial" + bytes([EOT]) + b"\x022R|x" + good)
    assert isinstance(tokens[0], BadFrame) and "EOT" in tokens[0].reason and tokens[0].number == 1
    assert tokens[1] == Control(EOT)
    assert isinstance(tokens[2], BadFrame) and "STX" in tokens[2].reason and tokens[2].number == 2
    assert isinstance(tokens[3], Frame)


def test_parser_rejects_missing_or_non_digit_frame_numbers_and_overlong_frames() -> None:
    body = b"XR|1\r\x03"
    tokens = FrameParser().feed(b"\x02" + body + checksum(body) + b"\x02\x03\x00\x00")
    assert [type(t) for t in tokens] == [BadFrame, BadFrame]
    assert "0..7" in tokens[0].reason and "0..7" in tokens[1].reason
    parser = FrameParser(max_frame_bytes=10)
    token, rest = parser.feed(b"\x021" + b"a" * 20)
    assert isinstance(token, BadFrame) and "too long" in token.reason
    assert rest == Junk(b"a" * 11)  # what follows a dropped frame is noise until the next STX
    assert not parser.in_frame


def test_unframed_assembler_collects_h_to_l_lines_in_any_chunking() -> None:
    stream = b"\x05H|\\^&\r\nP|1\r\nR|1|^^^GLU|5.4\r\nL|1|N\r\n\x04junk\rH|\\^&\rL|1|N\r"
    assembler = UnframedAssembler()
    messages = [m for byte in stream for m in assembler.feed(bytes([byte]))]
    assert messages == [b"H|\\^&\rP|1\rR|1|^^^GLU|5.4\rL|1|N\r", b"H|\\^&\rL|1|N\r"]
    assert assembler.feed(b"H|\\^&\rP|1\r") == []
    assert assembler.pending == b"H|\\^&\rP|1\r"


def test_the_codec_stays_sans_io() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "protocols"
    files = [*sorted((root / "astm").glob("*.py")), root / "simulators" / "astm.py", root / "errors.py"]
    forbidden = {"asyncio", "socket", "serial", "time", "threading", "select", "selectors"}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not names & forbidden, f"{path.name} imports {names & forbidden}"
