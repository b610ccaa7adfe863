"""Every real capture in shared/fixtures/astm parses into the right records, through the host link."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocols.astm.framing import Frame, FrameParser
from protocols.astm.link import FrameReceived, Link, MessageReceived
from protocols.astm.records import (
    CommentRecord,
    Delimiters,
    ManufacturerRecord,
    Message,
    PatientRecord,
    ResultRecord,
    parse_message,
)

CAPTURES = ["c111.bin", "cobas_c311.bin", "dca_vantage.bin", "genexpert.bin", "pentra.bin", "sysmex_xn550.bin"]

Reader = Callable[[str], bytes]


def receive(capture: bytes, chunk: int) -> tuple[Message, list[int], Link]:
    """Play a capture into a host link in ``chunk``-byte pieces, storing and ACKing like a driver."""
    link = Link()
    events = link.receive_data(b"\x05", now=0.0)
    for start in range(0, len(capture), chunk):
        new = link.receive_data(capture[start : start + chunk], now=0.0)
        for event in new:
            if isinstance(event, MessageReceived) and event.ack_withheld:
                assert link.ack_message(event.message_id, now=0.0)
        events += new
    # The instrument sends EOT only after it got the ACK of its last frame.
    events += link.receive_data(b"\x04", now=0.0)
    (message,) = [e for e in events if isinstance(e, MessageReceived)]
    assert message.complete and message.ack_withheld
    numbers = [e.number for e in events if isinstance(e, FrameReceived)]
    return parse_message(message.text), numbers, link


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("chunk", [1, 7, 100_000])
def test_capture_is_acked_frame_by_frame_and_round_trips(astm_capture: Reader, name: str, chunk: int) -> None:
    raw = astm_capture(name)
    message, numbers, link = receive(raw, chunk)
    frames = [t for t in FrameParser().feed(raw) if isinstance(t, Frame)]
    assert numbers == [f.number for f in frames]
    # One ACK for the ENQ and one per frame; nothing was NAKed.
    assert link.data_to_send() == b"\x06" * (1 + len(frames))
    assert message.header.type == "H" and message.terminator is not None
    assert message.terminator.termination_code == "N"
    text = b"".join(f.text for f in frames).decode("latin-1")
    assert message.to_text().replace("\r", "") == text.replace("\r", "")


def test_cobas_c111_one_record_per_frame(astm_capture: Reader) -> None:
    message, numbers, _ = receive(astm_capture("c111.bin"), 5)
    assert numbers == [1, 2, 3, 4, 5, 6, 7]
    header = message.header
    assert header.sender[:4] == ("SENAITE", "Roche", "c111", "4.2.2.1730")
    assert (header.receiver, header.processing_id, header.timestamp) == ("host", "P", "20230803131713")
    (order,) = message.orders
    assert order.specimen_id == "" and order.sample_id == "T20 10134GA D28"
    assert order.components(4) == ("T20 10134GA D28", "", "6")
    assert (order.priority, order.action_code, order.report_type) == ("S", "N", "F")
    (result,) = message.results
    assert (result.test_code, result.value, result.units) == ("413", "40.13", "g/L")
    assert (result.abnormal_flags, result.status, result.operator) == ("N", "F", "$SYS$")
    assert result.completed_at == "20230803131700" and result.numeric_value == 40.13
    (comment,) = message.comments
    assert (comment.source, comment.text, comment.comment_type) == ("I", "", "I")
    manufacturer = message.records[5]
    assert isinstance(manufacturer, ManufacturerRecord)
    assert manufacturer.components(3) == ("RR", "BM", "c111", "1")
    assert len(manufacturer.field(5)) == 18 and manufacturer.field(5)[-1] == ("141",)
    assert manufacturer.get(6) == "0.018514"


def test_cobas_c311_whole_message_in_one_frame(astm_capture: Reader) -> None:
    message, numbers, _ = receive(astm_capture("cobas_c311.bin"), 3)
    assert numbers == [1]
    assert message.header.sender == ("c311", "1")
    (order,) = message.orders
    assert order.sample_id == "11625"
    assert order.get(3, component=2).strip() == "CL-PL-24-0370"
    assert order.instrument_specimen_id == "R1"
    assert order.test_codes == ("685/", "687/", "712/", "158/", "735/", "717/", "690/")
    results = [(r.test_code, r.value, r.units, r.abnormal_flags) for r in message.results]
    assert results == [
        ("685/", "22.4", "U/l", "A"),
        ("687/", "15.0", "U/l", "N"),
        ("712/", "4.1", "umol/l", "L"),
        ("158/", "301", "U/l", "N"),
        ("735/", "1.6", "umol/l", "N"),
        ("717/", "5.85", "mmol/l", "N"),
        ("690/", "34", "umol/l", "A"),
    ]
    assert [c.text for c in message.comments_for(message.results[0])] == ["43"]
    assert [c.text for c in message.comments_for(message.results[1])] == ["0"]


def test_dca_vantage_message_ending_in_cr_only(astm_capture: Reader) -> None:
    message, _, _ = receive(astm_capture("dca_vantage.bin"), 11)
    assert message.header.sender == ("DCA VANTAGE", "04.04.00.00", "S067337")
    assert message.patients[0].patient_id == "BU24R554"
    assert message.orders[0].sample_id == "660"
    assert message.orders[0].components(4) == ("660", "0090")
    results = [(r.test_code, r.value, r.units) for r in message.results]
    assert results == [("Alb", "63.7", "mg/L"), ("Crt", "230.8", "mg/dL"), ("Ratio", "27.6", "mg/g")]
    first_comment = message.comments_for(message.results[0])[0]
    assert first_comment.components(4) == ("1.000", "0.0 mg/L")
    assert first_comment.comment_type == "G"


def test_genexpert_custom_delimiters_and_long_message(astm_capture: Reader) -> None:
    message, numbers, _ = receive(astm_capture("genexpert.bin"), 64)
    assert numbers == [1]
    assert message.delimiters == Delimiters(field="|", repeat="@", component="^", escape="\\")
    header = message.header
    assert header.message_control_id == "URM-8lT4abZA-06"
    assert header.sender == (".806149 Happy Hospital", "GeneXpert", "4.8")
    assert (header.receiver, header.version, header.timestamp) == ("HNH-SENAITE", "1394-97", "20250516125515")
    (order,) = message.orders
    assert (order.sample_id, order.test_codes, order.priority) == ("PR25A137", ("MTB-RIF",), "R")
    assert len(message.results) == 84
    first = message.results[0]
    assert first.test_id == ("", "MTB-RIF", "", "Xpert", "Xpert MTB-RIF Ultra", "4", "MTB", "")
    assert (first.value, first.status, first.operator) == ("NOT DETECTED", "F", "John Doe")
    assert first.completed_at == "20250514132103"
    assert first.components(14)[:2] == ("Cepheid-44413S0", "806149")
    spc_ct = message.results[14]
    assert spc_ct.test_id[6:8] == ("SPC", "Ct") and spc_ct.numeric_value == 24.7
    assert message.results[20].get(3, component=2) == "MTB-RI"  # the capture's own typo survives
    last = message.results[-1]
    assert (last.sequence, last.test_id[6:8], last.value) == ("84", ("IS1081-IS6110", "EndPt"), "3.0")
    comments = message.comments
    assert len(comments) == 3
    assert comments[0].text == "Notes Id# 118176 Sardani P Lantion CDU/Dr. A Marcil cp"


def test_pentra_frame_numbers_wrap_from_7_to_0(astm_capture: Reader) -> None:
    message, numbers, _ = receive(astm_capture("pentra.bin"), 13)
    assert len(numbers) == 28
    assert numbers[:10] == [1, 2, 3, 4, 5, 6, 7, 0, 1, 2]
    assert numbers[-1] == 4
    patient = message.patients[0]
    assert isinstance(patient, PatientRecord)
    assert (patient.name, patient.birthdate, patient.sex) == (("Mohale", "Rita"), "19771201", "F")
    (order,) = message.orders
    assert (order.sample_id, order.test_codes, order.collected_at) == ("S1234", ("DIF",), "202205270000")
    results = {r.test_code: r for r in message.results}
    assert len(message.results) == 21
    assert results["WBC"].value == "8.5" and results["WBC"].test_id[4] == "804-5"
    assert results["MON#"].abnormal_flags == "L"
    bas = results["BAS#"]
    assert (bas.value, bas.abnormal_flags, bas.status, bas.numeric_value) == ("-----", "HH", "X", None)
    assert results["HGB"].numeric_value == 14.0 and results["PLT"].value == "234"
    wbc_comments = message.comments_for(results["WBC"])
    assert [c.components(4)[:3] for c in wbc_comments] == [
        ("Alarm_WBC", "LMNE-", "BASO+"),
        ("LARGE IMMATURE CELL", "NRBCs"),
    ]
    assert [c.text for c in message.comments_for(results["PLT"])] == ["PLATELET AGGREGATS"]


def test_sysmex_xn550_long_order_and_escaped_values(astm_capture: Reader) -> None:
    message, numbers, _ = receive(astm_capture("sysmex_xn550.bin"), 200)
    assert numbers == [1]
    assert message.header.sender[0].strip() == "XN-550" and message.header.version == "E1394-97"
    patient = message.patients[0]
    assert (patient.patient_id, patient.name, patient.birthdate, patient.sex) == (
        "37182",
        ("", "Jim", "Brown"),
        "19870626",
        "M",
    )
    assert isinstance(message.records[2], CommentRecord) and message.records[2].text == "POST HD"
    (order,) = message.orders
    assert order.sample_id == "27"
    assert len(order.test_codes) == 23
    assert order.test_codes[:4] == ("WBC", "RBC", "HGB", "HCT") and order.test_codes[-1] == "IG%"
    assert len(message.results) == 41
    by_code = {r.test_code: r for r in message.results}
    assert (by_code["WBC"].value, by_code["WBC"].units) == ("8.13", "10*3/uL")
    assert (by_code["HCT"].value, by_code["HCT"].abnormal_flags) == ("22.7", "L")
    assert (by_code["EO%"].value, by_code["EO%"].abnormal_flags) == ("22.1", "H")
    assert (by_code["Anemia"].value, by_code["Anemia"].abnormal_flags) == ("", "A")
    # "&R&" is the escape for the repeat delimiter: the file name comes back with backslashes.
    assert by_code["SCAT_WDF"].value == "PNG\\20240628\\2024_06_27_13_54_27_WDF.PNG"
    assert isinstance(message.results[-1], ResultRecord) and message.results[-1].test_code == "DIST_PLT"
