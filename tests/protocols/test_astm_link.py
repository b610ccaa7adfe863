"""The E1381 link table: every row, then NAKs, timeouts, busy, contention and the withheld ACK."""

from __future__ import annotations

import pytest

from protocols.astm.framing import build_frame, build_frames
from protocols.astm.link import (
    TRANSITIONS,
    Contention,
    FrameRejected,
    Link,
    LinkTimeout,
    MessageReceived,
    MessageSent,
    RemoteBusy,
    SendFailed,
    SessionEnded,
    SessionStarted,
    State,
    Timers,
    Trigger,
    ends_with_terminator,
)

ENQ, ACK, NAK, EOT = b"\x05", b"\x06", b"\x15", b"\x04"
S, T = State, Trigger
MESSAGE = "H|\\^&\rP|1\rO|1|S1\rR|1|^^^GLU|5.4\rL|1|N\r"  # 36 chars: 4 frames of 10


def new_link(**kwargs: object) -> Link:
    """A host link with 10-character frames so a short message needs several frames."""
    return Link(max_text=10, **kwargs)  # type: ignore[arg-type]


def frame(number: int, text: str, final: bool = True) -> bytes:
    return build_frame(number, text.encode(), final=final)


# --- driving a link into each state with real inputs -----------------------------------------


def reach(state: State) -> Link:
    link = new_link()
    if state is S.RECV_WAIT_FRAME:
        link.receive_data(ENQ, 0.0)
    elif state is S.RECV_HOLD_ACK:
        link.receive_data(ENQ + frame(1, "H|\\^&\rL|1|N\r"), 0.0)
    elif state is S.SEND_WAIT_ENQ_REPLY:
        link.send_message(MESSAGE, 0.0)
    elif state is S.SEND_WAIT_FRAME_REPLY:
        link.send_message(MESSAGE, 0.0)
        link.receive_data(ACK, 0.0)
    elif state is S.SEND_RETRY_WAIT:
        link.send_message(MESSAGE, 0.0)
        link.receive_data(NAK, 0.0)
    elif state is S.SEND_CONTENTION:
        link.send_message(MESSAGE, 0.0)
        link.receive_data(ENQ, 0.0)
    link.poll(0.0)
    assert link.state is state
    link.data_to_send()
    return link


def fire(link: Link, trigger: Trigger) -> None:
    state = link.state
    now = 1.0
    if trigger is T.ENQ:
        link.receive_data(ENQ, now)
    elif trigger is T.ENQ_REFUSED:
        link.set_busy(True)
        link.receive_data(ENQ, now)
    elif trigger is T.ACK:
        link.receive_data(ACK, now)
    elif trigger is T.ACK_LAST:
        link.receive_data(ACK + ACK + ACK, now)  # frames 2, 3 and 4 go out
        link.data_to_send()
        link.receive_data(ACK, now)
    elif trigger is T.NAK:
        link.receive_data(NAK, now)
    elif trigger is T.NAK_LIMIT:
        link.receive_data(NAK * 5, now)
        link.data_to_send()
        link.receive_data(NAK, now)
    elif trigger is T.EOT:
        link.receive_data(EOT, now)
    elif trigger is T.FRAME:
        link.receive_data(frame(1, "H|\\^&\r"), now)
    elif trigger is T.FRAME_LAST:
        link.receive_data(frame(1, "H|\\^&\rL|1|N\r"), now)
    elif trigger is T.FRAME_REPEAT:
        link.receive_data(frame(1, "H|\\^&\r"), now)
        link.data_to_send()
        link.receive_data(frame(1, "H|\\^&\r"), now)
    elif trigger is T.FRAME_BAD:
        link.receive_data(frame(1, "H|\\^&\r")[:-4] + b"ZZ\r\n", now)
    elif trigger is T.SEND:
        link.send_message(MESSAGE, now)
    elif trigger is T.RELEASE:
        held = link.held_message_id
        assert held is not None and link.ack_message(held, now)
    elif trigger is T.TIMEOUT:
        deadline = link.deadline
        assert deadline is not None, f"no timer in {state}"
        link.poll(deadline)


FRAMES = build_frames(MESSAGE.encode(), max_text=10)

