"""The analyzer simulator paired with the host link through an in-memory wire and a fake clock."""

from __future__ import annotations

import random

from protocols.astm.link import (
    Contention,
    Link,
    LinkTimeout,
    MessageReceived,
    MessageSent,
    RemoteBusy,
    SessionEnded,
    State,
)
from protocols.astm.records import parse_message
from protocols.simulators.astm import (
    AnalyzerSimulator,
    Faults,
    SimResult,
    chemistry_results,
    error_result,
    result_message,
)

PANEL = [
    SimResult("GLU", "7.8", "mmol/L", "3.9 to 6.1", "H"),
    SimResult("ALT", "35", "U/L", "7 to 40", "N"),
    SimResult("CREA", "51", "umol/L", "59 to 104", "L", comment="R01^Rerun advised"),
]


def test_result_message_has_the_expected_records() -> None:
    message = parse_message(result_message("SID-1", PANEL, patient_id="PID-9"))
    assert [r.type for r in message.records] == ["H", "P", "O", "R", "R", "R", "C", "L"]
    assert message.header.sender[0] == "MEDFIX-SIM" and message.header.version == "LIS2-A2"
    assert message.patients[0].patient_id == "PID-9" and message.patients[0].name == ("DOE", "JANE")
    order = message.orders[0]
    assert (order.sample_id, order.test_codes, order.report_type) == ("SID-1", ("GLU", "ALT", "CREA"), "F")
    got = [(r.test_code, r.value, r.units, r.reference_range, r.abnormal_flags) for r in message.results]
    assert got == [
        ("GLU", "7.8", "mmol/L", "3.9 to 6.1", "H"),
        ("ALT", "35", "U/L", "7 to 40", "N"),
        ("CREA", "51", "umol/L", "59 to 104", "L"),
    ]
    assert message.comments_for(message.results[2])[0].components(4) == ("R01", "Rerun advised")


def test_chemistry_results_are_seeded_and_flagged_against_the_range() -> None:
    first = chemistry_results(random.Random(7))
    assert first == chemistry_results(random.Random(7))
    assert [r.code for r in first] == ["GLU", "ALT", "AST", "CREA", "UREA", "TBIL"]
    for result in first:
        low, high = (float(x) for x in result.reference_range.split(" to "))
        value = float(result.value)
        assert result.flags == ("L" if value < low else "H" if value > high else "N")
    assert [r.code for r in chemistry_results(random.Random(1), codes=["ALT", "GLU"])] == ["GLU", "ALT"]


def test_simulator_results_reach_the_host_and_are_stored_once(wire_factory) -> None:
    sim = AnalyzerSimulator(max_text=20)  # small frames: records split with ETB, FN wraps 7 -> 0
    wire = wire_factory(Link(), sim)
    text = result_message("S-1001", PANEL)
    sim.queue_message(text, wire.now)
    wire.run_until_idle()
    assert wire.stored == [text] and sim.sent == [text]
    assert wire.host.state is State.IDLE and sim.state == "idle"
    numbers = [chr(wire.to_host[i + 1]) for i in range(len(wire.to_host)) if wire.to_host[i] == 2]
    assert len(numbers) > 8 and numbers[7:9] == ["0", "1"]
    message = parse_message(wire.stored[0])
    assert message.orders[0].sample_id == "S-1001"
    assert {r.test_code: r.value for r in message.results} == {"GLU": "7.8", "ALT": "35", "CREA": "51"}


def test_bad_checksum_is_naked_and_the_retransmission_accepted(wire_factory) -> None:
    sim = AnalyzerSimulator(faults=Faults(bad_checksum_frames=frozenset({2, 4})))
    wire = wire_factory(Link(), sim)
    text = sim.queue_results("S-2", wire.now)
    wire.run_until_idle()
    assert sim.naks_received == 2
    assert wire.stored == [text] and sim.sent == [text]


def test_six_bad_checksums_make_the_analyzer_abort_and_send_again_later(wire_factory) -> None:
    sim = AnalyzerSimulator(faults=Faults(bad_checksum_frames=frozenset({3}), bad_checksum_times=6))
    wire = wire_factory(Link(), sim)
    text = sim.queue_results("S-3", wire.now)
    wire.run_until_idle()
    assert sim.naks_received == 6
    partial = [e for e in wire.events if isinstance(e, MessageReceived) and not e.complete]
    assert len(partial) == 1 and partial[0].text.startswith("H|")  # handed over, flagged incomplete
    assert wire.stored == [text] and sim.sent == [text]  # the second attempt went through
    assert sim.enq_sent == 2


