"""Modbus register codec, register map validation, read planner and probe."""

from __future__ import annotations

import math
import random
import struct

import pytest
from pydantic import ValidationError

from protocols.modbus import (
    MAX_READ_BITS,
    MAX_READ_REGISTERS,
    ByteOrder,
    DataType,
    RegisterCodecError,
    RegisterMap,
    RegisterPoint,
    Table,
    WordOrder,
    decode_raw,
    decode_value,
    encode_raw,
    encode_value,
    format_probe,
    plan_reads,
    probe,
    register_count,
)

BIG, LITTLE = ByteOrder.BIG, ByteOrder.LITTLE
WBIG, WLITTLE = WordOrder.BIG, WordOrder.LITTLE
ORDERS = {"ABCD": (BIG, WBIG), "CDAB": (BIG, WLITTLE), "BADC": (LITTLE, WBIG), "DCBA": (LITTLE, WLITTLE)}


# --- known encodings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "words"),
    [
        ("ABCD", [0x42F6, 0xE979]),
        ("CDAB", [0xE979, 0x42F6]),
        ("BADC", [0xF642, 0x79E9]),
        ("DCBA", [0x79E9, 0xF642]),
    ],
)
def test_float32_123_456_in_every_order(order: str, words: list[int]) -> None:
    byte_order, word_order = ORDERS[order]
    assert encode_raw(123.456, DataType.FLOAT32, byte_order=byte_order, word_order=word_order) == words
    assert decode_raw(words, DataType.FLOAT32, byte_order=byte_order, word_order=word_order) == 123.456


@pytest.mark.parametrize(
    ("order", "words"),
    [
        ("ABCD", [0x1234, 0x5678]),
        ("CDAB", [0x5678, 0x1234]),
        ("BADC", [0x3412, 0x7856]),
        ("DCBA", [0x7856, 0x3412]),
    ],
)
def test_uint32_in_every_order(order: str, words: list[int]) -> None:
    byte_order, word_order = ORDERS[order]
    assert decode_raw(words, DataType.UINT32, byte_order=byte_order, word_order=word_order) == 0x12345678
    assert encode_raw(0x12345678, DataType.UINT32, byte_order=byte_order, word_order=word_order) == words


@pytest.mark.parametrize(
    ("order", "words"),
    [
        ("ABCD", [0x0102, 0x0304, 0x0506, 0x0708]),
        ("CDAB", [0x0708, 0x0506, 0x0304, 0x0102]),
        ("BADC", [0x0201, 0x0403, 0x0605, 0x0807]),
        ("DCBA", [0x0807, 0x0605, 0x0403, 0x0201]),
    ],
)
def test_int64_in_every_order(order: str, words: list[int]) -> None:
    byte_order, word_order = ORDERS[order]
    assert decode_raw(words, DataType.INT64, byte_order=byte_order, word_order=word_order) == 0x0102030405060708


@pytest.mark.parametrize(
    ("data_type", "words", "value"),
    [
        (DataType.INT16, [0xFFFF], -1),
        (DataType.UINT16, [0xFFFF], 65535),
        (DataType.INT16, [0x8000], -32768),
        (DataType.INT32, [0xFFFF, 0xFFFE], -2),
        (DataType.UINT32, [0xFFFF, 0xFFFE], 0xFFFFFFFE),
        (DataType.INT64, [0xFFFF] * 4, -1),
        (DataType.UINT64, [0xFFFF] * 4, 2**64 - 1),
        (DataType.FLOAT64, [0x3FF0, 0, 0, 0], 1.0),
        (DataType.FLOAT64, [0x4058, 0xFD2F, 0x1A9F, 0xBE77], 99.956),
        (DataType.FLOAT32, [0xC2C8, 0x0000], -100.0),
    ],
)
def test_known_big_endian_encodings(data_type: DataType, words: list[int], value: float) -> None:
    assert decode_raw(words, data_type) == value
    assert encode_raw(value, data_type) == words


def test_int16_byte_swap() -> None:
    assert decode_raw([0x3412], DataType.UINT16, byte_order=LITTLE) == 0x1234
    assert encode_raw(0x1234, DataType.UINT16, byte_order=LITTLE) == [0x3412]


def test_word_order_does_not_affect_single_register_types() -> None:
    assert decode_raw([0x1234], DataType.UINT16, word_order=WLITTLE) == 0x1234


