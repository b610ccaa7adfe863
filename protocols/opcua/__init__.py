"""OPC UA: node id <-> metric mapping, device configuration and value conversion (pure, no asyncua)."""

from __future__ import annotations

from protocols.opcua.nodes import (
    AcquisitionMode,
    Converted,
    NodeSpec,
    OpcUaConfig,
    SecurityMode,
    TelemetryValue,
    convert_value,
    exceeds_deadband,
    is_valid_node_id,
    status_quality,
)

__all__ = [
    "AcquisitionMode",
    "Converted",
    "NodeSpec",
    "OpcUaConfig",
    "SecurityMode",
    "TelemetryValue",
    "convert_value",
    "exceeds_deadband",
    "is_valid_node_id",
    "status_quality",
]
