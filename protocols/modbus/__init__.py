"""Modbus: register words <-> typed values, register maps and the read planner (pure, no pymodbus)."""

from __future__ import annotations

from protocols.modbus.planner import (
    MAX_READ_BITS,
    MAX_READ_REGISTERS,
    ReadRequest,
    RegisterMap,
    RegisterPoint,
    Table,
    plan_reads,
)
from protocols.modbus.registers import (
    ByteOrder,
    DataType,
    DecodedValue,
    ProbeResult,
    RegisterCodecError,
    WordOrder,
    decode_raw,
    decode_value,
    encode_raw,
    encode_value,
    format_probe,
    probe,
    register_count,
)

__all__ = [
    "MAX_READ_BITS",
    "MAX_READ_REGISTERS",
    "ByteOrder",
    "DataType",
    "DecodedValue",
    "ProbeResult",
    "ReadRequest",
    "RegisterCodecError",
    "RegisterMap",
    "RegisterPoint",
    "Table",
    "WordOrder",
    "decode_raw",
    "decode_value",
    "encode_raw",
    "encode_value",
    "format_probe",
    "plan_reads",
    "probe",
    "register_count",
]