def test_float32_decodes_to_the_shortest_decimal_the_device_meant() -> None:
    assert decode_raw([0x3DCC, 0xCCCD], DataType.FLOAT32) == 0.1
    assert repr(decode_raw(encode_raw(21.7, DataType.FLOAT32), DataType.FLOAT32)) == "21.7"


def test_extra_words_after_the_value_are_ignored() -> None:
    assert decode_raw([0x0001, 0xAAAA, 0xBBBB], DataType.UINT16) == 1


# --- strings and bits ---------------------------------------------------------------------------------


def test_string_strips_trailing_nul_and_space() -> None:
    words = [0x4142, 0x3132, 0x2000, 0x0000]  # "AB12" + " " + NULs
    assert decode_raw(words, DataType.STRING, length=4) == "AB12"
    assert decode_raw([0x4142, 0x2020], DataType.STRING, length=2) == "AB"


def test_string_with_swapped_bytes() -> None:
    assert decode_raw([0x4241, 0x3231, 0x0033], DataType.STRING, byte_order=LITTLE, length=3) == "AB123"
    assert encode_raw("AB123", DataType.STRING, byte_order=LITTLE, length=3) == [0x4241, 0x3231, 0x0033]


def test_string_keeps_leading_and_inner_spaces() -> None:
    assert decode_raw([0x2041, 0x2042], DataType.STRING, length=2) == " A B"


def test_string_encode_pads_with_nul_and_refuses_overflow_or_non_ascii() -> None:
    assert encode_raw("AB1", DataType.STRING, length=3) == [0x4142, 0x3100, 0x0000]
    with pytest.raises(RegisterCodecError, match="does not fit"):
        encode_raw("ABCDE", DataType.STRING, length=2)
    with pytest.raises(RegisterCodecError, match="ASCII"):
        encode_raw("温度", DataType.STRING, length=4)


def test_non_ascii_string_bytes_decode_to_replacement_characters_not_a_crash() -> None:
    assert decode_raw([0x41FF], DataType.STRING, length=1) == "A\ufffd"


def test_string_needs_a_length() -> None:
    with pytest.raises(RegisterCodecError, match="length"):
        decode_raw([0x4142], DataType.STRING)


@pytest.mark.parametrize("bit", range(16))
def test_each_bit_of_a_register(bit: int) -> None:
    word = 1 << bit
    assert decode_raw([word], DataType.BIT, bit=bit) is True
    assert decode_raw([0xFFFF ^ word], DataType.BIT, bit=bit) is False
    assert encode_raw(True, DataType.BIT, bit=bit) == [word]
    assert encode_raw(False, DataType.BIT, bit=bit, current_word=0xFFFF) == [0xFFFF ^ word]


@pytest.mark.parametrize("bit", [None, -1, 16])
def test_bit_index_must_be_in_range(bit: int | None) -> None:
    with pytest.raises(RegisterCodecError, match="bit index"):
        decode_raw([1], DataType.BIT, bit=bit)


# --- round trips ----------------------------------------------------------------------------------------

INT_RANGES = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT64: (0, 2**64 - 1),
}


@pytest.mark.parametrize("data_type", list(INT_RANGES))
@pytest.mark.parametrize("order", list(ORDERS))
def test_integers_round_trip(data_type: DataType, order: str) -> None:
    byte_order, word_order = ORDERS[order]
    low, high = INT_RANGES[data_type]
    rng = random.Random(f"{data_type}-{order}")
    for value in [low, high, 0, *(rng.randint(low, high) for _ in range(300))]:
        words = encode_raw(value, data_type, byte_order=byte_order, word_order=word_order)
        assert len(words) == register_count(data_type)
        assert all(0 <= w <= 0xFFFF for w in words)
        assert decode_raw(words, data_type, byte_order=byte_order, word_order=word_order) == value


@pytest.mark.parametrize("order", list(ORDERS))
def test_floats_round_trip_bit_exactly_from_words(order: str) -> None:
    byte_order, word_order = ORDERS[order]
    rng = random.Random(order)
    for data_type, width in ((DataType.FLOAT32, 2), (DataType.FLOAT64, 4)):
        for _ in range(300):
            words = [rng.randrange(0x10000) for _ in range(width)]
            value = decode_raw(words, data_type, byte_order=byte_order, word_order=word_order)
            assert isinstance(value, float)
            if math.isnan(value):
                continue  # NaN payload bits need not survive a float round trip
            again = encode_raw(value, data_type, byte_order=byte_order, word_order=word_order)
            assert again == words


