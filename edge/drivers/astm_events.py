"""Turn one received ASTM E1394 message into clinical telemetry Events (kind astm_result, plus error codes).

One ``astm_result`` event per order (sample) in the message, carrying the sample id, patient id and every
result (test code, value, units, reference range, flags, status, completed time, comments). Instrument
error codes found in C records (``code^text``) or results that could not be done (status X) also become
``error_code`` events, so the cloud's alerting sees device trouble without reading clinical payloads.

Every field of an event comes from the message's records, and ``occurred_at`` from the results' own
completion times (then the H record's time, then the time of receipt), so a message the instrument sends
again produces events with the very same idempotency keys (protocols/telemetry.py): the cloud stores it
once even if the gateway restarted in between and appended it twice. The H record's timestamp is left out
of the payload on purpose: some analyzers restamp the header when they resend.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from protocols.astm.records import (
    CommentRecord,
    HeaderRecord,
    Message,
    OrderRecord,
    PatientRecord,
    ResultRecord,
    TerminatorRecord,
    parse_messages,
    split_lines,
)
from protocols.errors import ProtocolError
from protocols.telemetry import Event, EventKind, RetentionClass, Severity, as_utc

__all__ = ["content_digest", "message_to_events", "parse_astm_time"]

_TEXT_LIMIT = 4096  # Event.text max_length


def content_digest(text: str) -> str:
    """Hash of a message's records after the header: equal for a resend even if the H timestamp changed."""
    lines = split_lines(text)
    body = lines[1:] if lines and lines[0].startswith("H") else lines
    return hashlib.sha256("\r".join(body).encode("utf-8", "surrogateescape")).hexdigest()


def parse_astm_time(value: str, tz: tzinfo) -> datetime | None:
    """Parse an ASTM ``YYYYMMDD[HHMM[SS]]`` timestamp in the instrument's time zone to its UTC instant.

    None if it is not one, or names no UTC instant (00010101 east of UTC: a clock that was never set).
    """
    digits = value.strip()
    formats = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 8: "%Y%m%d"}
    fmt = formats.get(len(digits))
    if fmt is None or not digits.isdigit():
        return None
    try:
        return as_utc(datetime.strptime(digits, fmt).replace(tzinfo=tz))
    except ValueError:
        return None


@dataclass
class _Group:
    patient: PatientRecord | None
    order: OrderRecord | None
    results: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, str | None]] = field(default_factory=list)
    errors: list[dict[str, str | None]] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)


def message_to_events(
    text: str,
    *,
    device_key: str,
    complete: bool,
    received_at: datetime,
    tz: tzinfo | None = None,
) -> list[Event]:
    """Return the clinical events for one message's text (never empty: unparseable text is kept raw)."""
    zone = tz or received_at.astimezone().tzinfo or UTC
    try:
        messages = parse_messages(text)
    except (ProtocolError, ValueError, IndexError) as exc:
        return [_raw_event(text, device_key, complete, received_at, f"unparseable message: {exc}")]
    if not messages:
        return [_raw_event(text, device_key, complete, received_at, "empty message")]
    events: list[Event] = []
    for message in messages:
        events += _message_events(message, text, device_key, complete, received_at, zone)
    return events


def _message_events(
    message: Message, text: str, device_key: str, complete: bool, received_at: datetime, zone: tzinfo
) -> list[Event]:
    header = message.records[0] if isinstance(message.records[0], HeaderRecord) else None
    header_time = parse_astm_time(header.timestamp, zone) if header is not None else None
    groups = _groups(message, zone)
    terminator = message.terminator
    common: dict[str, Any] = {
        "complete": complete and terminator is not None,
        "instrument": [c for c in header.sender if c] if header is not None else [],
        "termination_code": terminator.termination_code if isinstance(terminator, TerminatorRecord) else None,
    }
    if not groups:
        # No orders or results (a query, a status-only message): keep the records rather than drop them.
        occurred = header_time or received_at
        bare = {**common, "records": [r.type for r in message.records], "raw": text}
        return [
            _event(device_key, occurred, EventKind.ASTM_RESULT, Severity.INFO, None, "message without results", bare)
        ]
    events: list[Event] = []
    for group in groups:
        sample_id = group.order.sample_id if group.order is not None else ""
        patient_id = group.patient.patient_id if group.patient is not None else ""
        occurred = max(group.times) if group.times else header_time or received_at
        payload: dict[str, Any] = {
            **common,
            "sample_id": sample_id or None,
            "patient_id": patient_id or None,
            "tests": list(group.order.test_codes) if group.order is not None else [],
            "report_type": group.order.report_type if group.order is not None else "",
            "results": group.results,
            "comments": group.comments,
            "errors": group.errors,
        }
        if not payload["complete"]:
            payload["raw"] = text  # a cut-short message: keep exactly what arrived
        severity = Severity.WARNING if group.errors or not payload["complete"] else Severity.INFO
        summary = "; ".join(
            f"{r['test']}={r['value']}{' ' + r['units'] if r['units'] else ''}{' ' + r['flags'] if r['flags'] else ''}"
            for r in group.results
        )
        label = f"sample {sample_id or '?'}: {summary}" if summary else f"sample {sample_id or '?'}: no results"
        if not payload["complete"]:
            label = "INCOMPLETE " + label
        events.append(_event(device_key, occurred, EventKind.ASTM_RESULT, severity, None, label, payload))
        context = _control_event(group, sample_id, device_key, occurred)
        if context is not None:
            events.append(context)
        for error in group.errors:
            events.append(
                _event(
                    device_key,
                    occurred,
                    EventKind.ERROR_CODE,
                    Severity.ERROR,
                    error["code"],
                    error["text"] or "",
                    {"sample_id": sample_id or None, "test": error["test"], "source": "astm"},
                )
            )
    return events


