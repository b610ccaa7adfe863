"""The nameplate matcher: OCR's confusions are forgiven, ambiguity never guesses (no database, no OCR)."""

from __future__ import annotations

from cloud.identify.matching import Identifier, fold, match_text

IDS = [Identifier(1, "serial", "C702-1834-07"), Identifier(1, "system_number", "MF-000123"),
       Identifier(2, "serial", "BC-6800-ZB9A0125"), Identifier(2, "system_number", "MF-000124"),
       Identifier(3, "serial", "12345"), Identifier(4, "serial", "123456"),
       Identifier(5, "serial", "ISR99740"), Identifier(6, "serial", "ISR99741")]


def _found(text: str) -> int | None:
    matches = match_text(text, IDS)
    return matches[0].device_id if matches else None


def test_ocr_confusions_o0_i1_s5_b8_dashes_and_spaces_are_forgiven() -> None:
    assert fold("mf-ooo l23") == "MF000123"
    assert _found("序列号 S/N: C7O2 l834-O7") == 1
    assert _found("系统编号 MF OOO123") == 1
    assert _found("S/N：8C-68OO-Z89AO125") == 2  # B/8, O/0 and Z/2 read the other way round


def test_one_ocr_slip_in_a_long_serial_still_finds_the_device() -> None:
    assert _found("S/N: C702-1834-Q7X") == 1  # exact after folding
    assert _found("S/N: C702-1884-07") == 1  # one wrong digit in 10 characters
    assert _found("BC-6800-ZB9A0I25") == 2


def test_a_text_that_fits_two_devices_equally_names_none() -> None:
    # ISR99740 and ISR99741 differ in one digit: a read of ISR9974? must not pick one of them.
    assert _found("S/N: ISR99743") is None
    assert _found("S/N: ISR99740") == 5


def test_a_short_serial_inside_a_longer_one_is_not_a_rival() -> None:
    assert _found("S/N: 123456") == 4
    assert _found("S/N: 12345") == 3


def test_unrelated_text_names_no_device() -> None:
    assert _found("电源 Power: AC 220V 50Hz 1500VA\n生产日期 2019-06") is None
    assert _found("") is None


def test_a_short_serial_hidden_in_other_fields_is_chance_not_a_match() -> None:
    ids = [Identifier(7, "serial", "00240"), Identifier(8, "serial", "PJ-61L567436")]
    text = "电源 Power: AC 100-240V 50Hz\n序列号 S/N: PI-61L567436"
    assert [m.device_id for m in match_text(text, ids)] == [8]  # one slip in a long serial beats chance
    assert match_text("序列号 S/N: 00240", ids)[0].device_id == 7
