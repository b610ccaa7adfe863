"""ASTM messages -> clinical telemetry events: values, error codes, incomplete and unparseable text, stable keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from edge.drivers.astm_events import content_digest, message_to_events, parse_astm_time
from protocols.astm.framing import Frame, FrameParser
from protocols.astm.records import parse_message
from protocols.simulators.astm import SimResult, error_result, result_message
from protocols.telemetry import EventKind, RetentionClass, Severity

CAPTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "astm"
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))
PANEL = [
    SimResult("GLU", "7.8", "mmol/L", "3.9 to 6.1", "H"),
    SimResult("ALT", "35", "U/L", "7 to 40", "N", comment="R01^Rerun advised"),
    error_result("CREA", "E042", "Short sample"),
]


def test_one_result_event_per_sample_with_values_flags_and_times() -> None:
    text = result_message("S-1", PANEL, patient_id="PID-9", timestamp="20250301153000")
    events = message_to_events(text, device_key="chem-1", complete=True, received_at=NOW, tz=CST)
    result, flag, error = events  # instrument-coded C records are reported as codes too
    assert (flag.kind, flag.code, flag.payload["test"]) == (EventKind.ERROR_CODE, "R01", "ALT")
    assert result.kind is EventKind.ASTM_RESULT and result.retention is RetentionClass.CLINICAL
    assert result.occurred_at == datetime(2025, 3, 1, 7, 30, tzinfo=UTC)  # 15:30 in the instrument's +08:00
    payload = result.payload
    assert (payload["sample_id"], payload["patient_id"], payload["complete"]) == ("S-1", "PID-9", True)
    glu, alt, crea = payload["results"]  # type: ignore[misc]
    assert glu == {
        "test": "GLU",
        "value": "7.8",
        "numeric": 7.8,
        "units": "mmol/L",
        "reference_range": "3.9 to 6.1",
        "flags": "H",
        "status": "F",
        "completed_at": "2025-03-01T07:30:00+00:00",
        "instrument": "MEDFIX-SIM",
        "comments": [],
    }
    assert alt["comments"] == [{"code": "R01", "text": "Rerun advised"}]  # type: ignore[index]
    assert crea["status"] == "X" and crea["numeric"] is None  # type: ignore[index]
    assert payload["errors"] == [
        {"test": "ALT", "code": "R01", "text": "Rerun advised"},
        {"test": "CREA", "code": "E042", "text": "Short sample"},
    ]
    assert result.severity is Severity.WARNING and "GLU=7.8 mmol/L H" in result.text
    assert (error.kind, error.code, error.text, error.severity) == (
        EventKind.ERROR_CODE,
        "E042",
        "Short sample",
        Severity.ERROR,
    )
    assert error.retention is RetentionClass.CLINICAL and error.payload["sample_id"] == "S-1"


def test_a_resent_message_has_the_same_keys_even_when_received_later_with_a_new_header_time() -> None:
    first = result_message("S-2", PANEL[:2], timestamp="20250301153000")
    again = first.replace("20250301153000", "20250301153015", 1)  # only the H record is restamped
    assert content_digest(first) == content_digest(again) != content_digest(result_message("S-3", PANEL[:2]))
    keys = [e.idempotency_key for e in message_to_events(first, device_key="d", complete=True, received_at=NOW)]
    later = NOW + timedelta(minutes=5)
    assert keys == [
        e.idempotency_key for e in message_to_events(again, device_key="d", complete=True, received_at=later)
    ]


def test_an_incomplete_message_is_kept_flagged_with_its_raw_text() -> None:
    text = result_message("S-4", PANEL[:1]).split("L|1|N")[0]
    (event,) = message_to_events(text, device_key="d", complete=False, received_at=NOW)
    assert event.payload["complete"] is False and event.payload["raw"] == text
    assert event.text.startswith("INCOMPLETE") and event.severity is Severity.WARNING


def test_unparseable_text_is_stored_raw_not_dropped() -> None:
    (event,) = message_to_events("R|1|^^^GLU|5.0\r", device_key="d", complete=True, received_at=NOW)
    assert event.code == "PARSE_ERROR" and event.payload["raw"] == "R|1|^^^GLU|5.0\r"
    assert event.occurred_at == NOW and event.retention is RetentionClass.CLINICAL


def test_a_message_without_results_keeps_its_records() -> None:
    (event,) = message_to_events(
        "H|\\^&|||SIM|||||||P|1|20250301120000\rL|1|N\r", device_key="d", complete=True, received_at=NOW, tz=UTC
    )
    assert event.payload["records"] == ["H", "L"] and event.occurred_at == datetime(2025, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20250301153000", datetime(2025, 3, 1, 15, 30, tzinfo=UTC)),
        ("202503011530", datetime(2025, 3, 1, 15, 30, tzinfo=UTC)),
        ("20250301", datetime(2025, 3, 1, tzinfo=UTC)),
        ("", None),
        ("2025-03-01", None),
        ("20251301", None),
    ],
)
def test_astm_timestamps(raw: str, expected: datetime | None) -> None:
    assert parse_astm_time(raw, UTC) == expected


@pytest.mark.parametrize(
    "name", ["c111.bin", "cobas_c311.bin", "dca_vantage.bin", "genexpert.bin", "pentra.bin", "sysmex_xn550.bin"]
)
def test_every_capture_becomes_result_events(name: str) -> None:
    raw = (CAPTURES / name).read_bytes()
    text = b"".join(t.text for t in FrameParser().feed(raw) if isinstance(t, Frame)).decode("latin-1")
    message = parse_message(text)
    events = message_to_events(text, device_key="d", complete=True, received_at=NOW, tz=UTC)
    results = [e for e in events if e.kind is EventKind.ASTM_RESULT]
    assert len(results) == len(message.orders)
    got = [(r["test"], r["value"]) for e in results for r in e.payload["results"]]  # type: ignore[union-attr,index]
    assert got == [(r.test_code, r.value) for r in message.results]
    assert all(e.payload["complete"] is True for e in results)
    assert results[0].payload["sample_id"] == message.orders[0].sample_id


def test_control_runs_become_qc_and_calibration_events_with_whether_they_passed() -> None:
    """The cloud reads these as instrument context (cloud/alerts/instrument.py, cloud/alerts/signals.py)."""
    in_range = [SimResult("ALT", "35", "U/L", "30 to 40", "N"), SimResult("AST", "31", "U/L", "25 to 35", "N")]
    one_high = [SimResult("ALT", "52", "U/L", "30 to 40", "H"), SimResult("AST", "31", "U/L", "25 to 35", "N")]

    def context(text: str) -> list[tuple[EventKind, str | None, object, object]]:
        events = message_to_events(text, device_key="chem-1", complete=True, received_at=NOW, tz=CST)
        return [(e.kind, e.code, e.payload.get("passed"), e.payload.get("failed_tests")) for e in events
                if e.kind in (EventKind.QC, EventKind.CALIBRATION)]

    # O.12 = Q marks a control specimen whatever its id
    assert context(result_message("L1-0302", one_high, action_code="Q")) == [
        (EventKind.QC, "QC_FAIL", False, ["ALT"])]
    assert context(result_message("QC-L2", in_range)) == [(EventKind.QC, "QC_PASS", True, [])]
    assert context(result_message("CAL-ALT", in_range)) == [(EventKind.CALIBRATION, "CAL_PASS", True, [])]
    assert context(result_message("CAL-CREA", [error_result("CREA", "E042", "Short sample")])) == [
        (EventKind.CALIBRATION, "CAL_FAIL", False, ["CREA"])]
    assert context(result_message("S-1", one_high)) == []  # a patient sample out of range is no control run
