"""A pure ASTM analyzer simulator (the instrument side of an E1381 link) with fault injection.

It produces bytes and consumes bytes; an I/O wrapper (serial, TCP, in-memory) moves them. Time
comes from the caller as ``now`` values, exactly like :class:`protocols.astm.link.Link`, so a
test can pair the two through an in-memory link and a fake clock.

The instrument side is written independently of the host's table on purpose: pairing two
copies of the same logic would hide a misreading of E1381 on both ends.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from protocols.astm.framing import (
    ACK,
    ENQ,
    EOT,
    NAK,
    BadFrame,
    Control,
    Frame,
    FrameParser,
    build_frames,
    next_frame_number,
)
from protocols.astm.link import Timers
from protocols.astm.records import (
    CommentRecord,
    Delimiters,
    HeaderRecord,
    OrderRecord,
    PatientRecord,
    Record,
    ResultRecord,
    TerminatorRecord,
    build_message,
)

#: The instrument waits at least this long after contention before sending ENQ again (E1381).
INSTRUMENT_CONTENTION_DELAY = 1.0


@dataclass(frozen=True)
class SimResult:
    """One result line the simulated analyzer reports."""

    code: str
    value: str
    units: str
    reference_range: str = ""
    flags: str = "N"
    status: str = "F"  # F final; X "cannot be done" (instrument error)
    comment: str = ""  # becomes a C record after the R record (code^text)


#: (code, units, low, high, decimals) of a small chemistry panel.
CHEMISTRY_PANEL: tuple[tuple[str, str, float, float, int], ...] = (
    ("GLU", "mmol/L", 3.9, 6.1, 1),
    ("ALT", "U/L", 7.0, 40.0, 0),
    ("AST", "U/L", 13.0, 35.0, 0),
    ("CREA", "umol/L", 59.0, 104.0, 0),
    ("UREA", "mmol/L", 2.8, 7.2, 1),
    ("TBIL", "umol/L", 3.4, 20.5, 1),
)


def chemistry_results(rng: random.Random, codes: Sequence[str] | None = None) -> list[SimResult]:
    """Draw plausible chemistry results (about one in five outside the reference range)."""
    out: list[SimResult] = []
    for code, units, low, high, decimals in CHEMISTRY_PANEL:
        if codes is not None and code not in codes:
            continue
        span = high - low
        value = rng.uniform(low - 0.25 * span, high + 0.25 * span)
        flag = "L" if value < low else "H" if value > high else "N"
        out.append(SimResult(code, f"{value:.{decimals}f}", units, f"{low:g} to {high:g}", flag))
    return out


def error_result(code: str, error_code: str, text: str) -> SimResult:
    """Return a result the analyzer could not produce, with its error code and text."""
    return SimResult(code, "", "", flags="", status="X", comment=f"{error_code}^{text}")


def result_message(
    sample_id: str,
    results: Sequence[SimResult],
    *,
    patient_id: str = "P0001",
    patient_name: tuple[str, str] = ("DOE", "JANE"),
    timestamp: str = "20250101120000",
    instrument: tuple[str, ...] = ("MEDFIX-SIM", "1.0", "SN0001"),
    delimiters: Delimiters | None = None,
    termination_code: str = "N",
    action_code: str = "N",
) -> str:
    """Build an H, P, O, R(+C)..., L result message as an analyzer would send it (action_code "Q": a QC run)."""
    delims = delimiters or Delimiters()
    codes = [("", "", "", r.code) for r in results]
    records: list[Record] = [
        HeaderRecord.from_numbered(
            "H", {2: delims.definition, 5: list(instrument), 10: "LIS", 12: "P", 13: "LIS2-A2", 14: timestamp}
        ),
        PatientRecord.from_numbered("P", {2: "1", 3: patient_id, 6: list(patient_name)}),
        OrderRecord.from_numbered(
            "O",
            {2: "1", 3: sample_id, 5: codes, 6: "R", 7: timestamp, 8: timestamp, 12: action_code, 23: timestamp,
             26: "F"},
        ),
    ]
    for index, result in enumerate(results, start=1):
        records.append(
            ResultRecord.from_numbered(
                "R",
                {
                    2: str(index),
                    3: ["", "", "", result.code],
                    4: result.value,
                    5: result.units,
                    6: result.reference_range,
                    7: result.flags,
                    9: result.status,
                    12: timestamp,
                    13: timestamp,
                    14: instrument[0],
                },
            )
        )
        if result.comment:
            records.append(CommentRecord.build("C", "1", "I", result.comment.split("^"), "I"))
    records.append(TerminatorRecord.build("L", "1", termination_code))
    return build_message(records, delims)


@dataclass(frozen=True)
class Faults:
    """What the simulated analyzer does wrong, counted per outgoing message."""

    bad_checksum_frames: frozenset[int] = frozenset()  # 1-based frame positions sent corrupted
    bad_checksum_times: int = 1  # how many transmissions of each such frame are corrupted
    stall_after_frame: int | None = None  # go silent once this many frames were ACKed
    busy_naks: int = 0  # answer the host's first N ENQs with NAK (busy)
    max_attempts: int = 3  # sends of one message before it is given up


@dataclass
class _Outgoing:
    text: str
    frames: list[bytes]
    attempts: int = 0
    corrupted: dict[int, int] = field(default_factory=dict)


class AnalyzerSimulator:
    """Instrument end of an E1381 link: sends result messages, receives host messages."""

    def __init__(
        self,
        *,
        timers: Timers | None = None,
        faults: Faults | None = None,
        max_text: int = 240,
        per_record: bool = True,
        seed: int = 0,
    ) -> None:
        self.timers = timers or Timers()
        self.faults = faults or Faults()
        self.rng = random.Random(seed)
        self._max_text = max_text
        self._per_record = per_record
        self._parser = FrameParser()
        self._out = bytearray()
        self._state = "idle"
        self._deadline: float | None = None
        self._now = 0.0
        self._queue: deque[_Outgoing] = deque()
        self._index = 0  # frame index in the message being sent
        self._naks = 0
        self._busy_left = self.faults.busy_naks
        self._expected_fn = 1
        self._last_fn: int | None = None
        self._incoming = bytearray()
        self.sent: list[str] = []  # messages whose every frame was ACKed
        self.failed: list[str] = []  # messages given up after max_attempts
        self.received: list[str] = []  # messages the host sent us
        self.naks_received = 0
        self.enq_sent = 0

    @property
    def state(self) -> str:
        """Return the simulator's state name (idle, wait_enq_reply, wait_frame_reply, ...)."""
        return self._state

    @property
    def deadline(self) -> float | None:
        """Return when :meth:`poll` must next be called (None: nothing timed)."""
        return self._deadline

    @property
    def pending(self) -> int:
        """Return how many messages wait to be sent."""
        return len(self._queue)

    def queue_message(self, text: str, now: float) -> None:
        """Queue message text (records joined by CR) and start sending if the line is idle."""
        frames = build_frames(text.encode("latin-1"), max_text=self._max_text, per_record=self._per_record)
        self._queue.append(_Outgoing(text, frames))
        self.poll(now)

    def queue_results(self, sample_id: str, now: float, results: Sequence[SimResult] | None = None) -> str:
        """Queue a result message for ``sample_id`` (random chemistry results by default)."""
        text = result_message(sample_id, results if results is not None else chemistry_results(self.rng))
        self.queue_message(text, now)
        return text

    def data_to_send(self) -> bytes:
        """Return (and forget) the bytes to write to the host."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def poll(self, now: float) -> None:
        """Fire an expired timer, or start the next queued message when idle."""
        self._now = now
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            self._on_timeout()
        if self._state == "idle" and self._queue:
            self._send_enq()

    def receive_data(self, data: bytes, now: float) -> None:
        """Consume bytes from the host."""
        self._now = now
        for token in self._parser.feed(data):
            if isinstance(token, Control):
                self._on_control(token.byte)
            elif isinstance(token, Frame | BadFrame):
                self._on_frame(token)
        if self._state == "idle" and self._queue:
            self._send_enq()

    # --- sending -----------------------------------------------------------------------------

    def _send_enq(self) -> None:
        self._out.append(ENQ)
        self.enq_sent += 1
        self._state = "wait_enq_reply"
        self._deadline = self._now + self.timers.reply

    def _send_frame(self) -> None:
        msg = self._queue[0]
        position = self._index + 1
        frame = msg.frames[self._index]
        done = msg.corrupted.get(position, 0)
        if position in self.faults.bad_checksum_frames and done < self.faults.bad_checksum_times:
            msg.corrupted[position] = done + 1
            frame = _corrupt(frame)
        self._out += frame
        self._state = "wait_frame_reply"
        self._deadline = self._now + self.timers.reply

    def _on_control(self, byte: int) -> None:
        state = self._state
        if state == "wait_enq_reply":
            if byte == ACK:
                self._queue[0].attempts += 1
                self._index, self._naks = 0, 0
                self._send_frame()
            elif byte == NAK:
                self._retry_later(self.timers.busy_retry)  # host busy
            elif byte == ENQ:
                self._retry_later(INSTRUMENT_CONTENTION_DELAY)  # contention: we win, re-bid soon
        elif state == "wait_frame_reply":
            if byte in (ACK, EOT):
                self._frame_acked()
            else:
                self._frame_naked()
        elif state in ("idle", "retry_wait") and byte == ENQ:
            self._accept_host()
        elif state == "receiving" and byte == EOT:
            if self._incoming:
                self.received.append(self._incoming.decode("latin-1"))
            self._incoming.clear()
            self._state, self._deadline = "idle", None

    def _frame_acked(self) -> None:
        msg = self._queue[0]
        self._index += 1
        self._naks = 0
        stall = self.faults.stall_after_frame
        if stall is not None and self._index >= stall and msg.attempts == 1:
            self._state, self._deadline = "stalled", None  # silence: the host must time out
            return
        if self._index < len(msg.frames):
            self._send_frame()
            return
        self._queue.popleft()
        self.sent.append(msg.text)
        self._out.append(EOT)
        self._state, self._deadline = "idle", None

    def _frame_naked(self) -> None:
        self.naks_received += 1
        self._naks += 1
        if self._naks >= self.timers.max_naks:
            self._abort()
        else:
            self._send_frame()

    def _abort(self) -> None:
        self._out.append(EOT)
        msg = self._queue[0]
        if msg.attempts >= self.faults.max_attempts:
            self.failed.append(self._queue.popleft().text)
            self._state, self._deadline = "idle", None
        else:
            self._retry_later(self.timers.busy_retry)

    def _retry_later(self, delay: float) -> None:
        self._state = "retry_wait"
        self._deadline = self._now + delay

    def _on_timeout(self) -> None:
        state = self._state
        if state == "wait_enq_reply":
            self._out.append(EOT)
            self._retry_later(self.timers.busy_retry)
        elif state == "wait_frame_reply":
            self._abort()  # E1381: no reply in 15 s -> EOT; we send the message again later
        elif state == "retry_wait":
            self._send_enq()
        elif state == "receiving":
            self._incoming.clear()
            self._state = "idle"

    # --- receiving (host -> instrument) ------------------------------------------------------

    def _accept_host(self) -> None:
        if self._busy_left > 0:
            self._busy_left -= 1
            self._out.append(NAK)
            return
        self._out.append(ACK)
        self._state = "receiving"
        self._expected_fn, self._last_fn = 1, None
        self._incoming.clear()
        self._deadline = self._now + self.timers.frame

    def _on_frame(self, token: Frame | BadFrame) -> None:
        if self._state != "receiving":
            return
        self._deadline = self._now + self.timers.frame
        if isinstance(token, BadFrame):
            self._out.append(NAK)
        elif token.number == self._expected_fn:
            self._incoming += token.text
            self._last_fn, self._expected_fn = token.number, next_frame_number(token.number)
            self._out.append(ACK)
        elif token.number == self._last_fn:
            self._out.append(ACK)  # our ACK was lost: acknowledge again, keep one copy
        else:
            self._out.append(NAK)


def _corrupt(frame: bytes) -> bytes:
    # Flip the last checksum digit so the frame is intact except for its checksum.
    digit = frame[-3]
    wrong = ord("0") if digit != ord("0") else ord("1")
    return frame[:-3] + bytes([wrong]) + frame[-2:]
