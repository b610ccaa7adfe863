"""Property-based fuzzing of the OPC UA value conversion and node configuration (protocols/opcua/nodes.py).

Contract: convert_value never raises and always gives a value a telemetry Reading accepts (a non-finite number
goes out as text with quality bad); configurations are pydantic models, so a bad one is a ValidationError.
Profiles: tests/conftest.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols.opcua.nodes import NodeSpec, OpcUaConfig, convert_value, exceeds_deadband, status_quality
from protocols.telemetry import Quality, Reading


class Colour(enum.Enum):
    RED = 1
    NAMED = "n"
    ODD = 2.5


@dataclass
class LocalizedText:
    Text: str | None
    Locale: str | None = None


@dataclass
class QualifiedName:
    Name: str
    NamespaceIndex: int = 0


class Opaque:
    def __str__(self) -> str:
        return "opaque"


text = st.text(st.characters(codec="utf-8"), max_size=1200)
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-12)), None])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**1100), 2**1100),
    st.floats(),
    text,
    st.binary(max_size=700),
    st.builds(lambda moment, zone: moment.replace(tzinfo=zone), st.datetimes(), zones),
    st.sampled_from(list(Colour)),
    st.builds(LocalizedText, st.none() | text, st.none() | st.just("zh-CN")),
    st.builds(QualifiedName, text),
    st.just(Opaque()),
)
variants = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner), max_leaves=10)
specs = st.builds(
    NodeSpec,
    node_id=st.just("ns=2;s=Analyzer1.Temp"),
    metric=st.just("temp"),
    scale=st.floats(allow_nan=False, allow_infinity=False).filter(bool) | st.just(1.0),
    offset=st.floats(allow_nan=False, allow_infinity=False) | st.just(0.0),
)


@given(raw=variants, spec=specs, status=st.integers(-(2**33), 2**33) | st.sampled_from([0, 0x40000000, 0x80000000]))
@example(raw=10**400, spec=NodeSpec(node_id="i=1", metric="m", scale=2.0), status=0)  # was OverflowError
@example(raw=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8))), spec=NodeSpec(node_id="i=1", metric="m"), status=0)
def test_any_variant_converts_to_a_value_a_reading_accepts(raw: object, spec: NodeSpec, status: int) -> None:
    converted = convert_value(raw, spec, status_code=status)
    if converted.quality is not Quality.GOOD:
        assert converted.problem
    reading = Reading(
        device_key="d",
        metric=spec.metric,
        observed_at=datetime(2024, 1, 1, tzinfo=UTC),
        value=converted.value,
        quality=converted.quality,
    )
    assert reading.quality is converted.quality
    if isinstance(converted.value, str):
        assert len(converted.value) <= 1024
    assert status_quality(status) in set(Quality)


@given(
    previous=st.none() | st.booleans() | st.integers() | st.floats() | text,
    current=st.booleans() | st.integers() | st.floats() | text,
    deadband=st.none() | st.floats(min_value=0),
)
def test_the_deadband_check_never_raises(
    previous: bool | int | float | str | None, current: bool | int | float | str, deadband: float | None
) -> None:
    assert exceeds_deadband(previous, current, deadband) in (True, False)


node_ids = st.text(max_size=30) | st.sampled_from(
    ["i=2258", "ns=2;s=A.B", "ns=99999;i=1", "nsu=urn:x;s=y", "g=1", "b=@@"]
)
node_dicts = st.fixed_dictionaries(
    {"node_id": node_ids, "metric": st.text(max_size=10) | st.just("temp")},
    optional={
        "scale": st.floats() | st.text(max_size=3),
        "offset": st.floats(),
        "deadband": st.floats() | st.none(),
        "unit": st.text(max_size=40) | st.none(),
    },
)


@given(
    nodes=st.lists(node_dicts, max_size=4),
    endpoint=st.text(max_size=30) | st.sampled_from(["opc.tcp://h:4840", "opc.tcp://h:99999", "opc.tcp://:1", "http://h"]),
    security=st.sampled_from(["none", "Basic256Sha256", "x"]),
    extra=st.dictionaries(st.sampled_from(["username", "password", "certificate", "private_key", "mode"]),
                          st.text(max_size=5), max_size=3),
)
def test_any_opcua_configuration_is_a_config_or_a_validation_error(
    nodes: list[dict[str, object]], endpoint: str, security: str, extra: dict[str, str]
) -> None:
    try:
        config = OpcUaConfig.model_validate({"endpoint": endpoint, "security": security, "nodes": nodes, **extra})
    except ValidationError:
        return
    assert config.by_node_id()
    for node in config.nodes:
        assert node.raw_deadband is None or node.raw_deadband >= 0
