"""Stored reports: a ticket's service report and a hospital's monthly report, rendered, kept and delivered.

Files live under <data_dir>/reports/ (tickets/<number>.pdf, monthly/<hospital id>/<YYYY-MM>.pdf), written to a
temporary name and moved into place, so a reader never sees half a file; the rows (service_report,
monthly_report) hold their path, size and SHA-256. Callers commit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cloud.auth.models import Role, User, Verification
from cloud.auth.people import lab_managers
from cloud.db import utcnow
from cloud.errors import Invalid, NotFound
from cloud.localtime import zone
from cloud.notify.channels import Channel
from cloud.notify.messages import REPORT_TEXTS, render
from cloud.notify.service import notify
from cloud.registry.models import Hospital
from cloud.reports import monthly, service_report
from cloud.reports.models import MonthlyReport, ServiceReport
from cloud.reports.stats import Month, last_month, monthly_stats
from cloud.tickets.models import Ticket
from cloud.tickets.state import REPORTABLE

log = logging.getLogger("medfix.reports")

MONTHLY_KIND = "report.monthly"
# Last month's report goes out on the 1st; a service that was down then catches up within this many days
# (after that the report is still there on the page and through the CLI, but nobody is messaged out of the blue).
DELIVERY_WINDOW_DAYS = 7


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive UTC, PostgreSQL aware values.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def write_file(data_dir: Path, relative: str, content: bytes) -> tuple[int, str]:
    """Put content at data_dir/relative atomically; (size, sha256)."""
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
    partial.write_bytes(content)
    os.replace(partial, target)
    return len(content), hashlib.sha256(content).hexdigest()


# ------------------------------------------------------------------------------------------- service reports


def store_service_report(session: Session, ticket: Ticket, *, data_dir: Path,
                         now: datetime | None = None) -> ServiceReport:
    """Render the ticket's report now and keep it (replacing an earlier one)."""
    now = now or utcnow()
    content = service_report.render(service_report.collect(session, ticket, data_dir=data_dir, now=now))
    relative = f"reports/tickets/{ticket.number}.pdf"
    size, digest = write_file(data_dir, relative, content)
    row = session.execute(select(ServiceReport).where(ServiceReport.ticket_id == ticket.id)).scalar()
    if row is None:
        row = ServiceReport(ticket_id=ticket.id, path=relative, size=size, sha256=digest, created_at=now,
                            updated_at=now)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return row
        except IntegrityError:  # another process stored it at the same moment: ours is as new, keep it
            row = session.execute(select(ServiceReport).where(ServiceReport.ticket_id == ticket.id)).scalar_one()
    row.path, row.size, row.sha256, row.updated_at = relative, size, digest, now
    return row


def current_service_report(session: Session, ticket: Ticket, *, data_dir: Path) -> Path:
    """The ticket's report file, rendered now if it is missing or older than the ticket's last change.

    Normally the report was rendered in the background when the ticket was resolved, rated or closed; this
    covers a request that comes first (the link in the message is opened at once) and tickets resolved
    before reports existed.
    """
    if ticket.status not in REPORTABLE:
        raise NotFound("the service report is ready once the ticket is resolved")
    row = session.execute(select(ServiceReport).where(ServiceReport.ticket_id == ticket.id)).scalar()
    path = (data_dir / row.path) if row is not None else None
    if row is None or path is None or not path.is_file() or _aware(row.updated_at) < _aware(ticket.updated_at):
        row = store_service_report(session, ticket, data_dir=data_dir)
        path = data_dir / row.path
    return path


# ------------------------------------------------------------------------------------------ monthly reports


def find_hospital(session: Session, ref: str) -> Hospital:
    """A hospital by id or exact name (an alias works too); NotFound otherwise."""
    text = (ref or "").strip()
    found = session.get(Hospital, int(text)) if text.isdigit() else None
    if found is None and text:
        found = session.execute(select(Hospital).where(Hospital.name == text)).scalar()
    if found is None and text:
        found = next((h for h in session.execute(select(Hospital)).scalars() if text in (h.aliases or [])), None)
    if found is None:
        raise NotFound(f"no hospital {ref!r}")
    return found


class MonthNotBegun(Invalid):
    """A monthly report was asked for a month still ahead."""


@dataclass(frozen=True)
class MonthlyFile:
    """A monthly report: its bytes, and its row when it is stored (a month that is over)."""

    content: bytes
    stored: MonthlyReport | None
    month: Month


def month_for(hospital: Hospital, text: str, *, now: datetime | None = None) -> Month:
    """The month a person asked for, checked: YYYY-MM, not in the future."""
    month = monthly.parse_month(text, hospital.time_zone)
    if month.start > (now or utcnow()):
        raise MonthNotBegun("that month has not begun yet", [{"field": "month", "message": f"{month.key} is ahead"}])
    return month


