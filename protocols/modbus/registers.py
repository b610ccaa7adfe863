"""Modbus register words <-> typed values: integer widths, floats, strings, bits, byte/word order, scaling.

Pure: a sequence of 16-bit register words in, a value out, and back. No pymodbus needed.

Byte/word order naming, for a 32-bit value whose big-endian bytes are A B C D:

    byte order  word order  registers     common name
    big         big         [AB, CD]      ABCD (Modbus spec, "big endian")
    big         little      [CD, AB]      CDAB ("word swap", many PLCs and meters)
    little      big         [BA, DC]      BADC ("byte swap")
    little      little      [DC, BA]      DCBA ("little endian")

Byte order says how the two bytes inside each register are arranged; word order says whether the
most significant register comes first. The same rule extends to 64-bit values (4 registers).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

RegisterValue = int | float | str | bool


class DataType(StrEnum):
    """How a run of registers (or one bit of one) is interpreted."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"
    BIT = "bit"


class ByteOrder(StrEnum):
    """Order of the two bytes inside one register."""

    BIG = "big"
    LITTLE = "little"


class WordOrder(StrEnum):
    """Order of registers in a multi-register value: big = most significant register first."""

    BIG = "big"
    LITTLE = "little"


# struct format of each fixed-width numeric type, over its big-endian byte string.
_STRUCT_FORMAT: Final[dict[DataType, str]] = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.INT64: ">q",
    DataType.UINT64: ">Q",
    DataType.FLOAT32: ">f",
    DataType.FLOAT64: ">d",
}
_INTEGER_TYPES: Final = frozenset(
    {DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.INT64, DataType.UINT64}
)
_FLOAT_TYPES: Final = frozenset({DataType.FLOAT32, DataType.FLOAT64})
NUMERIC_TYPES: Final = _INTEGER_TYPES | _FLOAT_TYPES
MAX_STRING_REGISTERS: Final = 125  # the most one read request can return


class RegisterCodecError(ValueError):
    """Words or a value do not fit the requested type (wrong count, out of range, bad bit index)."""


def register_count(data_type: DataType, length: int | None = None) -> int:
    """Number of 16-bit registers a value of this type occupies (length = registers, strings only)."""
    if data_type is DataType.STRING:
        if length is None or not 1 <= length <= MAX_STRING_REGISTERS:
            raise RegisterCodecError(f"string needs a length of 1..{MAX_STRING_REGISTERS} registers")
        return length
    if data_type is DataType.BIT:
        return 1
    return struct.calcsize(_STRUCT_FORMAT[data_type]) // 2


def is_integer_type(data_type: DataType) -> bool:
    """True for the signed/unsigned integer types."""
    return data_type in _INTEGER_TYPES


def is_float_type(data_type: DataType) -> bool:
    """True for float32 and float64."""
    return data_type in _FLOAT_TYPES


def words_to_bytes(
    words: Sequence[int], *, byte_order: ByteOrder = ByteOrder.BIG, word_order: WordOrder = WordOrder.BIG
) -> bytes:
    """Reorder register words into the value's big-endian byte string."""
    _check_words(words)
    ordered = list(reversed(words)) if word_order is WordOrder.LITTLE else list(words)
    endian: Literal["big", "little"] = "big" if byte_order is ByteOrder.BIG else "little"
    return b"".join(word.to_bytes(2, endian) for word in ordered)


def bytes_to_words(
    data: bytes, *, byte_order: ByteOrder = ByteOrder.BIG, word_order: WordOrder = WordOrder.BIG
) -> list[int]:
    """Split a big-endian byte string into register words in the device's byte and word order."""
    if len(data) % 2:
        raise RegisterCodecError(f"need an even number of bytes, got {len(data)}")
    endian: Literal["big", "little"] = "big" if byte_order is ByteOrder.BIG else "little"
    words = [int.from_bytes(data[i : i + 2], endian) for i in range(0, len(data), 2)]
    return list(reversed(words)) if word_order is WordOrder.LITTLE else words


def decode_raw(
    words: Sequence[int],
    data_type: DataType,
    *,
    byte_order: ByteOrder = ByteOrder.BIG,
    word_order: WordOrder = WordOrder.BIG,
    length: int | None = None,
    bit: int | None = None,
) -> RegisterValue:
    """Decode the first registers of `words` as the type, unscaled (floats may come back NaN/inf)."""
    if data_type is DataType.BIT:
        _check_words(words[:1])
        if not words:
            raise RegisterCodecError("bit needs 1 register, got 0")
        return bool((words[0] >> _check_bit(bit)) & 1)
    count = register_count(data_type, length)
    if len(words) < count:
        raise RegisterCodecError(f"{data_type} needs {count} registers, got {len(words)}")
    if data_type is DataType.STRING:
        # Word order does not apply to text: characters run in register order; only the byte
        # order inside each register varies between devices.
        data = words_to_bytes(words[:count], byte_order=byte_order)
        return data.rstrip(b"\x00 ").decode("ascii", errors="replace")
    data = words_to_bytes(words[:count], byte_order=byte_order, word_order=word_order)
    value: int | float = struct.unpack(_STRUCT_FORMAT[data_type], data)[0]
    if data_type is DataType.FLOAT32 and isinstance(value, float):
        return _shortest_float32(value)
    return value


