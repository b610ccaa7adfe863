"""OPC UA node specs, device config validation and value conversion (pure, no server)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from protocols.opcua import (
    AcquisitionMode,
    NodeSpec,
    OpcUaConfig,
    SecurityMode,
    convert_value,
    exceeds_deadband,
    is_valid_node_id,
    status_quality,
)
from protocols.telemetry import Quality

TEMP = NodeSpec(node_id="ns=2;s=Analyzer1.ReactionTemp", metric="reaction_temp", unit="°C")
GOOD, UNCERTAIN_LAST_USABLE, BAD_SENSOR_FAILURE = 0x00000000, 0x40900000, 0x808B0000


def config(**overrides: object) -> OpcUaConfig:
    fields: dict[str, object] = {"endpoint": "opc.tcp://127.0.0.1:4840/sim", "nodes": [TEMP]}
    return OpcUaConfig.model_validate({**fields, **overrides})


@pytest.mark.parametrize(
    "node_id",
    [
        "ns=2;s=Analyzer1.ReactionTemp",
        "i=2258",
        "ns=0;i=85",
        "ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a",
        "ns=1;b=AQI=",
    ],
)
def test_standard_node_ids_are_accepted(node_id: str) -> None:
    assert is_valid_node_id(node_id)
    assert NodeSpec(node_id=node_id, metric="m").node_id == node_id


@pytest.mark.parametrize("node_id", ["", "Analyzer1.Temp", "ns=x;s=a", "ns=2;q=1", "ns=2;i=abc", "ns=2;s="])
def test_malformed_node_ids_are_refused(node_id: str) -> None:
    with pytest.raises(ValidationError, match="node id"):
        NodeSpec(node_id=node_id, metric="m")


def test_node_spec_refuses_bad_metric_scale_and_deadband() -> None:
    for bad in ({"metric": "has space"}, {"scale": 0}, {"deadband": -1}, {"extra": 1}):
        with pytest.raises(ValidationError):
            NodeSpec.model_validate({"node_id": "i=1", "metric": "m", **bad})


def test_raw_deadband_follows_the_scale() -> None:
    spec = NodeSpec(node_id="i=1", metric="m", scale=0.1, deadband=0.5)
    assert spec.raw_deadband == pytest.approx(5.0)
    assert NodeSpec(node_id="i=1", metric="m").raw_deadband is None


def test_config_defaults_subscribe_without_security() -> None:
    cfg = config()
    assert cfg.mode is AcquisitionMode.SUBSCRIBE
    assert cfg.security is SecurityMode.NONE
    assert cfg.by_node_id() == {TEMP.node_id: TEMP}


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"endpoint": "http://host:4840"}, "opc.tcp"),
        ({"endpoint": "opc.tcp://:4840"}, "opc.tcp"),
        ({"endpoint": "opc.tcp://host:99999"}, "port"),
        ({"nodes": []}, "at least 1"),
        ({"security": "Basic256Sha256"}, "certificate"),
        ({"security": "Basic256Sha256", "certificate": "c.pem"}, "certificate"),
        ({"security": "Basic128"}, "security"),
        ({"username": "lab"}, "username and password"),
        ({"nodes": [TEMP, TEMP.model_copy(update={"metric": "other"})]}, "duplicate node_id"),
        ({"nodes": [TEMP, TEMP.model_copy(update={"node_id": "i=5"})]}, "duplicate metric"),
        ({"error_code_metrics": ["nope"]}, "error_code_metrics"),
        ({"poll_interval_s": 0}, "greater than 0"),
        ({"mode": "push"}, "mode"),
    ],
)
def test_config_validation_names_the_problem(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        config(**overrides)


def test_secure_config_with_certificate_and_key_is_valid() -> None:
    cfg = config(security="Basic256Sha256", certificate="client.pem", private_key="client-key.pem")
    assert cfg.security is SecurityMode.BASIC256SHA256


@pytest.mark.parametrize(
    ("code", "quality"),
    [(GOOD, Quality.GOOD), (0x00A20000, Quality.GOOD), (UNCERTAIN_LAST_USABLE, Quality.UNCERTAIN),
     (BAD_SENSOR_FAILURE, Quality.BAD), (0xC0000000, Quality.BAD)],
)  # fmt: skip
def test_status_code_severity_sets_the_quality(code: int, quality: Quality) -> None:
    assert status_quality(code) is quality


def test_numbers_pass_through_and_are_scaled() -> None:
    assert convert_value(37.25, TEMP).value == 37.25
    assert convert_value(7, TEMP).value == 7
    assert type(convert_value(7, TEMP).value) is int
    scaled = NodeSpec(node_id="i=1", metric="m", scale=0.1, offset=-40.0)
    assert convert_value(700, scaled).value == pytest.approx(30.0)


def test_bool_stays_bool_and_is_never_scaled() -> None:
    scaled = NodeSpec(node_id="i=1", metric="m", scale=2.0)
    converted = convert_value(True, scaled)
    assert converted.value is True
    assert converted.quality is Quality.GOOD


def test_strings_datetimes_and_bytes_become_text() -> None:
    assert convert_value("Running", TEMP).value == "Running"
    moment = datetime(2025, 3, 1, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    assert convert_value(moment, TEMP).value == "2025-03-01T00:30:00+00:00"
    assert convert_value(datetime(2025, 3, 1, 0, 30), TEMP).value == "2025-03-01T00:30:00+00:00"  # naive = UTC
    assert convert_value(b"\x01\xff", TEMP).value == "01ff"
    assert len(str(convert_value("x" * 5000, TEMP).value)) == 1024


def test_localized_text_qualified_name_enum_and_arrays() -> None:
    @dataclass
    class LocalizedText:
        Locale: str | None
        Text: str | None

    @dataclass
    class QualifiedName:
        NamespaceIndex: int
        Name: str

    class Mode(enum.IntEnum):
        RUN = 3

    assert convert_value(LocalizedText("zh-CN", "运行中"), TEMP).value == "运行中"
    assert convert_value(LocalizedText(None, None), TEMP).value == ""
    assert convert_value(QualifiedName(2, "Lamp"), TEMP).value == "Lamp"
    assert convert_value(Mode.RUN, TEMP).value == 3
    assert convert_value([1, 2.5, "a"], TEMP).value == '[1, 2.5, "a"]'


def test_unknown_types_are_sent_as_text_with_uncertain_quality() -> None:
    converted = convert_value(complex(1, 2), TEMP)
    assert converted.value == "(1+2j)"
    assert converted.quality is Quality.UNCERTAIN
    assert converted.problem is not None and "complex" in converted.problem


def test_bad_status_code_makes_the_reading_bad_and_names_the_status() -> None:
    converted = convert_value(37.0, TEMP, status_code=BAD_SENSOR_FAILURE, status_name="BadSensorFailure")
    assert converted.value == 37.0
    assert converted.quality is Quality.BAD
    assert converted.problem == "status BadSensorFailure (0x808B0000)"
    assert convert_value(37.0, TEMP, status_code=UNCERTAIN_LAST_USABLE).quality is Quality.UNCERTAIN


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_go_out_as_bad_text(raw: float) -> None:
    converted = convert_value(raw, TEMP)
    assert converted.quality is Quality.BAD
    assert converted.value == repr(raw)


def test_missing_value_is_bad() -> None:
    converted = convert_value(None, TEMP, status_code=0x80340000, status_name="BadNodeIdUnknown")
    assert converted.quality is Quality.BAD
    assert converted.problem is not None and "BadNodeIdUnknown" in converted.problem


def test_deadband_is_absolute_and_strict() -> None:
    assert exceeds_deadband(None, 37.0, 0.5)
    assert not exceeds_deadband(37.0, 37.5, 0.5)
    assert exceeds_deadband(37.0, 37.51, 0.5)
    assert exceeds_deadband(37.0, 36.4, 0.5)
    assert exceeds_deadband(1, 2, None)
    assert not exceeds_deadband(1, 1, None)
    assert exceeds_deadband(1, 1.0, None)  # int -> float is a type change worth reporting
    assert exceeds_deadband("Running", "Error", 10.0)
    assert exceeds_deadband(True, False, 10.0)  # bools are states, never inside a deadband
    assert not exceeds_deadband(datetime.now(UTC).isoformat()[:4], datetime.now(UTC).isoformat()[:4], None)