def test_stalled_analyzer_times_the_host_out_after_30_seconds(wire_factory) -> None:
    sim = AnalyzerSimulator(faults=Faults(stall_after_frame=2))
    wire = wire_factory(Link(), sim)
    sim.queue_results("S-4", wire.now)
    wire.run_until_idle()
    assert wire.now == 30.0
    assert LinkTimeout(State.RECV_WAIT_FRAME) in wire.events
    (partial,) = [e for e in wire.events if isinstance(e, MessageReceived)]
    assert not partial.complete and partial.text.count("\r") == 2
    assert wire.stored == [] and sim.state == "stalled"


def test_busy_host_makes_the_analyzer_retry_after_10_seconds(wire_factory) -> None:
    host = Link()
    host.set_busy(True)
    sim = AnalyzerSimulator()
    wire = wire_factory(host, sim)
    text = sim.queue_results("S-5", wire.now)
    wire.pump()
    assert sim.state == "retry_wait" and sim.deadline == 10.0
    host.set_busy(False)
    wire.run_until_idle()
    assert wire.stored == [text] and wire.now == 10.0


def test_busy_analyzer_naks_the_host_enq_and_the_host_retries(wire_factory) -> None:
    sim = AnalyzerSimulator(faults=Faults(busy_naks=2))
    wire = wire_factory(Link(), sim)
    order = "H|\\^&\rO|1|S-6||^^^GLU|R\rL|1|N\r"
    message_id = wire.host.send_message(order, wire.now)
    wire.run_until_idle()
    busy = [e for e in wire.events if isinstance(e, RemoteBusy)]
    assert [b.retry_at for b in busy] == [10.0, 20.0]
    assert MessageSent(message_id) in wire.events
    assert sim.received == [order]


def test_host_orders_are_framed_and_received_by_the_analyzer(wire_factory) -> None:
    sim = AnalyzerSimulator()
    wire = wire_factory(Link(max_text=16), sim)
    order = result_message("S-7", PANEL)
    wire.host.send_message(order, wire.now)
    wire.run_until_idle()
    assert sim.received == [order]


def test_contention_the_analyzer_wins_and_the_host_sends_after_20_seconds(wire_factory) -> None:
    sim = AnalyzerSimulator()
    wire = wire_factory(Link(), sim)
    order = "H|\\^&\rO|1|S-8||^^^ALT|R\rL|1|N\r"
    wire.host.send_message(order, wire.now)
    results = sim.queue_results("S-8", wire.now)
    wire.run_until_idle()
    assert Contention(retry_at=20.0) in wire.events
    assert wire.stored == [results] and sim.sent == [results]
    assert sim.received == [order]
    assert wire.now == 20.0


def test_error_and_status_codes_travel_in_results_and_comments(wire_factory) -> None:
    sim = AnalyzerSimulator()
    wire = wire_factory(Link(), sim)
    results = [*PANEL[:2], error_result("CREA", "E042", "Sample short")]
    sim.queue_message(result_message("S-9", results, termination_code="N"), wire.now)
    wire.run_until_idle()
    message = parse_message(wire.stored[0])
    crea = message.results[2]
    assert (crea.test_code, crea.value, crea.status) == ("CREA", "", "X")
    (comment,) = message.comments_for(crea)
    assert comment.components(4) == ("E042", "Sample short") and comment.source == "I"


def test_withheld_ack_the_analyzer_never_counts_an_unstored_message_as_sent(wire_factory) -> None:
    sim = AnalyzerSimulator()
    wire = wire_factory(Link(), sim, auto_ack=False)  # a caller that never manages to store
    text = sim.queue_results("S-10", wire.now)
    wire.pump()
    assert wire.host.state is State.RECV_HOLD_ACK and sim.sent == []
    wire.advance(15.0)  # the analyzer's reply timer expires: EOT, it will send again
    assert SessionEnded("eot while the last ACK was withheld") in wire.events
    assert sim.sent == [] and sim.state == "retry_wait"
    wire.auto_ack = True  # storage recovered
    wire.run_until_idle()
    assert sim.sent == [text]
    assert wire.stored == [text, text]  # delivered twice: storage de-duplicates, nothing is lost


def test_many_random_messages_arrive_in_order(wire_factory) -> None:
    sim = AnalyzerSimulator(seed=42, max_text=60)
    wire = wire_factory(Link(), sim)
    texts = [sim.queue_results(f"S-{n:03d}", wire.now) for n in range(12)]
    wire.run_until_idle()
    assert wire.stored == texts == sim.sent
    samples = [parse_message(t).orders[0].sample_id for t in wire.stored]
    assert samples == [f"S-{n:03d}" for n in range(12)]