#: What each row must write, written independently of the implementation's table.
EXPECTED_OUTPUT: dict[tuple[State, Trigger], bytes] = {
    (S.IDLE, T.ENQ): ACK,
    (S.IDLE, T.ENQ_REFUSED): NAK,
    (S.IDLE, T.SEND): ENQ,
    (S.RECV_WAIT_FRAME, T.FRAME): ACK,
    (S.RECV_WAIT_FRAME, T.FRAME_LAST): b"",  # withheld until the caller stored the message
    (S.RECV_WAIT_FRAME, T.FRAME_REPEAT): ACK,
    (S.RECV_WAIT_FRAME, T.FRAME_BAD): NAK,
    (S.RECV_WAIT_FRAME, T.EOT): b"",
    (S.RECV_WAIT_FRAME, T.TIMEOUT): b"",
    (S.RECV_HOLD_ACK, T.RELEASE): ACK,
    (S.RECV_HOLD_ACK, T.EOT): b"",
    (S.SEND_WAIT_ENQ_REPLY, T.ACK): FRAMES[0],
    (S.SEND_WAIT_ENQ_REPLY, T.NAK): b"",
    (S.SEND_WAIT_ENQ_REPLY, T.ENQ): b"",  # contention: the instrument's first ENQ gets no reply
    (S.SEND_WAIT_ENQ_REPLY, T.ENQ_REFUSED): b"",
    (S.SEND_WAIT_ENQ_REPLY, T.TIMEOUT): EOT,
    (S.SEND_RETRY_WAIT, T.ENQ): ACK,
    (S.SEND_RETRY_WAIT, T.ENQ_REFUSED): NAK,
    (S.SEND_RETRY_WAIT, T.TIMEOUT): ENQ,
    (S.SEND_CONTENTION, T.ENQ): ACK,
    (S.SEND_CONTENTION, T.ENQ_REFUSED): NAK,
    (S.SEND_CONTENTION, T.TIMEOUT): ENQ,
    (S.SEND_WAIT_FRAME_REPLY, T.ACK): FRAMES[1],
    (S.SEND_WAIT_FRAME_REPLY, T.ACK_LAST): EOT,
    (S.SEND_WAIT_FRAME_REPLY, T.NAK): FRAMES[0],
    (S.SEND_WAIT_FRAME_REPLY, T.NAK_LIMIT): EOT,
    (S.SEND_WAIT_FRAME_REPLY, T.TIMEOUT): EOT,
}


def test_every_table_row_has_an_expectation() -> None:
    assert set(EXPECTED_OUTPUT) == set(TRANSITIONS)


@pytest.mark.parametrize("row", list(TRANSITIONS), ids=lambda row: f"{row[0].value}-{row[1].value}")
def test_table_row(row: tuple[State, Trigger]) -> None:
    state, trigger = row
    link = reach(state)
    fire(link, trigger)
    assert link.state is TRANSITIONS[row][0]
    assert link.data_to_send() == EXPECTED_OUTPUT[row]


@pytest.mark.parametrize(
    ("state", "data"),
    [
        (S.IDLE, ACK + NAK + EOT + b"noise"),
        (S.IDLE, frame(1, "H|\\^&\r")),
        (S.RECV_WAIT_FRAME, ACK + NAK + ENQ + b"noise"),
        (S.RECV_HOLD_ACK, ENQ + frame(2, "P|1\r") + ACK),
        (S.SEND_WAIT_ENQ_REPLY, EOT + b"noise" + frame(1, "x")),
        (S.SEND_CONTENTION, ACK + NAK + EOT),
        (S.SEND_RETRY_WAIT, ACK + NAK + EOT),
    ],
)
def test_inputs_outside_the_table_are_ignored(state: State, data: bytes) -> None:
    link = reach(state)
    link.receive_data(data, 0.5)
    assert link.state is state
    assert link.data_to_send() == b""


# --- receiving -------------------------------------------------------------------------------


def test_receiver_naks_a_bad_checksum_and_accepts_the_retransmission() -> None:
    link = new_link()
    good = frame(1, "H|\\^&\rL|1|N\r")
    events = link.receive_data(ENQ + good[:-4] + b"00\r\n", 0.0)
    assert link.data_to_send() == ACK + NAK
    assert any(isinstance(e, FrameRejected) and "checksum" in e.reason and e.number == 1 for e in events)
    events = link.receive_data(good, 1.0)
    (message,) = [e for e in events if isinstance(e, MessageReceived)]
    assert message.text == "H|\\^&\rL|1|N\r"


