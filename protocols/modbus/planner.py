"""A device's register map and the read planner: merge points into few Modbus requests, decode replies.

Fewer, larger requests matter on RS-485: every request costs a turnaround (often 20-100 ms) on a bus
that several analyzers share. The planner groups points per (unit id, table), merges those whose
addresses are contiguous or separated by at most `max_gap` unmapped addresses, and never exceeds the
protocol's limits (125 registers or 2000 bits per read).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocols.modbus.registers import (
    NUMERIC_TYPES,
    ByteOrder,
    DataType,
    DecodedValue,
    WordOrder,
    decode_value,
    register_count,
)

MAX_READ_REGISTERS: Final = 125  # Modbus application protocol: FC3/FC4 quantity 1..125
MAX_READ_BITS: Final = 2000  # FC1/FC2 quantity 1..2000
MAX_ADDRESS: Final = 0xFFFF


class Table(StrEnum):
    """The four Modbus data tables."""

    HOLDING = "holding"  # FC3, 16-bit read/write
    INPUT = "input"  # FC4, 16-bit read-only
    COIL = "coil"  # FC1, 1-bit read/write
    DISCRETE = "discrete"  # FC2, 1-bit read-only

    @property
    def is_bit_table(self) -> bool:
        """True for coils and discrete inputs, whose addresses are single bits."""
        return self in (Table.COIL, Table.DISCRETE)

    @property
    def read_function_code(self) -> int:
        """The Modbus function code that reads this table."""
        return _READ_FUNCTION_CODE[self]


_READ_FUNCTION_CODE: Final[dict[Table, int]] = {
    Table.COIL: 1,
    Table.DISCRETE: 2,
    Table.HOLDING: 3,
    Table.INPUT: 4,
}


class RegisterPoint(BaseModel):
    """One mapped value: where it lives, how to decode it, and what metric it becomes."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=128, description="metric name the value is reported as")
    table: Table = Table.HOLDING
    address: int = Field(ge=0, le=MAX_ADDRESS, description="zero-based protocol address")
    unit_id: int = Field(default=1, ge=0, le=255)
    data_type: DataType = Field(default=DataType.UINT16, alias="type")
    byte_order: ByteOrder = ByteOrder.BIG
    word_order: WordOrder = WordOrder.BIG
    length: int | None = Field(default=None, ge=1, description="registers, for strings")
    bit: int | None = Field(default=None, ge=0, le=15, description="bit of the register, for type bit")
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RegisterPoint:
        if self.table.is_bit_table:
            if self.data_type is not DataType.BIT or self.bit is not None:
                raise ValueError(f"{self.name}: {self.table} points are single bits: type bit, no 'bit'")
        elif self.data_type is DataType.BIT and self.bit is None:
            raise ValueError(f"{self.name}: type bit on a register table needs 'bit' (0..15)")
        if self.data_type is not DataType.BIT and self.bit is not None:
            raise ValueError(f"{self.name}: 'bit' only applies to type bit")
        if (self.data_type is DataType.STRING) != (self.length is not None):
            raise ValueError(f"{self.name}: 'length' is required for strings and only for strings")
        if self.scale == 0:
            raise ValueError(f"{self.name}: scale must not be zero")
        if (self.scale != 1.0 or self.offset != 0.0) and self.data_type not in NUMERIC_TYPES:
            raise ValueError(f"{self.name}: scale/offset only apply to numeric types")
        if self.address + self.size - 1 > MAX_ADDRESS:
            raise ValueError(f"{self.name}: runs past address {MAX_ADDRESS}")
        return self

    @property
    def size(self) -> int:
        """Addresses this point occupies: registers for register tables, 1 for a coil/discrete bit."""
        return 1 if self.table.is_bit_table else register_count(self.data_type, self.length)

    @property
    def end(self) -> int:
        """One past the last address the point occupies."""
        return self.address + self.size

    def decode(self, words: Sequence[int]) -> DecodedValue:
        """Decode this point from words that start at its own address (bits as 0/1 for bit tables)."""
        if self.table.is_bit_table:
            if not words:
                return DecodedValue(value=None, raw=None, problem="no bit in the response")
            return DecodedValue(value=bool(words[0]), raw=bool(words[0]))
        return decode_value(
            words[: self.size],
            self.data_type,
            byte_order=self.byte_order,
            word_order=self.word_order,
            length=self.length,
            bit=self.bit,
            scale=self.scale,
            offset=self.offset,
        )


