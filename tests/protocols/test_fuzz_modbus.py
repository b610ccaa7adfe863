"""Property-based fuzzing of the Modbus register codec and the read planner (protocols/modbus).

The codec's contract: decode_value never raises (a problem comes back in DecodedValue.problem); decode_raw,
encode_raw, encode_value and probe raise only RegisterCodecError; register maps are pydantic models, so a bad
configuration is a ValidationError. Profiles: tests/conftest.py.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols.modbus.planner import MAX_READ_BITS, MAX_READ_REGISTERS, RegisterMap, RegisterPoint, Table, plan_reads
from protocols.modbus.registers import (
    ByteOrder,
    DataType,
    RegisterCodecError,
    WordOrder,
    apply_scale,
    decode_raw,
    decode_value,
    encode_raw,
    encode_value,
    format_probe,
    probe,
    register_count,
)
from tests.protocols.test_modbus_registers import INT_RANGES

any_words = st.lists(st.integers(-(2**20), 2**20) | st.integers(0, 0xFFFF), max_size=8)
data_types = st.sampled_from(list(DataType))
byte_orders = st.sampled_from(list(ByteOrder))
word_orders = st.sampled_from(list(WordOrder))
odd_floats = st.floats() | st.sampled_from([0.0, -0.0, 1e-320, 1e308, -1e308, float("nan"), float("inf")])
# Keyword arguments of the codec functions: how the words are laid out, and the scaling of a value.
layouts = st.fixed_dictionaries(
    {
        "byte_order": byte_orders,
        "word_order": word_orders,
        "length": st.none() | st.integers(-2, 130),
        "bit": st.none() | st.integers(-2, 18),
    }
)
scalings = st.fixed_dictionaries({"scale": odd_floats, "offset": odd_floats})
any_values = st.one_of(
    st.integers(),
    st.integers(-(2**1100), 2**1100),
    odd_floats,
    st.booleans(),
    st.text(max_size=20),
)
BIG: dict[str, Any] = {"byte_order": ByteOrder.BIG, "word_order": WordOrder.BIG, "length": None, "bit": None}


@given(words=any_words, data_type=data_types, layout=layouts, scaling=scalings)
def test_decode_value_never_raises_and_never_hands_out_a_non_finite_number(
    words: list[int], data_type: DataType, layout: dict[str, Any], scaling: dict[str, float]
) -> None:
    decoded = decode_value(words, data_type, **layout, **scaling)
    if decoded.ok:
        assert decoded.value is not None
        assert not (isinstance(decoded.value, float) and not math.isfinite(decoded.value))
    else:
        assert decoded.value is None and decoded.problem


@given(words=any_words, data_type=data_types, layout=layouts)
def test_decode_raw_raises_only_register_codec_errors(
    words: list[int], data_type: DataType, layout: dict[str, Any]
) -> None:
    try:
        decode_raw(words, data_type, **layout)
    except RegisterCodecError as exc:
        assert str(exc)


@given(value=any_values, data_type=data_types, layout=layouts, scaling=scalings, current_word=st.integers(-5, 0x1_0005))
@example(value=10**400, data_type=DataType.INT32, layout=BIG, scaling={"scale": 2.0, "offset": 0.0},
         current_word=0)  # was OverflowError: int too large for float
@example(value=10**400, data_type=DataType.FLOAT32, layout=BIG, scaling={"scale": 1.0, "offset": 0.5}, current_word=0)
def test_encode_value_gives_register_words_or_a_register_codec_error(
    value: int | float | bool | str,
    data_type: DataType,
    layout: dict[str, Any],
    scaling: dict[str, float],
    current_word: int,
) -> None:
    try:
        out = encode_value(value, data_type, **layout, **scaling, current_word=current_word)
    except RegisterCodecError as exc:
        assert str(exc)
        return
    assert len(out) == register_count(data_type, layout["length"])
    assert all(0 <= word <= 0xFFFF for word in out)


def test_a_huge_integer_to_write_through_a_scale_is_a_register_codec_error() -> None:
    # Fuzzing found remove_scale raising OverflowError ("int too large to convert to float").
    with pytest.raises(RegisterCodecError, match="out of range"):
        encode_value(10**400, DataType.INT32, scale=2.0)


@given(words=any_words)
def test_probe_lists_interpretations_or_raises_a_register_codec_error(words: list[int]) -> None:
    try:
        results = probe(words)
    except RegisterCodecError:
        assert any(not 0 <= w <= 0xFFFF for w in words)
        return
    table = format_probe(results)
    assert len(table.splitlines()) == len(results) + 1


# --- round trips ------------------------------------------------------------------------------------------


@st.composite
def integer_values(draw: st.DrawFn) -> tuple[DataType, int]:
    data_type = draw(st.sampled_from(sorted(INT_RANGES)))
    low, high = INT_RANGES[data_type]
    return data_type, draw(st.integers(low, high))


@given(typed=integer_values(), byte_order=byte_orders, word_order=word_orders)
def test_integers_survive_encode_then_decode(
    typed: tuple[DataType, int], byte_order: ByteOrder, word_order: WordOrder
) -> None:
    data_type, value = typed
    out = encode_raw(value, data_type, byte_order=byte_order, word_order=word_order)
    assert decode_raw(out, data_type, byte_order=byte_order, word_order=word_order) == value


@given(value=st.floats(width=32), byte_order=byte_orders, word_order=word_orders)
def test_float32_values_survive_encode_then_decode(value: float, byte_order: ByteOrder, word_order: WordOrder) -> None:
    out = encode_raw(value, DataType.FLOAT32, byte_order=byte_order, word_order=word_order)
    back = decode_raw(out, DataType.FLOAT32, byte_order=byte_order, word_order=word_order)
    assert isinstance(back, float)
    if math.isnan(value):
        assert math.isnan(back)
    else:
        assert struct.pack(">f", back) == struct.pack(">f", value)


@given(value=st.floats(), byte_order=byte_orders, word_order=word_orders)
def test_float64_values_survive_encode_then_decode(value: float, byte_order: ByteOrder, word_order: WordOrder) -> None:
    out = encode_raw(value, DataType.FLOAT64, byte_order=byte_order, word_order=word_order)
    back = decode_raw(out, DataType.FLOAT64, byte_order=byte_order, word_order=word_order)
    assert back == value or (math.isnan(value) and isinstance(back, float) and math.isnan(back))


@given(
    data_type=st.sampled_from([*INT_RANGES, DataType.FLOAT64]),
    words=st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4),
    byte_order=byte_orders,
    word_order=word_orders,
)
def test_register_words_survive_decode_then_encode(
    data_type: DataType, words: list[int], byte_order: ByteOrder, word_order: WordOrder
) -> None:
    count = register_count(data_type)
    raw = decode_raw(words, data_type, byte_order=byte_order, word_order=word_order)
    assume(not (isinstance(raw, float) and math.isnan(raw)))  # NaN payload bits are not guaranteed to survive
    assert encode_raw(raw, data_type, byte_order=byte_order, word_order=word_order) == words[:count]


@given(text=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20), extra=st.integers(0, 3),
       byte_order=byte_orders)
def test_ascii_strings_survive_encode_then_decode(text: str, extra: int, byte_order: ByteOrder) -> None:
    length = max(1, (len(text) + 1) // 2 + extra)
    out = encode_raw(text, DataType.STRING, length=length, byte_order=byte_order)
    assert decode_raw(out, DataType.STRING, length=length, byte_order=byte_order) == text


@given(current=st.integers(0, 0xFFFF), bit=st.integers(0, 15), value=st.booleans())
def test_a_bit_survives_encode_then_decode_and_leaves_the_other_bits(current: int, bit: int, value: bool) -> None:
    (word,) = encode_raw(value, DataType.BIT, bit=bit, current_word=current)
    assert decode_raw([word], DataType.BIT, bit=bit) is value
    assert word & ~(1 << bit) == current & ~(1 << bit)


@given(
    typed=integer_values(),
    scale=st.sampled_from([0.001, 0.01, 0.1, 0.5, 2.0, 10.0, -1.0]),
    offset=st.sampled_from([0.0, -40.0, 273.15, 1000.0]),
)
def test_scaled_integers_survive_a_write_of_their_engineering_value(
    typed: tuple[DataType, int], scale: float, offset: float
) -> None:
    data_type, raw = typed
    assume(abs(raw) < 2**40)  # beyond 2**53 / 1000 a float engineering value cannot name every raw count
    value = apply_scale(raw, scale=scale, offset=offset)
    out = encode_value(value, data_type, scale=scale, offset=offset)
    assert decode_raw(out, data_type) == raw


# --- register maps and the planner --------------------------------------------------------------------


point_configs = st.fixed_dictionaries(
    {"name": st.text(max_size=5) | st.sampled_from(["t", "p", "flow"]), "address": st.integers(-2, 0x1_0002)},
    optional={
        "table": st.sampled_from([t.value for t in Table]) | st.text(max_size=4),
        "type": st.sampled_from([t.value for t in DataType]),
        "byte_order": st.sampled_from(["big", "little", "middle"]),
        "word_order": st.sampled_from(["big", "little"]),
        "length": st.integers(-1, 130),
        "bit": st.integers(-1, 17),
        "unit_id": st.integers(-1, 256),
        "scale": odd_floats,
        "offset": odd_floats,
        "extra": st.none(),
    },
)


@given(configs=st.lists(point_configs, max_size=8), max_gap=st.integers(0, 20),
       max_registers=st.integers(1, MAX_READ_REGISTERS), max_bits=st.integers(1, MAX_READ_BITS), data=st.data())
def test_any_register_map_plans_reads_within_the_limits_and_decodes_any_reply(
    configs: list[dict[str, object]], max_gap: int, max_registers: int, max_bits: int, data: st.DataObject
) -> None:
    points: list[RegisterPoint] = []
    for config in configs:
        try:
            points.append(RegisterPoint.model_validate(config))
        except ValidationError:
            continue
    try:
        RegisterMap(points=points)
    except ValidationError:
        pass  # duplicate names: a configuration error, said by pydantic
    try:
        requests = plan_reads(points, max_gap=max_gap, max_registers=max_registers, max_bits=max_bits)
    except ValueError as exc:
        assert "more than one read" in str(exc)  # a string longer than max_registers
        return
    served = [point for request in requests for point in request.points]
    assert sorted(map(id, served)) == sorted(map(id, points))
    for request in requests:
        limit = max_bits if request.table.is_bit_table else max_registers
        assert 1 <= request.count <= limit
        reply = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=request.count, max_size=request.count))
        decoded = request.decode(reply)
        assert set(decoded) == {point.name for point in request.points}