def test_receiver_naks_an_unexpected_frame_number_unless_lenient() -> None:
    strict = new_link()
    strict.receive_data(ENQ + frame(3, "H|\\^&\r"), 0.0)
    assert strict.data_to_send() == ACK + NAK
    lenient = new_link(strict_frame_numbers=False)
    lenient.receive_data(ENQ + frame(3, "H|\\^&\r", final=False) + frame(4, "L|1|N\r"), 0.0)
    assert lenient.data_to_send() == ACK + ACK
    assert lenient.state is S.RECV_HOLD_ACK


def test_repeated_frame_is_acked_but_its_text_kept_once() -> None:
    link = new_link()
    first = frame(1, "H|\\^&\r", final=False)
    events = link.receive_data(ENQ + first + first + frame(2, "L|1|N\r"), 0.0)
    (message,) = [e for e in events if isinstance(e, MessageReceived)]
    assert message.text == "H|\\^&\rL|1|N\r"


def test_receiver_joins_etb_frames_and_ends_records_at_etx_frames() -> None:
    link = new_link()
    data = ENQ + frame(1, "H|\\^&", final=True) + frame(2, "R|1|^^^G", final=False)
    data += frame(3, "LU|5.4", final=True) + frame(4, "L|1|N", final=True)
    (message,) = [e for e in link.receive_data(data, 0.0) if isinstance(e, MessageReceived)]
    assert message.text == "H|\\^&\rR|1|^^^GLU|5.4\rL|1|N\r"


def test_receiver_timeout_after_30_seconds_hands_over_the_partial_message() -> None:
    link = new_link()
    link.receive_data(ENQ + frame(1, "H|\\^&\rP|1\r"), 5.0)
    assert link.deadline == 35.0
    assert link.poll(34.9) == []
    events = link.poll(35.0)
    assert link.state is S.IDLE
    assert LinkTimeout(S.RECV_WAIT_FRAME) in events
    (partial,) = [e for e in events if isinstance(e, MessageReceived)]
    assert (partial.text, partial.complete, partial.ack_withheld) == ("H|\\^&\rP|1\r", False, False)
    assert SessionEnded("timeout") in events


def test_eot_before_the_terminator_hands_over_an_incomplete_message() -> None:
    link = new_link()
    events = link.receive_data(ENQ + frame(1, "H|\\^&\rP|1\r") + EOT, 0.0)
    (partial,) = [e for e in events if isinstance(e, MessageReceived)]
    assert not partial.complete
    assert events[0] == SessionStarted("receive") and events[-1] == SessionEnded("eot")


def test_busy_host_refuses_the_session_with_nak() -> None:
    link = new_link()
    link.set_busy(True)
    link.receive_data(ENQ, 0.0)
    assert link.data_to_send() == NAK and link.state is S.IDLE
    link.set_busy(False)
    link.receive_data(ENQ, 10.0)
    assert link.data_to_send() == ACK and link.state is S.RECV_WAIT_FRAME


# --- the withheld ACK ------------------------------------------------------------------------


def test_last_ack_is_withheld_until_the_message_is_stored() -> None:
    link = new_link()
    frames = build_frames(MESSAGE.encode(), max_text=10)
    events = link.receive_data(ENQ + b"".join(frames), 0.0)
    assert link.data_to_send() == ACK * len(frames)  # ENQ and the three intermediate frames
    (message,) = [e for e in events if isinstance(e, MessageReceived)]
    assert (message.text, message.complete, message.ack_withheld) == (MESSAGE, True, True)
    assert link.state is S.RECV_HOLD_ACK and link.deadline is None
    assert link.ack_message(message.message_id + 100, 1.0) is False
    assert link.data_to_send() == b""
    assert link.ack_message(message.message_id, 2.0) is True
    assert link.data_to_send() == ACK
    assert link.ack_message(message.message_id, 2.0) is False  # only once
    assert link.state is S.RECV_WAIT_FRAME and link.deadline == 32.0
    link.receive_data(EOT, 3.0)
    assert link.state is S.IDLE