def test_float64_values_round_trip_exactly() -> None:
    rng = random.Random(7)
    for _ in range(300):
        value = rng.uniform(-1e12, 1e12)
        assert decode_raw(encode_raw(value, DataType.FLOAT64), DataType.FLOAT64) == value


def test_strings_round_trip() -> None:
    rng = random.Random(3)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/."
    for _ in range(200):
        length = rng.randint(1, 10)
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, length * 2)))
        for byte_order in ByteOrder:
            words = encode_raw(text, DataType.STRING, byte_order=byte_order, length=length)
            assert decode_raw(words, DataType.STRING, byte_order=byte_order, length=length) == text


def test_scaled_values_round_trip() -> None:
    rng = random.Random(11)
    for _ in range(300):
        raw = rng.randint(-32768, 32767)
        words = encode_raw(raw, DataType.INT16)
        decoded = decode_value(words, DataType.INT16, scale=0.1, offset=-40.0)
        assert decoded.ok and isinstance(decoded.value, float)
        assert encode_value(decoded.value, DataType.INT16, scale=0.1, offset=-40.0) == words


# --- scaling, NaN, errors -------------------------------------------------------------------------------


def test_scale_and_offset_apply_to_reads_and_invert_for_writes() -> None:
    decoded = decode_value([250], DataType.UINT16, scale=0.1, offset=-5.0)
    assert decoded.value == pytest.approx(20.0)
    assert decoded.raw == 250
    assert encode_value(20.0, DataType.UINT16, scale=0.1, offset=-5.0) == [250]


def test_identity_scaling_keeps_integers_as_int() -> None:
    decoded = decode_value([7], DataType.UINT16)
    assert decoded.value == 7 and type(decoded.value) is int


@pytest.mark.parametrize(
    ("words", "problem"),
    [([0x7FC0, 0x0000], "nan"), ([0x7F80, 0x0000], "inf"), ([0xFF80, 0x0000], "-inf")],
)
def test_non_finite_floats_are_a_clear_result_not_a_crash(words: list[int], problem: str) -> None:
    decoded = decode_value(words, DataType.FLOAT32, scale=2.0)
    assert not decoded.ok
    assert decoded.value is None
    assert problem in (decoded.problem or "")
    assert isinstance(decoded.raw, float) and not math.isfinite(decoded.raw)


def test_scaling_overflow_is_reported() -> None:
    decoded = decode_value(encode_raw(1e308, DataType.FLOAT64), DataType.FLOAT64, scale=10.0)
    assert not decoded.ok and "overflow" in (decoded.problem or "")


def test_too_few_words_is_a_problem_not_a_crash() -> None:
    decoded = decode_value([1], DataType.FLOAT32)
    assert not decoded.ok and "needs 2 registers" in (decoded.problem or "")
    with pytest.raises(RegisterCodecError, match="needs 2 registers"):
        decode_raw([1], DataType.FLOAT32)


@pytest.mark.parametrize("word", [-1, 0x10000])
def test_words_must_be_16_bit(word: int) -> None:
    with pytest.raises(RegisterCodecError, match="16-bit"):
        decode_raw([word, 0], DataType.UINT32)


@pytest.mark.parametrize(
    ("value", "data_type"),
    [(70000, DataType.UINT16), (-1, DataType.UINT32), (2**63, DataType.INT64), (1.5, DataType.INT16)],
)
def test_encoding_out_of_range_values_raises(value: float, data_type: DataType) -> None:
    with pytest.raises(RegisterCodecError):
        encode_raw(value, data_type)


def test_float32_overflow_raises_and_nan_encodes() -> None:
    with pytest.raises(RegisterCodecError, match="out of range"):
        encode_raw(1e39, DataType.FLOAT32)
    assert math.isnan(struct.unpack(">f", struct.pack(">HH", *encode_raw(math.nan, DataType.FLOAT32)))[0])


def test_writing_a_scaled_integer_rounds() -> None:
    assert encode_value(21.04, DataType.INT16, scale=0.1) == [210]
    assert encode_value(-0.06, DataType.INT16, scale=0.1) == [0xFFFF]
    with pytest.raises(RegisterCodecError, match="non-finite"):
        encode_value(math.inf, DataType.INT16, scale=0.1)


def test_writing_a_string_to_a_numeric_type_raises() -> None:
    with pytest.raises(RegisterCodecError, match="needs a number"):
        encode_value("12", DataType.UINT16)