def monthly_report(session: Session, hospital: Hospital, month: Month, *, data_dir: Path,
                   now: datetime | None = None, refresh: bool = False) -> MonthlyFile:
    """The hospital's report for month: stored once the month is over (rendered at most once unless refresh),
    rendered fresh and not kept for the month still running."""
    now = now or utcnow()
    row = session.execute(select(MonthlyReport).where(MonthlyReport.hospital_id == hospital.id,
                                                      MonthlyReport.month == month.key)).scalar()
    if row is not None and not refresh and (data_dir / row.path).is_file():
        return MonthlyFile((data_dir / row.path).read_bytes(), row, month)
    content = monthly.render(monthly.collect(session, hospital, month, now=now))
    if month.end > now:
        return MonthlyFile(content, None, month)
    relative = f"reports/monthly/{hospital.id}/{month.key}.pdf"
    size, digest = write_file(data_dir, relative, content)
    if row is None:
        row = MonthlyReport(hospital_id=hospital.id, month=month.key, path=relative, size=size, sha256=digest,
                            created_at=now)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return MonthlyFile(content, row, month)
        except IntegrityError:  # another process rendered the same month meanwhile: use that one
            row = session.execute(select(MonthlyReport).where(MonthlyReport.hospital_id == hospital.id,
                                                              MonthlyReport.month == month.key)).scalar_one()
            return MonthlyFile((data_dir / row.path).read_bytes(), row, month)
    row.path, row.size, row.sha256 = relative, size, digest
    return MonthlyFile(content, row, month)


def monthly_report_url(hospital_id: int, month: Month | str) -> str:
    """Where a hospital's monthly report is served."""
    key = month.key if isinstance(month, Month) else month
    return f"/reports/monthly/{hospital_id}/{key}.pdf"


def can_see_monthly(user: User, hospital_id: int) -> bool:
    """Staff of the desk and admins see every hospital's report, an engineer those of the hospitals they
    serve, a lab manager their own hospital's."""
    if user.role in (Role.admin, Role.agent, Role.service_center):
        return True
    if user.role == Role.engineer:
        return not user.service_hospital_ids or hospital_id in user.service_hospital_ids
    return (user.role == Role.lab_user and user.is_lab_manager and user.hospital_id == hospital_id
            and user.verification == Verification.verified)


def deliver_monthly(session: Session, hospital: Hospital, month: Month, *, data_dir: Path,
                    channels: Sequence[Channel], now: datetime | None = None) -> int:
    """Store the month's report and tell each of the hospital's managers (in-app, and WeChat where bound).

    Each manager is told once per hospital and month, however often this runs; the report is marked delivered
    once someone was told. Returns how many managers were told now.
    """
    now = now or utcnow()
    report = monthly_report(session, hospital, month, data_dir=data_dir, now=now)
    assert report.stored is not None, "only a finished month is delivered"
    counts = monthly_stats(session, hospital=hospital, month=month, now=now)
    label = monthly.month_label(month, "zh-CN")
    text = render(REPORT_TEXTS[MONTHLY_KIND], hospital=hospital.name, month=label, tickets=counts.summary.tickets,
                  repaired=counts.summary.repaired)
    told = 0
    managers = lab_managers(session, hospital.id)
    for manager in managers:
        if notify(session, user_id=manager.id, event_key=f"{MONTHLY_KIND}:{hospital.id}:{month.key}",
                  kind=MONTHLY_KIND, text=text, link=monthly_report_url(hospital.id, month), channels=channels,
                  subject=f"{hospital.name} {label}"):
            told += 1
    if managers and report.stored.delivered_at is None:
        report.stored.delivered_at = now
    return told


def deliver_due(sessions: sessionmaker[Session], *, data_dir: Path, channels: Sequence[Channel],
                now: datetime | None = None) -> list[tuple[int, str]]:
    """The schedule's work: in each hospital where a new month began (its own time zone) within the last
    DELIVERY_WINDOW_DAYS days, deliver last month's report unless that was done. One transaction per hospital,
    so one hospital's failure does not hold up the others. Returns the (hospital id, month) delivered now."""
    now = now or utcnow()
    done: list[tuple[int, str]] = []
    with sessions() as session:
        hospital_ids = list(session.execute(select(Hospital.id).order_by(Hospital.id)).scalars())
    for hospital_id in hospital_ids:
        with sessions() as session:
            hospital = session.get(Hospital, hospital_id)
            if hospital is None:
                continue
            if now.astimezone(zone(hospital.time_zone)).day > DELIVERY_WINDOW_DAYS:
                continue
            month = last_month(hospital, now)
            if _aware(hospital.created_at) >= month.end:
                continue  # the hospital joined after that month: nothing to report
            row = session.execute(select(MonthlyReport).where(MonthlyReport.hospital_id == hospital.id,
                                                              MonthlyReport.month == month.key)).scalar()
            if row is not None and row.delivered_at is not None:
                continue
            try:
                if deliver_monthly(session, hospital, month, data_dir=data_dir, channels=channels, now=now):
                    done.append((hospital.id, month.key))
                session.commit()
            except Exception:  # one hospital's trouble is logged and retried at the next run
                session.rollback()
                log.exception("monthly report of hospital %s for %s failed", hospital.id, month.key)
    return done
