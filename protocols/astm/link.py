"""ASTM E1381 (CLSI LIS1-A) low-level link for the host side, as one explicit transition table.

The host is the *receiver* when an instrument sends results (ENQ -> ACK, frames -> ACK/NAK,
EOT) and the *sender* when it sends orders to the instrument (ENQ, frames, EOT). The machine
is sans-I/O: it never reads a clock or a socket. The caller

* feeds bytes with :meth:`Link.receive_data` and writes :meth:`Link.data_to_send`;
* passes ``now`` (seconds, any monotonic origin) to every call and calls :meth:`Link.poll`
  when :attr:`Link.deadline` has passed, which fires the timeout rows of the table;
* calls :meth:`Link.ack_message` once a :class:`MessageReceived` is durably stored: the ACK of
  the last frame of a message is withheld until then, so an instrument never believes a result
  was delivered that we could still lose. Intermediate frames are ACKed at once.

Rows absent from :data:`TRANSITIONS` mean "ignore the input and stay" (E1381 tells both sides
to ignore characters they do not expect, except where the table says otherwise).
"""

from __future__ import annotations

import codecs
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from protocols.astm.events import (
    Contention,
    Event,
    FrameReceived,
    FrameRejected,
    LinkTimeout,
    MessageReceived,
    MessageSent,
    RemoteBusy,
    SendFailed,
    SessionEnded,
    SessionStarted,
)
from protocols.astm.framing import (
    ACK,
    DEFAULT_MAX_TEXT,
    ENQ,
    EOT,
    NAK,
    BadFrame,
    Control,
    Frame,
    FrameParser,
    Junk,
    Token,
    build_frames,
    next_frame_number,
)
from protocols.errors import LocalProtocolError

__all__ = [
    "Contention",
    "Event",
    "FrameReceived",
    "FrameRejected",
    "Link",
    "LinkTimeout",
    "MessageReceived",
    "MessageSent",
    "RemoteBusy",
    "SendFailed",
    "SessionEnded",
    "SessionStarted",
    "State",
    "TRANSITIONS",
    "Timers",
    "Trigger",
    "ends_with_terminator",
]


class State(enum.Enum):
    """Where the host's end of the link is."""

    IDLE = "idle"
    RECV_WAIT_FRAME = "recv_wait_frame"  # we ACKed ENQ or a frame; next frame due within 30 s
    RECV_HOLD_ACK = "recv_hold_ack"  # a message is complete; its last ACK waits for ack_message()
    SEND_WAIT_ENQ_REPLY = "send_wait_enq_reply"  # our ENQ is out; ACK/NAK due within 15 s
    SEND_WAIT_FRAME_REPLY = "send_wait_frame_reply"  # our frame is out; ACK/NAK due within 15 s
    SEND_RETRY_WAIT = "send_retry_wait"  # instrument busy (NAK to ENQ) or silent: retry in 10 s
    SEND_CONTENTION = "send_contention"  # both sent ENQ, the instrument wins: we wait 20 s


class Trigger(enum.Enum):
    """Inputs to the table; bytes are classified into these with the guards in ``_classify``."""

    ENQ = "enq"  # instrument asks for the line and we can take a message
    ENQ_REFUSED = "enq_refused"  # instrument asks for the line but the caller set busy
    ACK = "ack"  # positive reply, more frames of ours to go
    ACK_LAST = "ack_last"  # positive reply to our last frame
    NAK = "nak"  # negative reply (or garbage instead of a reply) under the retry limit
    NAK_LIMIT = "nak_limit"  # the 6th negative reply to the same frame
    EOT = "eot"
    FRAME = "frame"  # good frame with the expected number
    FRAME_LAST = "frame_last"  # good frame that completes a message (ACK withheld)
    FRAME_REPEAT = "frame_repeat"  # good frame repeating the last accepted number: our ACK was lost
    FRAME_BAD = "frame_bad"  # bad checksum, malformed, or unexpected frame number
    SEND = "send"  # caller has a message queued and the line is free
    RELEASE = "release"  # caller stored the message: release the withheld ACK
    TIMEOUT = "timeout"


S, T = State, Trigger

