"""Thin asyncio drivers around protocols/: Modbus (pymodbus), ASTM serial, OPC UA."""

from __future__ import annotations

from datetime import datetime

from protocols.telemetry import Event, EventKind, Severity


def error_code_change(device_key: str, metric: str, code: int, previous: int, when: datetime) -> Event | None:
    """The event for an error-code register/variable that changed; None when it did not.

    The clearing (back to 0) is reported too, so the cloud can close what the code opened.
    """
    if code == previous:
        return None
    if code == 0:
        text, severity = f"{metric} cleared (was {previous})", Severity.INFO
    else:
        text, severity = f"{metric} = {code}", Severity.ERROR
    return Event(device_key=device_key, occurred_at=when, kind=EventKind.ERROR_CODE, severity=severity,
                 code=str(code), text=text, payload={"metric": metric, "previous": previous})
