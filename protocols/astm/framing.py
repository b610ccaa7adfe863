"""ASTM E1381 (CLSI LIS1-A) frames: checksum, building, splitting and an incremental parser.

A frame on the wire is ``<STX> FN text <ETB|ETX> C1 C2 <CR><LF>``. FN is one ASCII digit that
counts 1..7,0,1..; C1 C2 are the checksum as two uppercase hex digits.

The parser is deliberately lenient on the bytes *around* frames (real analyzers send
``<CR><LF>``, only ``<LF>`` or only ``<CR>`` after the checksum) but strict on what makes a
frame trustworthy (frame number digit, checksum). It never raises on peer bytes: problems are
reported as :class:`BadFrame` tokens so the link layer can NAK and wait for a retransmission.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.errors import LocalProtocolError

STX = 0x02
ETX = 0x03
EOT = 0x04
ENQ = 0x05
ACK = 0x06
LF = 0x0A
CR = 0x0D
NAK = 0x15
ETB = 0x17

#: Bytes a frame's text may not hold: the E1381 control characters and LF (which ends a frame).
FRAMING_BYTES = frozenset({STX, ETX, EOT, ENQ, ACK, NAK, ETB, LF})

#: E1381 limit for the text part of one frame.
DEFAULT_MAX_TEXT = 240
#: Guard against a peer that never sends ETX: a frame longer than this is dropped as bad.
#: Real analyzers (GeneXpert, Sysmex) send whole messages of several KiB in one frame.
DEFAULT_MAX_FRAME_BYTES = 1 << 20

_CONTROL_NAMES = {ENQ: "ENQ", ACK: "ACK", NAK: "NAK", EOT: "EOT"}


def checksum(body: bytes) -> bytes:
    """Return the two uppercase hex checksum digits of ``FN text ETB|ETX`` (sum mod 256)."""
    return b"%02X" % (sum(body) % 256)


def next_frame_number(number: int) -> int:
    """Return the frame number that follows ``number`` (1..7, then 0, 1, ...)."""
    return (number + 1) % 8


def build_frame(number: int, text: bytes, *, final: bool) -> bytes:
    """Build one wire frame; ``final`` selects ETX (end frame) instead of ETB (intermediate)."""
    if not 0 <= number <= 7:
        raise LocalProtocolError(f"frame number must be 0..7, got {number}")
    bad = FRAMING_BYTES & set(text)
    if bad:
        raise LocalProtocolError(f"frame text contains control bytes {sorted(bad)!r}")
    body = b"%d" % number + text + bytes([ETX if final else ETB])
    return bytes([STX]) + body + checksum(body) + b"\r\n"


def split_text(text: bytes, max_text: int = DEFAULT_MAX_TEXT) -> list[bytes]:
    """Split a message into frame texts of at most ``max_text`` bytes (at least one, maybe empty)."""
    if max_text < 1:
        raise LocalProtocolError("max_text must be positive")
    if not text:
        return [b""]
    return [text[i : i + max_text] for i in range(0, len(text), max_text)]


def build_frames(
    text: bytes,
    *,
    first_number: int = 1,
    max_text: int = DEFAULT_MAX_TEXT,
    per_record: bool = False,
) -> list[bytes]:
    """Split ``text`` into frames (ETB on intermediate, ETX on end frames); FN wraps 7 -> 0.

    With ``per_record`` every CR-terminated record gets its own end frame (ETX), as many
    analyzers do; a record longer than ``max_text`` is still carried by ETB frames first.
    """
    groups = _records(text) if per_record else [text]
    frames: list[bytes] = []
    number = first_number
    for group in groups:
        chunks = split_text(group, max_text)
        for index, chunk in enumerate(chunks):
            frames.append(build_frame(number, chunk, final=index == len(chunks) - 1))
            number = next_frame_number(number)
    return frames


def _records(text: bytes) -> list[bytes]:
    parts = [part + b"\r" for part in text.split(b"\r") if part]
    if parts and not text.endswith(b"\r"):
        parts[-1] = parts[-1][:-1]
    return parts or [b""]


# --- tokens produced by the parser ---------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """A frame whose checksum matched."""

    number: int
    text: bytes
    final: bool  # True: ended by ETX (end frame); False: ETB (intermediate frame)
    raw: bytes


@dataclass(frozen=True)
class BadFrame:
    """A frame that cannot be trusted (bad checksum, bad FN, cut short); the link NAKs it."""

    reason: str
    raw: bytes
    number: int | None = None


@dataclass(frozen=True)
class Control:
    """A single link control byte outside a frame: ENQ, ACK, NAK or EOT."""

    byte: int

    @property
    def name(self) -> str:
        """Return the ASCII name of the control byte."""
        return _CONTROL_NAMES[self.byte]


@dataclass(frozen=True)
class Junk:
    """Bytes outside any frame that mean nothing to the link (noise, stray CR/LF are dropped)."""

    data: bytes


Token = Frame | BadFrame | Control | Junk


class FrameParser:
    """Incremental tokenizer: feed bytes in any chunking, get tokens back as they complete."""

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._max = max_frame_bytes
        self._buf = bytearray()
        self._phase = _OUTSIDE
        self._junk = bytearray()
        self._tokens: list[Token] = []

    def feed(self, data: bytes) -> list[Token]:
        """Consume ``data`` and return every token completed by it, in order."""
        for byte in data:
            self._feed_byte(byte)
        self._flush_junk()
        out, self._tokens = self._tokens, []
        return out

    @property
    def in_frame(self) -> bool:
        """Return True while a frame has started but not completed."""
        return self._phase != _OUTSIDE

    def reset(self) -> None:
        """Forget any partial frame (e.g. after the link timed out)."""
        self._buf = bytearray()
        self._phase = _OUTSIDE

    def _flush_junk(self) -> None:
        if self._junk:
            self._tokens.append(Junk(bytes(self._junk)))
            self._junk.clear()

    def _cut_short(self, byte: int) -> None:
        name = "STX" if byte == STX else _CONTROL_NAMES[byte]
        self._tokens.append(BadFrame(f"frame cut short by {name}", bytes(self._buf), _fn(self._buf)))
        self.reset()

    def _feed_byte(self, byte: int) -> None:
        if self._phase == _OUTSIDE:
            if byte == STX:
                self._flush_junk()
                self._phase = _NUMBER
                self._buf = bytearray([byte])
            elif byte in _CONTROL_NAMES:
                self._flush_junk()
                self._tokens.append(Control(byte))
            elif byte not in (CR, LF):
                # CR/LF after a checksum are frame trailers; any mix of them is tolerated silently.
                self._junk.append(byte)
            return
        if byte == STX or byte in _CONTROL_NAMES:
            # STX/ENQ/EOT/ACK/NAK never occur inside a frame: the sender gave up on this one.
            self._cut_short(byte)
            self._feed_byte(byte)
            return
        self._buf.append(byte)
        if self._phase in (_NUMBER, _TEXT) and byte in (ETB, ETX):
            self._phase = _CHECKSUM  # a missing frame number is caught when the frame is checked
        elif self._phase == _NUMBER:
            self._phase = _TEXT
        elif self._phase == _TEXT:
            if len(self._buf) > self._max:
                self._tokens.append(BadFrame("frame too long", bytes(self._buf), _fn(self._buf)))
                self.reset()
        elif self._buf[-3] in (ETB, ETX):  # _CHECKSUM phase and both digits are in
            self._tokens.append(_finish(bytes(self._buf)))
            self.reset()


_OUTSIDE, _NUMBER, _TEXT, _CHECKSUM = range(4)


def _fn(buf: bytes | bytearray) -> int | None:
    if len(buf) >= 2 and 0x30 <= buf[1] <= 0x37:
        return buf[1] - 0x30
    return None


def _finish(raw: bytes) -> Frame | BadFrame:
    body, digits = raw[1:-2], raw[-2:]
    number = _fn(raw)
    if number is None:
        return BadFrame("frame number is not 0..7", raw)
    if digits.upper() != checksum(body):
        return BadFrame(
            f"checksum mismatch: got {digits.decode('latin-1')!r}, expected {checksum(body).decode()}",
            raw,
            number,
        )
    return Frame(number=number, text=body[1:-1], final=body[-1] == ETX, raw=raw)


def iter_frames(data: bytes) -> list[Token]:
    """Tokenize a complete capture in one call (convenience for tests and offline parsing)."""
    return FrameParser().feed(data)


class UnframedAssembler:
    """Collect records sent without E1381 frames (plain ``H..L`` lines) into whole messages.

    Some analyzers (and most ASTM-over-TCP set-ups) write the records as text lines ended by
    CR, CR LF or LF, sometimes still wrapped in ENQ/EOT. Control bytes are ignored here; a
    message is the lines from an ``H`` record through the next ``L`` record.
    """

    def __init__(self, *, max_message_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._max = max_message_bytes
        self._line = bytearray()
        self._lines: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return each message completed by it as CR-joined record text."""
        done: list[bytes] = []
        for byte in data:
            if byte in (CR, LF):
                if self._line:
                    message = self._end_line(bytes(self._line))
                    self._line.clear()
                    if message is not None:
                        done.append(message)
            elif byte in _CONTROL_NAMES or byte in (STX, ETX, ETB):
                continue
            else:
                self._line.append(byte)
                if len(self._line) > self._max:
                    self._line.clear()  # a line this long is noise, not a record
        return done

    @property
    def pending(self) -> bytes:
        """Return the records collected so far for an unfinished message."""
        return b"".join(line + b"\r" for line in self._lines)

    def _end_line(self, line: bytes) -> bytes | None:
        if line[:1] == b"H":
            self._lines = []  # a new header starts a new message; an unfinished one is dropped
        elif not self._lines:
            return None  # records before any header cannot be interpreted (no delimiters)
        self._lines.append(line)
        if line[:1] == b"L" and (len(line) == 1 or not line[1:2].isalnum()):
            message = b"".join(item + b"\r" for item in self._lines)
            self._lines = []
            return message
        return None