#: (state, trigger) -> (next state, action). Actions are ``Link._<action>`` methods.
TRANSITIONS: dict[tuple[State, Trigger], tuple[State, str]] = {
    # --- idle: the instrument may bid for the line, or we may start sending
    (S.IDLE, T.ENQ): (S.RECV_WAIT_FRAME, "accept_session"),
    (S.IDLE, T.ENQ_REFUSED): (S.IDLE, "refuse_session"),
    (S.IDLE, T.SEND): (S.SEND_WAIT_ENQ_REPLY, "send_enq"),
    # --- receiving
    (S.RECV_WAIT_FRAME, T.FRAME): (S.RECV_WAIT_FRAME, "accept_frame"),
    (S.RECV_WAIT_FRAME, T.FRAME_LAST): (S.RECV_HOLD_ACK, "hold_frame"),
    (S.RECV_WAIT_FRAME, T.FRAME_REPEAT): (S.RECV_WAIT_FRAME, "ack_repeat"),
    (S.RECV_WAIT_FRAME, T.FRAME_BAD): (S.RECV_WAIT_FRAME, "reject_frame"),
    (S.RECV_WAIT_FRAME, T.EOT): (S.IDLE, "end_session"),
    (S.RECV_WAIT_FRAME, T.TIMEOUT): (S.IDLE, "receive_timeout"),
    (S.RECV_HOLD_ACK, T.RELEASE): (S.RECV_WAIT_FRAME, "release_ack"),
    (S.RECV_HOLD_ACK, T.EOT): (S.IDLE, "sender_gave_up"),
    # --- sending: establishment
    (S.SEND_WAIT_ENQ_REPLY, T.ACK): (S.SEND_WAIT_FRAME_REPLY, "send_first_frame"),
    (S.SEND_WAIT_ENQ_REPLY, T.NAK): (S.SEND_RETRY_WAIT, "remote_busy"),
    (S.SEND_WAIT_ENQ_REPLY, T.ENQ): (S.SEND_CONTENTION, "contention"),
    (S.SEND_WAIT_ENQ_REPLY, T.ENQ_REFUSED): (S.SEND_CONTENTION, "contention"),
    (S.SEND_WAIT_ENQ_REPLY, T.TIMEOUT): (S.SEND_RETRY_WAIT, "enq_timeout"),
    (S.SEND_RETRY_WAIT, T.ENQ): (S.RECV_WAIT_FRAME, "accept_session"),
    (S.SEND_RETRY_WAIT, T.ENQ_REFUSED): (S.SEND_RETRY_WAIT, "refuse_session"),
    (S.SEND_RETRY_WAIT, T.TIMEOUT): (S.SEND_WAIT_ENQ_REPLY, "send_enq"),
    (S.SEND_CONTENTION, T.ENQ): (S.RECV_WAIT_FRAME, "accept_session"),
    (S.SEND_CONTENTION, T.ENQ_REFUSED): (S.SEND_CONTENTION, "refuse_session"),
    (S.SEND_CONTENTION, T.TIMEOUT): (S.SEND_WAIT_ENQ_REPLY, "send_enq"),
    # --- sending: transfer
    (S.SEND_WAIT_FRAME_REPLY, T.ACK): (S.SEND_WAIT_FRAME_REPLY, "send_next_frame"),
    (S.SEND_WAIT_FRAME_REPLY, T.ACK_LAST): (S.IDLE, "finish_message"),
    (S.SEND_WAIT_FRAME_REPLY, T.NAK): (S.SEND_WAIT_FRAME_REPLY, "resend_frame"),
    (S.SEND_WAIT_FRAME_REPLY, T.NAK_LIMIT): (S.IDLE, "abort_message"),
    (S.SEND_WAIT_FRAME_REPLY, T.TIMEOUT): (S.IDLE, "abort_message"),
}


@dataclass(frozen=True)
class Timers:
    """E1381 timer values and retry limit; tests may shrink them."""

    reply: float = 15.0  # sender waits this long for ACK/NAK to an ENQ or frame
    frame: float = 30.0  # receiver waits this long for the next frame or EOT
    busy_retry: float = 10.0  # after NAK to our ENQ (instrument busy) or an ENQ timeout
    contention: float = 20.0  # after both sides sent ENQ: the instrument wins
    max_naks: int = 6  # NAKs to one frame before the sender aborts with EOT