def encode_raw(
    value: RegisterValue,
    data_type: DataType,
    *,
    byte_order: ByteOrder = ByteOrder.BIG,
    word_order: WordOrder = WordOrder.BIG,
    length: int | None = None,
    bit: int | None = None,
    current_word: int = 0,
) -> list[int]:
    """Encode an unscaled value into register words (bit writes merge into current_word)."""
    if data_type is DataType.BIT:
        mask = 1 << _check_bit(bit)
        _check_words([current_word])
        return [(current_word | mask) if value else (current_word & ~mask)]
    count = register_count(data_type, length)
    if data_type is DataType.STRING:
        if not isinstance(value, str):
            raise RegisterCodecError(f"string needs a str value, got {type(value).__name__}")
        try:
            data = value.encode("ascii")
        except UnicodeEncodeError as exc:
            raise RegisterCodecError(f"string value must be ASCII: {value!r}") from exc
        if len(data) > count * 2:
            raise RegisterCodecError(f"string of {len(data)} bytes does not fit in {count} registers")
        return bytes_to_words(data.ljust(count * 2, b"\x00"), byte_order=byte_order)
    if isinstance(value, str):
        raise RegisterCodecError(f"{data_type} needs a number, got str {value!r}")
    if data_type in _INTEGER_TYPES:
        if isinstance(value, float):
            if not value.is_integer():
                raise RegisterCodecError(f"{data_type} needs a whole number, got {value!r}")
            value = int(value)
        try:
            data = struct.pack(_STRUCT_FORMAT[data_type], value)
        except struct.error as exc:
            raise RegisterCodecError(f"{value!r} is out of range for {data_type}") from exc
    else:
        try:
            data = struct.pack(_STRUCT_FORMAT[data_type], float(value))
        except OverflowError as exc:
            raise RegisterCodecError(f"{value!r} is out of range for {data_type}") from exc
    return bytes_to_words(data, byte_order=byte_order, word_order=word_order)


def apply_scale(raw: int | float, *, scale: float = 1.0, offset: float = 0.0) -> int | float:
    """Engineering value = raw * scale + offset; integers stay integers when scaling is the identity."""
    if scale == 1.0 and offset == 0.0:
        return raw
    return raw * scale + offset


def remove_scale(value: int | float, data_type: DataType, *, scale: float = 1.0, offset: float = 0.0) -> int | float:
    """Invert apply_scale for a write: raw = (value - offset) / scale, rounded for integer types."""
    if scale == 0:
        raise RegisterCodecError("scale must not be zero")
    try:
        raw = (value - offset) / scale if (scale != 1.0 or offset != 0.0) else value
    except OverflowError as exc:  # an integer beyond any float meets a float scale/offset
        raise RegisterCodecError(
            f"{value!r} is out of range for {data_type} with scale {scale}, offset {offset}"
        ) from exc
    if data_type in _INTEGER_TYPES:
        if isinstance(raw, float) and not math.isfinite(raw):
            raise RegisterCodecError(f"cannot write non-finite {raw!r} to {data_type}")
        return round(raw)
    return raw


