"""Signals of their own (issue #14 item 2): a failed QC run, a failed calibration and a burst of error codes raise
an alert on the device at once, whatever its streams say; the next passing QC (or calibration) ends it.

Fed by `telemetry.signals`, which the ingest emits with a batch's QC, calibration and error-code events (stored in
device_event in the same transaction). Durable: the outbox runs it after commit and again after a failure; every
decision is idempotent (`predictive.open_alert` finds the episode's alert by its start, a resolved one stays
resolved). Inside a maintenance window (declared, or the analyzer's own) nothing is raised: failing controls are
what calibrating and servicing look like.

Each alert carries its explanation (cloud/alerts/explain.describe) built from the events themselves: which tests
failed, which codes came how often.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import predictive, service
from cloud.alerts.instrument import instrument_spans
from cloud.config import Settings
from cloud.events import DomainEvent, EventBus
from cloud.i18n_catalogs import N_
from cloud.telemetry.models import DeviceEvent
from protocols.telemetry import EventKind

QC_METRIC = "qc"  # the pseudo-metrics the signal alerts are kept under
CALIBRATION_METRIC = "calibration"
ERRORS_METRIC = "error_codes"
SIGNAL_NAMES = (N_("metric.qc"), N_("metric.calibration"), N_("metric.error_codes"))  # their names on pages
BURST_WINDOW = timedelta(minutes=30)
BURST_COUNT = 5  # error codes within BURST_WINDOW that make a burst
FAILED_CONTROL_SCORE = 0.75  # a failed QC or calibration: major
# Scores by how many error codes came in the window: 5 a warning, 10 major, 20 critical (cloud/alerts/policy).
BURST_SCORES = ((20, 0.95), (10, 0.75), (BURST_COUNT, 0.55))


def _quiet(session: Session, device_id: int, at: datetime) -> bool:
    """Whether the device is in maintenance at `at` (declared window or the analyzer's own)."""
    declared = service.windows_covering(session, device_ids=[device_id], start=at, end=at).get(device_id, [])
    own = instrument_spans(session, device_ids=[device_id], start=at, end=at).get(device_id, [])
    return any(s <= at < e for s, e in declared + own)


def control_run(session: Session, settings: Settings, *, device_id: int, kind: str, at: datetime, passed: bool,
                failed_tests: list[str], code: str | None) -> None:
    """A QC or calibration run: a failure opens (or carries on) its alert, a pass ends it."""
    metric = QC_METRIC if kind == EventKind.QC.value else CALIBRATION_METRIC
    open_one = service.unresolved_alert(session, device_id=device_id, metric=metric)
    if passed:
        if open_one is not None and at >= open_one.last_abnormal_at:
            service.resolve_alert(session, alert=open_one, resolution=service.RECOVERED)
        return
    if _quiet(session, device_id, at):
        return
    alert = predictive.open_alert(session, device_id=device_id, metric=metric, started_at=at, at=at,
                               score=FAILED_CONTROL_SCORE, settings=settings)
    alert.explanation = {"kind": metric, "failed_tests": sorted(set(failed_tests)), "code": code,
                         "at": at.isoformat()}


def error_codes(session: Session, settings: Settings, *, device_id: int, at: datetime) -> None:
    """An error code arrived: when the device sent BURST_COUNT or more within BURST_WINDOW, alert."""
    start = at - BURST_WINDOW
    rows = session.execute(select(DeviceEvent.code, func.count()).where(
        DeviceEvent.device_id == device_id, DeviceEvent.kind == EventKind.ERROR_CODE.value,
        DeviceEvent.occurred_at > start, DeviceEvent.occurred_at <= at).group_by(DeviceEvent.code)).all()
    codes = Counter({code or "": int(n) for code, n in rows})
    total = sum(codes.values())
    existing = service.unresolved_alert(session, device_id=device_id, metric=ERRORS_METRIC)
    if total < BURST_COUNT:
        # A burst is over once a whole window passed with fewer codes than make one.
        if existing is not None and at - existing.last_abnormal_at >= BURST_WINDOW:
            service.resolve_alert(session, alert=existing, resolution=service.RECOVERED)
        return
    if _quiet(session, device_id, at):
        return
    score = next(s for n, s in BURST_SCORES if total >= n)
    first = session.execute(select(func.min(DeviceEvent.occurred_at)).where(
        DeviceEvent.device_id == device_id, DeviceEvent.kind == EventKind.ERROR_CODE.value,
        DeviceEvent.occurred_at > start, DeviceEvent.occurred_at <= at)).scalar_one()
    alert = predictive.open_alert(session, device_id=device_id, metric=ERRORS_METRIC,
                               started_at=existing.started_at if existing else first, at=at, score=score,
                               settings=settings)
    alert.explanation = {"kind": ERRORS_METRIC, "count": total, "window_s": int(BURST_WINDOW.total_seconds()),
                         "codes": [[code, n] for code, n in codes.most_common(5)], "at": at.isoformat()}


class SignalFlows:
    """Reads each ingested batch's QC, calibration and error-code events."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def install(self, bus: EventBus) -> None:
        """Subscribe to the ingest's signals (durable: an alert must not be lost with the process)."""
        bus.subscribe("telemetry.signals", self.on_signals, durable=True)

    def on_signals(self, event: DomainEvent) -> None:
        """Decide every signal of the batch, oldest first, in one transaction."""
        items = sorted(event.data["events"], key=lambda e: (e["at"], e["device_id"]))
        bursts: dict[int, datetime] = {}
        with self.sessions() as session:
            for item in items:
                at = datetime.fromisoformat(item["at"])
                if item["kind"] == EventKind.ERROR_CODE.value:
                    bursts[item["device_id"]] = at  # one count per device, at its newest error of the batch
                else:
                    control_run(session, self.settings, device_id=item["device_id"], kind=item["kind"], at=at,
                                passed=bool(item.get("passed")), failed_tests=list(item.get("failed_tests") or []),
                                code=item.get("code"))
            for device_id, at in bursts.items():
                error_codes(session, self.settings, device_id=device_id, at=at)
            session.commit()