def ends_with_terminator(text: bytes) -> bool:
    """Return True if the last record in ``text`` is an L record (the message is complete)."""
    lines = [line for line in text.replace(b"\n", b"\r").split(b"\r") if line]
    if not lines or lines[-1][:1] != b"L":
        return False
    # "L|1|N" or a bare "L": the byte after the letter must be the header's field delimiter.
    delimiter = lines[0][1:2] if lines[0][:1] == b"H" else b"|"
    return len(lines[-1]) == 1 or lines[-1][1:2] == delimiter


@dataclass
class _Outgoing:
    message_id: int
    text: str
    frames: list[bytes]


class Link:
    """Host end of an ASTM E1381 link (receiver and sender roles), driven by the caller."""

    def __init__(
        self,
        *,
        timers: Timers | None = None,
        max_text: int = DEFAULT_MAX_TEXT,
        per_record: bool = False,
        withhold_last_ack: bool = True,
        strict_frame_numbers: bool = True,
        encoding: str = "latin-1",
    ) -> None:
        self.timers = timers or Timers()
        self._max_text = max_text
        self._per_record = per_record
        self._withhold = withhold_last_ack
        self._strict = strict_frame_numbers
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise LocalProtocolError(f"unknown text encoding for the link: {encoding!r}") from exc
        self._encoding = encoding
        self._parser = FrameParser()
        self._state = State.IDLE
        self._deadline: float | None = None
        self._now = 0.0
        self._out = bytearray()
        self._events: list[Event] = []
        self._busy = False
        self._next_id = 1
        # receiving
        self._expected_fn = 1
        self._last_fn: int | None = None
        self._text = bytearray()
        self._held_id: int | None = None
        # sending
        self._queue: deque[_Outgoing] = deque()
        self._frame_index = 0
        self._naks = 0
        self._send_not_before = float("-inf")

    # --- public API --------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """Return the current state."""
        return self._state

    @property
    def deadline(self) -> float | None:
        """Return when :meth:`poll` must next be called (None: no timer running)."""
        if self._state is State.IDLE and self._queue:
            return max(self._send_not_before, self._now)
        return self._deadline

    @property
    def held_message_id(self) -> int | None:
        """Return the id of the message whose last ACK is withheld, if any."""
        return self._held_id

    @property
    def pending_messages(self) -> int:
        """Return how many outgoing messages wait to be sent (the one in flight included)."""
        return len(self._queue)

    def set_busy(self, busy: bool) -> None:
        """While busy, answer the instrument's ENQ with NAK (e.g. the durable store is full)."""
        self._busy = busy

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes from the instrument; return the events they caused."""
        self._now = now
        for token in self._parser.feed(data):
            trigger = self._classify(token)
            if trigger is not None:
                self._fire(trigger, token)
        self._maybe_start_send()
        return self._drain()

    def poll(self, now: float) -> list[Event]:
        """Fire an expired timer and start a queued send if the line is free; return events."""
        self._now = now
        if self._deadline is not None and now >= self._deadline:
            self._fire(Trigger.TIMEOUT, None)
        self._maybe_start_send()
        return self._drain()

    def send_message(self, text: str, now: float) -> int:
        """Queue message text (records joined by CR) for the instrument; return its id.

        LocalProtocolError if the text holds characters the link's encoding cannot carry or framing
        control bytes (records built with :mod:`protocols.astm.records` never do). If the line is idle
        the ENQ is written at once; events appear on the next poll.
        """
        self._now = now
        try:
            data = text.encode(self._encoding)
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end]
            raise LocalProtocolError(
                f"message text cannot be sent in the link's {self._encoding} encoding: {bad!r} at {exc.start}"
            ) from exc
        frames = build_frames(data, max_text=self._max_text, per_record=self._per_record)
        message_id = self._take_id()
        self._queue.append(_Outgoing(message_id, text, frames))
        self._maybe_start_send()
        return message_id

    def ack_message(self, message_id: int, now: float) -> bool:
        """Release the withheld ACK of ``message_id``; False if it is no longer withheld."""
        self._now = now
        if self._held_id != message_id or self._state is not State.RECV_HOLD_ACK:
            return False
        self._fire(Trigger.RELEASE, None)
        return True

    def data_to_send(self) -> bytes:
        """Return (and forget) the bytes to write to the instrument."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # --- table driver ------------------------------------------------------------------------

    def _fire(self, trigger: Trigger, token: Token | None) -> None:
        row = TRANSITIONS.get((self._state, trigger))
        if row is None:
            return  # not in the table: ignore the input (see module docstring)
        next_state, action = row
        self._state = next_state
        handler: Callable[[Token | None], None] = getattr(self, "_" + action)
        handler(token)

    def _classify(self, token: Token) -> Trigger | None:
        state = self._state
        if isinstance(token, Control):
            if token.byte == ENQ:
                return Trigger.ENQ_REFUSED if self._busy else Trigger.ENQ
            if token.byte == EOT:
                # EOT in reply to our frame is the receiver's "interrupt request": E1381 lets it
                # count as an ACK, and we finish the message (the instrument may then send).
                if state is State.SEND_WAIT_FRAME_REPLY:
                    return self._ack_trigger()
                return Trigger.EOT
            if token.byte == ACK:
                if state is State.SEND_WAIT_FRAME_REPLY:
                    return self._ack_trigger()
                return Trigger.ACK
            if token.byte == NAK:
                return self._nak_trigger() if state is State.SEND_WAIT_FRAME_REPLY else Trigger.NAK
        if state is State.SEND_WAIT_FRAME_REPLY:
            return self._nak_trigger()  # E1381: any other reply to a frame counts as a NAK
        if isinstance(token, BadFrame):
            return Trigger.FRAME_BAD
        if isinstance(token, Frame):
            return self._frame_trigger(token)
        if isinstance(token, Junk):
            return None
        return None

    def _ack_trigger(self) -> Trigger:
        return Trigger.ACK_LAST if self._frame_index + 1 >= len(self._queue[0].frames) else Trigger.ACK

    def _nak_trigger(self) -> Trigger:
        return Trigger.NAK_LIMIT if self._naks + 1 >= self.timers.max_naks else Trigger.NAK

    def _frame_trigger(self, frame: Frame) -> Trigger:
        if frame.number == self._last_fn and frame.number != self._expected_fn:
            return Trigger.FRAME_REPEAT
        if self._strict and frame.number != self._expected_fn:
            return Trigger.FRAME_BAD
        if self._withhold and self._completes_message(frame):
            return Trigger.FRAME_LAST
        return Trigger.FRAME

    def _completes_message(self, frame: Frame) -> bool:
        return frame.final and ends_with_terminator(bytes(self._text) + frame.text)

    def _maybe_start_send(self) -> None:
        if self._state is State.IDLE and self._queue and self._now >= self._send_not_before:
            self._fire(Trigger.SEND, None)

    # --- actions: receiving ------------------------------------------------------------------

    def _accept_session(self, _token: Token | None) -> None:
        # No parser reset here: bytes after the ENQ in the same chunk are already in it.
        self._expected_fn, self._last_fn = 1, None
        self._text.clear()
        self._write(ACK)
        self._deadline = self._now + self.timers.frame
        self._events.append(SessionStarted("receive"))

    def _refuse_session(self, _token: Token | None) -> None:
        self._write(NAK)

    def _take_frame(self, token: Token | None) -> Frame:
        if not isinstance(token, Frame):
            raise LocalProtocolError("frame action without a frame")
        self._last_fn = token.number
        self._expected_fn = next_frame_number(token.number)
        self._text += token.text
        if token.final and not self._text.endswith(b"\r"):
            self._text += b"\r"  # an end frame ends a record even when the CR was left out
        self._events.append(FrameReceived(token.number, token.text, token.final))
        return token

    def _accept_frame(self, token: Token | None) -> None:
        frame = self._take_frame(token)
        if frame.final and ends_with_terminator(bytes(self._text)):
            self._emit_message(complete=True, withheld=False)
        self._write(ACK)
        self._deadline = self._now + self.timers.frame

    def _hold_frame(self, token: Token | None) -> None:
        self._take_frame(token)
        self._held_id = self._emit_message(complete=True, withheld=True)
        # No timer: we are the one waiting; the instrument's own 15 s timer bounds the wait.
        self._deadline = None

    def _release_ack(self, _token: Token | None) -> None:
        self._held_id = None
        self._write(ACK)
        self._deadline = self._now + self.timers.frame

    def _ack_repeat(self, _token: Token | None) -> None:
        self._write(ACK)  # E1381: a repeated frame is ACKed again and its text discarded
        self._deadline = self._now + self.timers.frame

    def _reject_frame(self, token: Token | None) -> None:
        if isinstance(token, BadFrame):
            reason, number = token.reason, token.number
        elif isinstance(token, Frame):
            reason, number = f"frame number {token.number}, expected {self._expected_fn}", token.number
        else:
            reason, number = "unexpected input", None
        self._write(NAK)
        self._deadline = self._now + self.timers.frame
        self._events.append(FrameRejected(reason, number))

    def _end_session(self, _token: Token | None) -> None:
        self._flush_partial()
        self._deadline = None
        self._events.append(SessionEnded("eot"))

    def _receive_timeout(self, _token: Token | None) -> None:
        self._events.append(LinkTimeout(State.RECV_WAIT_FRAME))
        self._parser.reset()
        self._flush_partial()
        self._deadline = None
        self._events.append(SessionEnded("timeout"))

    def _sender_gave_up(self, _token: Token | None) -> None:
        # The instrument timed out waiting for our ACK and will send the message again later;
        # the caller already has it, so storage must de-duplicate (e.g. by content hash).
        self._held_id = None
        self._deadline = None
        self._events.append(SessionEnded("eot while the last ACK was withheld"))

    def _emit_message(self, *, complete: bool, withheld: bool) -> int:
        message_id = self._take_id()
        text = bytes(self._text).decode(self._encoding, errors="replace")
        self._text.clear()
        self._events.append(MessageReceived(message_id, text, complete, withheld))
        return message_id

    def _flush_partial(self) -> None:
        if self._text.strip(b"\r\n"):
            self._emit_message(complete=False, withheld=False)
        self._text.clear()

    # --- actions: sending --------------------------------------------------------------------

    def _send_enq(self, _token: Token | None) -> None:
        self._write(ENQ)
        self._deadline = self._now + self.timers.reply

    def _remote_busy(self, _token: Token | None) -> None:
        self._deadline = self._send_not_before = self._now + self.timers.busy_retry
        self._events.append(RemoteBusy(self._deadline))

    def _enq_timeout(self, _token: Token | None) -> None:
        self._write(EOT)
        self._deadline = self._send_not_before = self._now + self.timers.busy_retry
        self._events.append(LinkTimeout(State.SEND_WAIT_ENQ_REPLY))

    def _contention(self, _token: Token | None) -> None:
        # Do not answer this ENQ: the instrument waits >= 1 s and sends a fresh one we ACK.
        self._deadline = self._send_not_before = self._now + self.timers.contention
        self._events.append(Contention(self._deadline))

    def _send_first_frame(self, _token: Token | None) -> None:
        self._events.append(SessionStarted("send"))
        self._frame_index = 0
        self._naks = 0
        self._send_current()

    def _send_next_frame(self, _token: Token | None) -> None:
        self._frame_index += 1
        self._naks = 0
        self._send_current()

    def _resend_frame(self, _token: Token | None) -> None:
        self._naks += 1
        self._send_current()

    def _send_current(self) -> None:
        self._out += self._queue[0].frames[self._frame_index]
        self._deadline = self._now + self.timers.reply

    def _finish_message(self, _token: Token | None) -> None:
        done = self._queue.popleft()
        self._write(EOT)
        self._deadline = None
        self._events.append(MessageSent(done.message_id))
        self._events.append(SessionEnded("eot"))

    def _abort_message(self, token: Token | None) -> None:
        failed = self._queue.popleft()
        reason = "reply timeout" if token is None else f"{self.timers.max_naks} NAKs for one frame"
        if token is None:
            self._events.append(LinkTimeout(State.SEND_WAIT_FRAME_REPLY))
        self._write(EOT)
        self._deadline = None
        self._events.append(SendFailed(failed.message_id, failed.text, reason))
        self._events.append(SessionEnded(reason))

    # --- helpers -----------------------------------------------------------------------------

    def _write(self, byte: int) -> None:
        self._out.append(byte)

    def _take_id(self) -> int:
        message_id = self._next_id
        self._next_id += 1
        return message_id

    def _drain(self) -> list[Event]:
        events, self._events = self._events, []
        return events