# --- register map ---------------------------------------------------------------------------------------


def point(name: str, address: int, data_type: str = "uint16", **extra: object) -> RegisterPoint:
    return RegisterPoint.model_validate({"name": name, "address": address, "type": data_type, **extra})


def test_point_accepts_yaml_style_type_key_and_defaults() -> None:
    p = point("temp", 100, "float32", word_order="little", unit="degC")
    assert p.data_type is DataType.FLOAT32 and p.table is Table.HOLDING and p.unit_id == 1
    assert p.size == 2 and p.end == 102


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "bit"}, "needs 'bit'"),
        ({"type": "uint16", "bit": 3}, "only applies to type bit"),
        ({"type": "string"}, "'length' is required"),
        ({"type": "uint16", "length": 2}, "'length' is required"),
        ({"type": "uint16", "table": "coil"}, "single bits"),
        ({"type": "bit", "bit": 1, "table": "discrete"}, "single bits"),
        ({"type": "uint16", "scale": 0}, "scale must not be zero"),
        ({"type": "string", "length": 2, "scale": 2}, "only apply to numeric"),
        ({"type": "float64", "address": 65533}, "runs past"),
        ({"type": "uint16", "address": 70000}, "less than or equal"),
        ({"type": "uint16", "colour": "red"}, "Extra inputs"),
    ],
)
def test_invalid_points_are_rejected(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RegisterPoint.model_validate({"name": "p", "address": 0, **fields})


def test_register_map_rejects_duplicate_names() -> None:
    with pytest.raises(ValidationError, match="duplicate point name"):
        RegisterMap(points=[point("a", 0), point("a", 1)])


# --- planner --------------------------------------------------------------------------------------------


def spans(requests: list) -> list[tuple[int, int]]:  # type: ignore[type-arg]
    return [(r.address, r.count) for r in requests]


def test_contiguous_points_merge_into_one_read() -> None:
    requests = plan_reads([point("a", 10), point("b", 11, "float32"), point("c", 13, "string", length=4)])
    assert spans(requests) == [(10, 7)]
    assert [p.name for p in requests[0].points] == ["a", "b", "c"]
    assert requests[0].function_code == 3


def test_points_are_planned_in_address_order_regardless_of_input_order() -> None:
    requests = plan_reads([point("c", 12), point("a", 10), point("b", 11)])
    assert spans(requests) == [(10, 3)]


def test_gaps_are_bridged_only_up_to_max_gap() -> None:
    points = [point("a", 0), point("b", 5)]  # 4 unmapped registers between them
    assert spans(plan_reads(points)) == [(0, 1), (5, 1)]
    assert spans(plan_reads(points, max_gap=3)) == [(0, 1), (5, 1)]
    assert spans(plan_reads(points, max_gap=4)) == [(0, 6)]


def test_reads_never_exceed_125_registers() -> None:
    points = [point(f"p{i}", i) for i in range(300)]
    requests = plan_reads(points)
    assert spans(requests) == [(0, 125), (125, 125), (250, 50)]
    assert all(r.count <= MAX_READ_REGISTERS for r in requests)


def test_a_multi_register_point_is_never_split_across_reads() -> None:
    points = [point(f"p{i}", i) for i in range(124)] + [point("wide", 124, "float64")]
    assert spans(plan_reads(points)) == [(0, 124), (124, 4)]


def test_bridging_a_gap_respects_the_limit() -> None:
    points = [point("a", 0), point("b", 124), point("c", 125)]
    assert spans(plan_reads(points, max_gap=200)) == [(0, 125), (125, 1)]


def test_custom_max_registers_for_devices_with_small_buffers() -> None:
    points = [point(f"p{i}", i) for i in range(10)]
    assert spans(plan_reads(points, max_registers=4)) == [(0, 4), (4, 4), (8, 2)]


def test_point_wider_than_the_limit_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="spans 8 addresses"):
        plan_reads([point("name", 0, "string", length=8)], max_registers=4)


def test_coils_merge_up_to_2000_bits() -> None:
    points = [point(f"c{i}", i, "bit", table="coil") for i in range(2500)]
    requests = plan_reads(points)
    assert spans(requests) == [(0, MAX_READ_BITS), (2000, 500)]
    assert requests[0].function_code == 1