# Flags an analyzer puts on a result outside its range (E1394 R.7): a control run with one of them failed.
OUT_OF_RANGE_FLAGS = frozenset({"L", "H", "LL", "HH", "<", ">", "A", "AA"})
# Specimen ids analyzers give their control and calibrator runs when the order does not say (O.12 = Q says QC).
QC_PREFIXES = ("QC",)
CALIBRATION_PREFIXES = ("CAL",)


def _control_event(group: _Group, sample_id: str, device_key: str, occurred: datetime) -> Event | None:
    """A QC or calibration event for an order that was one, with whether it passed; None for a patient sample.

    The cloud reads these as instrument context (cloud/alerts/instrument.py): a passed calibration re-baselines
    the device's streams, a failed QC or calibration is a signal in its own right.
    """
    order = group.order
    sample = sample_id.strip().upper()
    if order is not None and order.action_code.strip().upper() == "Q" or sample.startswith(QC_PREFIXES):
        kind, name = EventKind.QC, "QC"
    elif sample.startswith(CALIBRATION_PREFIXES):
        kind, name = EventKind.CALIBRATION, "CAL"
    else:
        return None
    failed = sorted({r["test"] for r in group.results
                     if r["status"] == "X" or {f.strip().upper() for f in (r["flags"] or "").split("\\")}
                     & OUT_OF_RANGE_FLAGS} | {e["test"] for e in group.errors if e["test"]})
    passed = bool(group.results) and not failed
    tests = [r["test"] for r in group.results]
    text = (f"{name} {'passed' if passed else 'failed'}: " + ", ".join(failed or tests))[:_TEXT_LIMIT]
    return _event(device_key, occurred, kind, Severity.INFO if passed else Severity.WARNING,
                  f"{name}_{'PASS' if passed else 'FAIL'}", text,
                  {"sample_id": sample_id or None, "passed": passed, "tests": tests, "failed_tests": failed,
                   "source": "astm"})


def _groups(message: Message, zone: tzinfo) -> list[_Group]:
    groups: list[_Group] = []
    patient: PatientRecord | None = None
    last_result: dict[str, Any] | None = None
    for record in message.records:
        if isinstance(record, PatientRecord):
            patient, last_result = record, None
        elif isinstance(record, OrderRecord):
            groups.append(_Group(patient, record))
            last_result = None
        elif isinstance(record, ResultRecord):
            if not groups:
                groups.append(_Group(patient, None))
            last_result = _result(record, zone, groups[-1])
            groups[-1].results.append(last_result)
        elif isinstance(record, CommentRecord):
            comment = _comment(record)
            if last_result is not None:
                last_result["comments"].append(comment)
                if comment["code"] is not None and (record.source == "I" or last_result["status"] == "X"):
                    groups[-1].errors.append({"test": last_result["test"], **comment})
            elif groups:
                groups[-1].comments.append(comment)
    for group in groups:
        # A result that could not be done with no coded comment is still an instrument error.
        for result in group.results:
            if result["status"] == "X" and not any(e["test"] == result["test"] for e in group.errors):
                group.errors.append({"test": result["test"], "code": None, "text": "result cannot be done"})
    return groups


def _result(record: ResultRecord, zone: tzinfo, group: _Group) -> dict[str, Any]:
    completed_raw = record.completed_at
    numeric = record.numeric_value
    completed = parse_astm_time(completed_raw, zone)
    if completed is not None:
        group.times.append(completed)
    return {
        "test": record.test_code,
        "value": record.value,
        "numeric": numeric if numeric is not None and math.isfinite(numeric) else None,  # JSON has no NaN
        "units": record.units,
        "reference_range": record.reference_range,
        "flags": record.abnormal_flags,
        "status": record.status,
        "completed_at": completed.isoformat() if completed is not None else completed_raw or None,
        "instrument": record.instrument or None,
        "comments": [],
    }


def _comment(record: CommentRecord) -> dict[str, str | None]:
    parts = [c for c in record.components(4) if c]
    # Analyzers put an error/status code first (``E123^Short sample``); a lone free-text part has no code.
    if len(parts) >= 2 and len(parts[0]) <= 16 and " " not in parts[0]:
        return {"code": parts[0], "text": " ".join(parts[1:])}
    return {"code": None, "text": " ".join(parts)}


def _raw_event(text: str, device_key: str, complete: bool, received_at: datetime, reason: str) -> Event:
    payload = {"complete": complete, "parse_error": reason, "raw": text}
    return _event(device_key, received_at, EventKind.ASTM_RESULT, Severity.WARNING, "PARSE_ERROR", reason, payload)


def _event(
    device_key: str,
    occurred_at: datetime,
    kind: EventKind,
    severity: Severity,
    code: str | None,
    text: str,
    payload: dict[str, Any],
) -> Event:
    return Event(
        device_key=device_key,
        occurred_at=occurred_at,
        kind=kind,
        severity=severity,
        code=code,
        text=text[:_TEXT_LIMIT],
        payload=payload,
        retention=RetentionClass.CLINICAL,
    )