@dataclass(frozen=True, slots=True)
class DecodedValue:
    """A decoded, scaled value, or why there is none (a NaN/inf float or a codec failure)."""

    value: RegisterValue | None
    raw: RegisterValue | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when value holds a usable number, string or bool."""
        return self.problem is None


def decode_value(
    words: Sequence[int],
    data_type: DataType,
    *,
    byte_order: ByteOrder = ByteOrder.BIG,
    word_order: WordOrder = WordOrder.BIG,
    length: int | None = None,
    bit: int | None = None,
    scale: float = 1.0,
    offset: float = 0.0,
) -> DecodedValue:
    """Decode and scale; NaN/inf floats and bad input come back as a DecodedValue with a problem."""
    try:
        raw = decode_raw(words, data_type, byte_order=byte_order, word_order=word_order, length=length, bit=bit)
    except RegisterCodecError as exc:
        return DecodedValue(value=None, raw=None, problem=str(exc))
    if isinstance(raw, float) and not math.isfinite(raw):
        # Devices use NaN as "no value" (sensor absent, warming up); the caller decides how to report it.
        return DecodedValue(value=None, raw=raw, problem=f"non-finite {data_type}: {raw!r}")
    if isinstance(raw, bool | str):
        return DecodedValue(value=raw, raw=raw)
    scaled = apply_scale(raw, scale=scale, offset=offset)
    if isinstance(scaled, float) and not math.isfinite(scaled):
        return DecodedValue(value=None, raw=raw, problem=f"scaled value overflows: {scaled!r}")
    return DecodedValue(value=scaled, raw=raw)


def encode_value(
    value: RegisterValue,
    data_type: DataType,
    *,
    byte_order: ByteOrder = ByteOrder.BIG,
    word_order: WordOrder = WordOrder.BIG,
    length: int | None = None,
    bit: int | None = None,
    scale: float = 1.0,
    offset: float = 0.0,
    current_word: int = 0,
) -> list[int]:
    """Inverse of decode_value for writes: remove scaling, then encode to register words."""
    raw: RegisterValue = value
    if data_type in NUMERIC_TYPES:
        if isinstance(value, str | bool):
            raise RegisterCodecError(f"{data_type} needs a number, got {type(value).__name__}")
        raw = remove_scale(value, data_type, scale=scale, offset=offset)
    return encode_raw(
        raw,
        data_type,
        byte_order=byte_order,
        word_order=word_order,
        length=length,
        bit=bit,
        current_word=current_word,
    )


# --- probe --------------------------------------------------------------------------------------------

_ORDER_NAMES: Final[dict[tuple[ByteOrder, WordOrder], str]] = {
    (ByteOrder.BIG, WordOrder.BIG): "ABCD",
    (ByteOrder.BIG, WordOrder.LITTLE): "CDAB",
    (ByteOrder.LITTLE, WordOrder.BIG): "BADC",
    (ByteOrder.LITTLE, WordOrder.LITTLE): "DCBA",
}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One interpretation of probed registers: type, orders, and the value it gives."""

    data_type: DataType
    byte_order: ByteOrder
    word_order: WordOrder
    registers: int
    value: RegisterValue

    @property
    def order_name(self) -> str:
        """Conventional letter name of the order (ABCD, CDAB, BADC, DCBA; AB/BA for one register)."""
        name = _ORDER_NAMES[(self.byte_order, self.word_order)]
        return name[:2] if self.registers == 1 or self.data_type is DataType.STRING else name

    @property
    def text(self) -> str:
        """The value formatted for a terminal table (floats with repr precision, NaN/inf spelled out)."""
        if isinstance(self.value, str):
            return repr(self.value)
        return repr(self.value) if isinstance(self.value, float) else str(self.value)


def probe(words: Sequence[int]) -> list[ProbeResult]:
    """Interpret the words from the first one under every type x byte order x word order that fits."""
    _check_words(words)
    results: list[ProbeResult] = []
    for data_type in _STRUCT_FORMAT:
        count = register_count(data_type)
        if count > len(words):
            continue
        # Word order is meaningless for a single register: list it once, as big.
        word_orders = [WordOrder.BIG] if count == 1 else list(WordOrder)
        for word_order in word_orders:
            for byte_order in ByteOrder:
                value = decode_raw(words, data_type, byte_order=byte_order, word_order=word_order)
                results.append(ProbeResult(data_type, byte_order, word_order, count, value))
    if words:
        for byte_order in ByteOrder:
            text = decode_raw(words, DataType.STRING, byte_order=byte_order, length=len(words))
            results.append(ProbeResult(DataType.STRING, byte_order, WordOrder.BIG, len(words), text))
    return results


def format_probe(results: Sequence[ProbeResult]) -> str:
    """Render probe results as an aligned text table, one interpretation per line."""
    lines = [f"{'type':<8} {'order':<5} value"]
    lines += [f"{r.data_type.value:<8} {r.order_name:<5} {r.text}" for r in results]
    return "\n".join(lines)


def _shortest_float32(value: float) -> float:
    # A float32 widened to a Python float prints as 123.45600128173828; the device meant 123.456.
    # Return the shortest decimal that maps back to the same float32, as numpy and most HMIs show it.
    if not math.isfinite(value):
        return value
    packed = struct.pack(">f", value)
    for digits in range(6, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack(">f", candidate) == packed:
            return candidate
    return value


def _check_words(words: Sequence[int]) -> None:
    for word in words:
        if not 0 <= word <= 0xFFFF:
            raise RegisterCodecError(f"register words are 16-bit unsigned, got {word!r}")


def _check_bit(bit: int | None) -> int:
    if bit is None or not 0 <= bit <= 15:
        raise RegisterCodecError(f"bit index must be 0..15, got {bit!r}")
    return bit