def test_reads_are_split_per_table_and_unit_id() -> None:
    points = [
        point("h", 0),
        point("i", 1, table="input"),
        point("d", 2, "bit", table="discrete"),
        point("h2", 1, unit_id=2),
        point("h1", 1),
    ]
    requests = plan_reads(points)
    keys = [(r.unit_id, r.table, r.address, r.count) for r in requests]
    assert keys == [
        (1, Table.DISCRETE, 2, 1),
        (1, Table.HOLDING, 0, 2),
        (1, Table.INPUT, 1, 1),
        (2, Table.HOLDING, 1, 1),
    ]
    assert {r.function_code for r in requests} == {2, 3, 4}


def test_overlapping_points_share_a_read() -> None:
    points = [point("as_u32", 0, "uint32"), point("hi_word", 0), point("lo_word", 1)]
    requests = plan_reads(points)
    assert spans(requests) == [(0, 2)]
    values = requests[0].decode([0x0001, 0x0002])
    assert values["as_u32"].value == 0x00010002
    assert values["hi_word"].value == 1 and values["lo_word"].value == 2


def test_planner_rejects_bad_limits() -> None:
    with pytest.raises(ValueError):
        plan_reads([], max_registers=126)
    with pytest.raises(ValueError):
        plan_reads([], max_bits=2001)
    with pytest.raises(ValueError):
        plan_reads([], max_gap=-1)
    assert plan_reads([]) == []


def test_request_decodes_its_response_into_per_point_values() -> None:
    register_map = RegisterMap(
        points=[
            point("temp", 0, "int16", scale=0.1, unit="degC"),
            point("flow", 2, "float32", word_order="little"),
            point("serial", 4, "string", length=2),
            point("door_open", 6, "bit", bit=3),
            point("pressure", 7, "float32"),
        ]
    )
    (request,) = register_map.plan(max_gap=1)
    assert (request.address, request.count) == (0, 9)
    words = [0xFF38, 0xDEAD, *encode_raw(1.5, DataType.FLOAT32, word_order=WLITTLE), 0x5341, 0x3100]
    words += [0b1000, 0x7FC0, 0x0000]
    values = request.decode(words)
    assert values["temp"].value == pytest.approx(-20.0)
    assert values["flow"].value == 1.5
    assert values["serial"].value == "SA1"
    assert values["door_open"].value is True
    assert values["pressure"].value is None and "nan" in (values["pressure"].problem or "")


def test_coil_request_decodes_bits() -> None:
    (request,) = plan_reads([point("run", 4, "bit", table="coil"), point("alarm", 5, "bit", table="coil")])
    values = request.decode([True, False])
    assert values["run"].value is True and values["alarm"].value is False


def test_short_response_is_a_clear_error() -> None:
    (request,) = plan_reads([point("a", 0, "float32")])
    with pytest.raises(ValueError, match="expected 2"):
        request.decode([1])


# --- probe ----------------------------------------------------------------------------------------------


def test_probe_lists_every_type_and_order_that_fits() -> None:
    results = probe([0x42F6, 0xE979])
    found = {(r.data_type, r.order_name): r.value for r in results}
    assert found[(DataType.FLOAT32, "ABCD")] == 123.456
    assert (DataType.FLOAT32, "CDAB") in found and (DataType.FLOAT32, "DCBA") in found
    assert found[(DataType.UINT16, "AB")] == 0x42F6
    assert found[(DataType.UINT16, "BA")] == 0xF642
    assert not any(r.data_type in (DataType.FLOAT64, DataType.INT64) for r in results)
    # 2 one-register types x 2 byte orders + 3 two-register types x 4 orders + 2 string byte orders
    assert len(results) == 2 * 2 + 3 * 4 + 2


def test_probe_with_four_words_includes_64_bit_types() -> None:
    results = probe(encode_raw(-1234.5, DataType.FLOAT64, word_order=WLITTLE))
    matches = [r for r in results if r.data_type is DataType.FLOAT64 and r.value == -1234.5]
    assert [m.order_name for m in matches] == ["CDAB"]
    assert len(results) == 2 * 2 + 3 * 4 + 3 * 4 + 2


def test_probe_shows_nan_without_crashing_and_formats_a_table() -> None:
    results = probe([0x7FC0, 0x0000])
    table = format_probe(results)
    assert "float32  ABCD  nan" in table
    assert table.splitlines()[0].split() == ["type", "order", "value"]


def test_probe_of_nothing_is_empty() -> None:
    assert probe([]) == []
