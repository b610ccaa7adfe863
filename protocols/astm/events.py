"""Events the E1381 host link (:mod:`protocols.astm.link`) hands to its caller: frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from protocols.astm.link import State


@dataclass(frozen=True)
class SessionStarted:
    """The line was established: ``direction`` is ``"receive"`` or ``"send"``."""

    direction: str


@dataclass(frozen=True)
class SessionEnded:
    """The line went back to idle (EOT received or sent, abort, timeout)."""

    reason: str


@dataclass(frozen=True)
class FrameReceived:
    """A frame passed the checks and was taken into the current message."""

    number: int
    text: bytes
    final: bool


@dataclass(frozen=True)
class FrameRejected:
    """We NAKed a frame; the sender should retransmit it."""

    reason: str
    number: int | None


@dataclass(frozen=True)
class MessageReceived:
    """A message arrived. Store ``text``, then call ``ack_message(message_id)`` if ``ack_withheld``.

    ``complete`` is False when the session ended or timed out before the L record: the frames
    were already ACKed, so the text is handed over rather than dropped silently.
    """

    message_id: int
    text: str
    complete: bool = True
    ack_withheld: bool = True


@dataclass(frozen=True)
class MessageSent:
    """Every frame of an outgoing message was ACKed and EOT sent."""

    message_id: int


@dataclass(frozen=True)
class SendFailed:
    """An outgoing message was aborted (NAK limit or reply timeout); it left the queue."""

    message_id: int
    text: str
    reason: str


@dataclass(frozen=True)
class RemoteBusy:
    """The instrument NAKed our ENQ; we retry at ``retry_at``."""

    retry_at: float


@dataclass(frozen=True)
class Contention:
    """Both sides sent ENQ; the instrument wins, we retry at ``retry_at`` unless it sends first."""

    retry_at: float


@dataclass(frozen=True)
class LinkTimeout:
    """A timer of the table expired in ``state``."""

    state: State


Event = (
    SessionStarted
    | SessionEnded
    | FrameReceived
    | FrameRejected
    | MessageReceived
    | MessageSent
    | SendFailed
    | RemoteBusy
    | Contention
    | LinkTimeout
)
