"""E1394 records: delimiters from H, escape sequences, typed fields, building back to text."""

from __future__ import annotations

import pytest

from protocols.astm.records import (
    CommentRecord,
    Delimiters,
    HeaderRecord,
    ManufacturerRecord,
    Message,
    OrderRecord,
    PatientRecord,
    QueryRecord,
    Record,
    ResultRecord,
    ScientificRecord,
    TerminatorRecord,
    build_message,
    escape,
    parse_message,
    parse_messages,
    parse_record,
    pick_test_code,
    split_lines,
    unescape,
)
from protocols.errors import LocalProtocolError, RemoteProtocolError

STANDARD = Delimiters()
GENEXPERT = Delimiters(field="|", repeat="@", component="^", escape="\\")


def test_delimiters_come_from_the_header() -> None:
    assert Delimiters.from_header("H|\\^&|||x") == STANDARD
    assert Delimiters.from_header("H|@^\\|URM") == GENEXPERT
    assert Delimiters.from_header("H!~*$!x") == Delimiters("!", "~", "*", "$")
    assert Delimiters.from_header("H|\\^&") == STANDARD  # nothing after the definition
    assert GENEXPERT.definition == "@^\\"


@pytest.mark.parametrize("text", ["P|1", "H", "H|^^&|"])
def test_bad_headers_are_remote_errors(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        Delimiters.from_header(text)


@pytest.mark.parametrize("delims", [STANDARD, GENEXPERT], ids=["standard", "genexpert"])
def test_escape_sequences_round_trip_with_either_delimiter_set(delims: Delimiters) -> None:
    value = f"a{delims.field}b{delims.repeat}c{delims.component}d{delims.escape}e\rf"
    escaped = escape(value, delims)
    for char in (delims.field, delims.repeat, delims.component, "\r"):
        assert char not in escaped
    assert unescape(escaped, delims) == value


def test_unescape_named_hex_and_unknown_sequences() -> None:
    assert unescape("PNG&R&2024&R&x.PNG", STANDARD) == "PNG\\2024\\x.PNG"
    assert unescape("1&F&2&S&3&E&4", STANDARD) == "1|2^3&4"
    assert unescape("A&X0D0A&B", STANDARD) == "A\r\nB"
    assert unescape("keep &Zlocal& and &Q& and &X1& and &", STANDARD) == "keep &Zlocal& and &Q& and &X1& and &"
    assert unescape("a\\F\\b\\S\\c", GENEXPERT) == "a|b^c"


def test_record_fields_repeats_and_components_use_standard_numbering() -> None:
    record = parse_record("O|1|S-1^RACK^3||^^^GLU\\^^^ALT|R", STANDARD)
    assert isinstance(record, OrderRecord)
    assert record.type == "O"
    assert record.field(3) == (("S-1", "RACK", "3"),)
    assert record.components(5, repeat=1) == ("", "", "", "ALT")
    assert record.get(3, component=2) == "RACK"
    assert record.get(4) == "" and record.field(40) == () and record.get(5, repeat=7) == ""
    assert record.test_codes == ("GLU", "ALT")
    with pytest.raises(LocalProtocolError):
        record.field(0)


def test_every_record_type_parses_to_its_class() -> None:
    expected = {
        "H|\\^&": HeaderRecord,
        "P|1": PatientRecord,
        "O|1": OrderRecord,
        "R|1": ResultRecord,
        "C|1": CommentRecord,
        "Q|1|^S1||^^^ALL||||||||O": QueryRecord,
        "M|1|X": ManufacturerRecord,
        "S|1": ScientificRecord,
        "L|1|N": TerminatorRecord,
        "Z|1": Record,
    }
    for text, cls in expected.items():
        assert type(parse_record(text, STANDARD)) is cls
    query = parse_record("Q|1|^S1||^^^ALL||||||||O", STANDARD)
    assert isinstance(query, QueryRecord)
    assert query.starting_range == ("", "S1") and query.test_ids == (("", "", "", "ALL"),)
    assert query.status_code == "O"
    with pytest.raises(RemoteProtocolError):
        parse_record("|1|2", STANDARD)


def test_result_record_accessors() -> None:
    record = parse_record("R|3|^^^GLU|7.2|mmol/L|3.9 to 6.1|H||F||op1|20250101|20250102|AU480", STANDARD)
    assert isinstance(record, ResultRecord)
    assert (record.sequence, record.test_code, record.value, record.units) == ("3", "GLU", "7.2", "mmol/L")
    assert (record.reference_range, record.abnormal_flags, record.status) == ("3.9 to 6.1", "H", "F")
    assert (record.operator, record.completed_at, record.instrument) == ("op1", "20250102", "AU480")
    assert record.numeric_value == 7.2
    assert parse_record("R|1|^^^X|NEG", STANDARD).numeric_value is None  # type: ignore[attr-defined]


def test_pick_test_code_handles_shifted_components() -> None:
    assert pick_test_code(("", "", "", "GLU")) == "GLU"
    assert pick_test_code(("", "", "", "", "WBC", "1")) == "WBC"
    assert pick_test_code(("GLU",)) == "GLU"
    assert pick_test_code(()) == ""


@pytest.mark.parametrize("delims", [STANDARD, GENEXPERT], ids=["standard", "genexpert"])
def test_built_message_parses_back_to_the_same_records(delims: Delimiters) -> None:
    records = [
        HeaderRecord.build("H", delims.definition, "", "", ["LIS", "1.0"], "", "", "", "", "AU", "", "P"),
        PatientRecord.build("P", "1", "PID|7", "", "", ["O'Neil", "Ann^Marie"]),
        OrderRecord.build("O", "1", "S1", "", [("", "", "", "GLU"), ("", "", "", "ALT")], "R"),
        ResultRecord.build("R", "1", ["", "", "", "GLU"], "5.4", "mmol/L", "3.9\\6.1", "N"),
        CommentRecord.build("C", "1", "I", ["E1", "needs & review"], "I"),
        TerminatorRecord.build("L", "1", "N"),
    ]
    text = build_message(records, delims)
    assert text.startswith("H" + delims.field + delims.definition + delims.field)
    assert text.endswith("L|1|N\r")
    message = parse_message(text)
    assert message.delimiters == delims
    assert message.records == tuple(records)
    assert message.patients[0].patient_id == "PID|7"
    assert message.patients[0].name == ("O'Neil", "Ann^Marie")
    assert message.results[0].reference_range == "3.9\\6.1"
    assert message.comments[0].text == "E1 needs & review"
    assert message.to_text() == text


def test_build_field_inputs_text_components_and_repeats() -> None:
    record = Record.build("X", "", "a", ["b", "c"], [["d", "e"], ["f"]], [])
    assert record.to_text(STANDARD) == "X||a|b^c|d^e\\f|"


def test_message_helpers_group_results_under_orders() -> None:
    text = "H|\\^&\rP|1\rO|1|S1\rR|1|^^^A|1\rC|1|I|first\rC|2|I|second\rR|2|^^^B|2\rO|2|S2\rR|1|^^^C|3\rL|1|N\r"
    message = parse_message(text)
    groups = message.results_by_order()
    assert [(o.specimen_id if o else None, [r.test_code for r in rs]) for o, rs in groups] == [
        ("S1", ["A", "B"]),
        ("S2", ["C"]),
    ]
    assert [c.text for c in message.comments_for(message.results[0])] == ["first", "second"]
    assert message.comments_for(message.results[1]) == []
    assert message.terminator is not None and message.terminator.termination_code == "N"


def test_results_before_any_order_are_grouped_under_none() -> None:
    message = parse_message("H|\\^&\rR|1|^^^A|1\rL|1|N\r")
    assert message.results_by_order()[0][0] is None


def test_a_message_cut_short_has_no_terminator() -> None:
    assert parse_message("H|\\^&\rP|1\r").terminator is None


def test_parse_messages_splits_on_each_header_and_accepts_any_line_ending() -> None:
    text = "H|\\^&\r\nP|1\r\nL|1|N\r\nH|@^\\\nR|1|^^^X|a\\S\\b\nL|1|N\n"
    first, second = parse_messages(text)
    assert first.delimiters == STANDARD and second.delimiters == GENEXPERT
    assert second.results[0].value == "a^b"
    assert split_lines("a\r\nb\rc\n\n") == ["a", "b", "c"]


def test_parse_message_errors() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_message("P|1\rL|1\r")
    with pytest.raises(RemoteProtocolError):
        parse_message("H|\\^&\rL|1\rH|\\^&\rL|1\r")
    with pytest.raises(RemoteProtocolError):
        parse_message("")
    with pytest.raises(LocalProtocolError):
        _ = Message(records=(parse_record("P|1", STANDARD),)).header


def test_from_numbered_places_values_at_their_field_numbers() -> None:
    record = OrderRecord.from_numbered("O", {2: "1", 3: "S1", 5: [("", "", "", "GLU")], 26: "F"})
    assert isinstance(record, OrderRecord)
    assert (record.specimen_id, record.test_codes, record.report_type) == ("S1", ("GLU",), "F")
    assert record.to_text(STANDARD) == "O|1|S1||^^^GLU" + "|" * 21 + "F"
    with pytest.raises(LocalProtocolError):
        Record.from_numbered("O", {1: "x"})