def test_each_message_of_a_session_is_withheld_separately() -> None:
    link = new_link()
    events = link.receive_data(ENQ + frame(1, "H|\\^&\rL|1|N\r"), 0.0)
    (first,) = [e for e in events if isinstance(e, MessageReceived)]
    link.ack_message(first.message_id, 0.0)
    events = link.receive_data(frame(2, "H|\\^&\rR|1|^^^A|1\rL|1|N\r"), 0.0)
    (second,) = [e for e in events if isinstance(e, MessageReceived)]
    assert second.message_id != first.message_id and link.state is S.RECV_HOLD_ACK
    assert link.data_to_send() == ACK + ACK


def test_sender_giving_up_while_the_ack_is_withheld_makes_the_ack_stale() -> None:
    link = new_link()
    events = link.receive_data(ENQ + frame(1, "H|\\^&\rL|1|N\r"), 0.0)
    (message,) = [e for e in events if isinstance(e, MessageReceived)]
    events = link.receive_data(EOT, 15.0)
    assert SessionEnded("eot while the last ACK was withheld") in events
    assert link.ack_message(message.message_id, 16.0) is False
    assert link.data_to_send() == ACK  # only the ENQ's


def test_withholding_can_be_switched_off() -> None:
    link = new_link(withhold_last_ack=False)
    events = link.receive_data(ENQ + frame(1, "H|\\^&\rL|1|N\r"), 0.0)
    (message,) = [e for e in events if isinstance(e, MessageReceived)]
    assert message.complete and not message.ack_withheld
    assert link.data_to_send() == ACK + ACK and link.state is S.RECV_WAIT_FRAME


def test_terminator_detection_uses_the_header_field_delimiter() -> None:
    assert ends_with_terminator(b"H|\\^&\rL|1|N\r")
    assert ends_with_terminator(b"H!~^&\rL!1\r")
    assert ends_with_terminator(b"L\r")
    assert not ends_with_terminator(b"H|\\^&\rLX|1\r")
    assert not ends_with_terminator(b"H|\\^&\rP|1\r")
    assert not ends_with_terminator(b"")


# --- sending ---------------------------------------------------------------------------------


def test_sender_sends_every_frame_then_eot() -> None:
    link = new_link()
    message_id = link.send_message(MESSAGE, 0.0)
    assert link.data_to_send() == ENQ and link.deadline == 15.0
    sent = b""
    events = []
    for _ in range(len(FRAMES) + 1):
        events += link.receive_data(ACK, 1.0)
        sent += link.data_to_send()
    assert sent == b"".join(FRAMES) + EOT
    assert events[0] == SessionStarted("send")
    assert MessageSent(message_id) in events and link.state is S.IDLE and link.pending_messages == 0


def test_sender_can_frame_each_record_separately() -> None:
    link = Link(per_record=True)
    link.send_message(MESSAGE, 0.0)
    out = link.data_to_send()
    for _ in range(6):
        link.receive_data(ACK, 0.0)
        out += link.data_to_send()
    assert out == ENQ + b"".join(build_frames(MESSAGE.encode(), per_record=True)) + EOT


def test_six_naks_for_one_frame_abort_with_eot() -> None:
    link = new_link()
    message_id = link.send_message(MESSAGE, 0.0)
    link.receive_data(ACK, 0.0)
    out = link.data_to_send()
    events = []
    for _ in range(6):
        events += link.receive_data(NAK, 1.0)
        out += link.data_to_send()
    assert out == ENQ + FRAMES[0] * 6 + EOT  # the first send and five retransmissions
    assert SendFailed(message_id, MESSAGE, "6 NAKs for one frame") in events
    assert link.state is S.IDLE and link.pending_messages == 0


def test_naks_count_per_frame_and_garbage_counts_as_nak() -> None:
    link = new_link()
    link.send_message(MESSAGE, 0.0)
    # 5 NAKs on frame 1; then 4 NAKs and a run of noise (one bad reply) on frame 2.
    link.receive_data(ACK + NAK * 5 + ACK + NAK * 4 + b"???", 0.0)
    assert link.state is S.SEND_WAIT_FRAME_REPLY
    link.receive_data(b"?", 0.0)
    assert link.state is S.IDLE