class RegisterMap(BaseModel):
    """All points of one device; names are unique because each becomes a metric."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    points: list[RegisterPoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> RegisterMap:
        seen: set[str] = set()
        for point in self.points:
            if point.name in seen:
                raise ValueError(f"duplicate point name {point.name!r}")
            seen.add(point.name)
        return self

    def plan(
        self,
        *,
        max_gap: int = 0,
        max_registers: int = MAX_READ_REGISTERS,
        max_bits: int = MAX_READ_BITS,
    ) -> list[ReadRequest]:
        """Plan the reads for every point of the map; see plan_reads."""
        return plan_reads(self.points, max_gap=max_gap, max_registers=max_registers, max_bits=max_bits)


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One Modbus read: unit, table, start address, quantity, and the points it serves."""

    unit_id: int
    table: Table
    address: int
    count: int
    points: tuple[RegisterPoint, ...]

    @property
    def function_code(self) -> int:
        """Modbus function code of the read (1, 2, 3 or 4)."""
        return self.table.read_function_code

    def decode(self, response: Sequence[int | bool]) -> dict[str, DecodedValue]:
        """Decode a response (register words, or bits for coils/discretes) into per-point values."""
        if len(response) < self.count:
            raise ValueError(
                f"response for {self.table} {self.address}+{self.count} has {len(response)} items, "
                f"expected {self.count}"
            )
        words = [int(item) for item in response[: self.count]]
        return {point.name: point.decode(words[point.address - self.address :]) for point in self.points}


def plan_reads(
    points: Iterable[RegisterPoint],
    *,
    max_gap: int = 0,
    max_registers: int = MAX_READ_REGISTERS,
    max_bits: int = MAX_READ_BITS,
) -> list[ReadRequest]:
    """Merge points into as few reads as the limits allow, per (unit id, table), in address order."""
    # max_gap defaults to 0 (contiguous only) because bridging unmapped addresses makes some devices
    # answer "illegal data address" for the whole read; raise it per device once the map is known good.
    if max_gap < 0:
        raise ValueError("max_gap must be >= 0")
    if not 1 <= max_registers <= MAX_READ_REGISTERS:
        raise ValueError(f"max_registers must be 1..{MAX_READ_REGISTERS}")
    if not 1 <= max_bits <= MAX_READ_BITS:
        raise ValueError(f"max_bits must be 1..{MAX_READ_BITS}")
    groups: dict[tuple[int, Table], list[RegisterPoint]] = {}
    for point in points:
        groups.setdefault((point.unit_id, point.table), []).append(point)
    requests: list[ReadRequest] = []
    for (unit_id, table), members in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1].value)):
        limit = max_bits if table.is_bit_table else max_registers
        requests.extend(_plan_group(unit_id, table, members, max_gap=max_gap, limit=limit))
    return requests


def _plan_group(
    unit_id: int, table: Table, members: list[RegisterPoint], *, max_gap: int, limit: int
) -> list[ReadRequest]:
    requests: list[ReadRequest] = []
    current: list[RegisterPoint] = []
    start = end = 0
    for point in sorted(members, key=lambda p: (p.address, p.end, p.name)):
        if point.size > limit:
            raise ValueError(f"{point.name} spans {point.size} addresses, more than one read ({limit})")
        # Points may overlap (the same registers read as two types): overlap counts as contiguous.
        fits = bool(current) and point.address - end <= max_gap and max(end, point.end) - start <= limit
        if fits:
            current.append(point)
            end = max(end, point.end)
            continue
        if current:
            requests.append(ReadRequest(unit_id, table, start, end - start, tuple(current)))
        current, start, end = [point], point.address, point.end
    if current:
        requests.append(ReadRequest(unit_id, table, start, end - start, tuple(current)))
    return requests