def test_eot_in_reply_to_a_frame_counts_as_ack() -> None:
    link = new_link()
    link.send_message(MESSAGE, 0.0)
    link.receive_data(ACK + EOT, 0.0)
    assert link.data_to_send() == ENQ + FRAMES[0] + FRAMES[1]


def test_sender_waits_15_seconds_for_a_reply_to_a_frame() -> None:
    link = new_link()
    message_id = link.send_message(MESSAGE, 0.0)
    link.receive_data(ACK, 2.0)
    assert link.deadline == 17.0 and link.poll(16.9) == []
    events = link.poll(17.0)
    assert LinkTimeout(S.SEND_WAIT_FRAME_REPLY) in events
    assert SendFailed(message_id, MESSAGE, "reply timeout") in events
    assert link.data_to_send().endswith(EOT) and link.state is S.IDLE


def test_enq_timeout_sends_eot_and_retries_after_10_seconds() -> None:
    link = new_link()
    link.send_message(MESSAGE, 0.0)
    link.data_to_send()
    events = link.poll(15.0)
    assert LinkTimeout(S.SEND_WAIT_ENQ_REPLY) in events
    assert link.data_to_send() == EOT and link.deadline == 25.0
    link.poll(25.0)
    assert link.data_to_send() == ENQ and link.pending_messages == 1


def test_busy_instrument_nak_to_enq_retries_after_10_seconds() -> None:
    link = new_link()
    link.send_message(MESSAGE, 100.0)
    link.data_to_send()
    events = link.receive_data(NAK, 101.0)
    assert events == [RemoteBusy(retry_at=111.0)]
    assert link.poll(110.9) == [] and link.data_to_send() == b""
    link.poll(111.0)
    assert link.data_to_send() == ENQ and link.state is S.SEND_WAIT_ENQ_REPLY


def test_contention_instrument_wins_and_host_waits_20_seconds() -> None:
    link = new_link()
    link.send_message(MESSAGE, 0.0)
    link.data_to_send()
    events = link.receive_data(ENQ, 0.5)  # both bid at once
    assert events == [Contention(retry_at=20.5)] and link.data_to_send() == b""
    link.receive_data(ENQ, 1.6)  # the instrument bids again after >= 1 s
    assert link.data_to_send() == ACK and link.state is S.RECV_WAIT_FRAME
    events = link.receive_data(frame(1, "H|\\^&\rL|1|N\r"), 2.0)
    (received,) = [e for e in events if isinstance(e, MessageReceived)]
    link.ack_message(received.message_id, 2.0)
    link.receive_data(EOT, 3.0)
    assert link.data_to_send() == ACK and link.state is S.IDLE
    assert link.deadline == 20.5  # our message waits for the contention delay
    link.poll(20.4)
    assert link.data_to_send() == b""
    link.poll(20.5)
    assert link.data_to_send() == ENQ


def test_queued_messages_go_one_session_each() -> None:
    link = new_link()
    first = link.send_message("H|\\^&\rL|1|N\r", 0.0)
    second = link.send_message("H|\\^&\rL|1|N\r", 0.0)
    assert link.pending_messages == 2
    events = link.receive_data(ACK + ACK + ACK, 0.0)  # ENQ, frame 1, frame 2 (last)
    assert MessageSent(first) in events and link.state is S.SEND_WAIT_ENQ_REPLY
    assert link.data_to_send().endswith(EOT + ENQ)
    events = link.receive_data(ACK * 3, 0.0)
    assert MessageSent(second) in events and link.pending_messages == 0
    assert link.deadline is None


def test_instrument_session_starts_while_waiting_for_busy_retry() -> None:
    link = new_link()
    link.send_message(MESSAGE, 0.0)
    link.receive_data(NAK, 0.0)
    link.data_to_send()
    link.receive_data(ENQ + frame(1, "H|\\^&\rL|1|N\r"), 1.0)
    assert link.state is S.RECV_HOLD_ACK and link.data_to_send() == ACK


def test_custom_timers_are_used() -> None:
    link = Link(timers=Timers(reply=1.0, frame=2.0, busy_retry=3.0, contention=4.0, max_naks=2))
    link.send_message("H|\\^&\rL|1|N\r", 0.0)
    assert link.deadline == 1.0
    link.receive_data(ACK + NAK + NAK, 0.0)
    assert link.state is S.IDLE
