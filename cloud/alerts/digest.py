"""The daily alert digest (patent: 预警信息自动定时推送到客户端和工程师端): each morning, each hospital's open
alerts, the alerts of the last day, the pre-checks finished in it and the devices at risk, sent to its lab
managers and the engineers who serve it, and to owners who chose to hear of alerts only this way.

A hospital's digest of a local day covers the 24 hours before that day's digest hour (`alert_digest_hour`, in the
hospital's time zone): a snapshot, so the page of a past day shows what was sent that morning. Each person sees
the devices they may: staff and lab managers every device of the hospital, an owner their own devices. Sent once
per hospital and day (the `alert_digest` row, and `notify_many`'s one notification per person and event), by a
periodic job of every API process; a hospital with nothing to tell gets no message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from cloud.alerts.models import Alert, AlertDigest
from cloud.auth.models import AlertNotice, Role, User, Verification
from cloud.auth.people import engineers_serving, lab_managers
from cloud.db import utcnow
from cloud.localtime import zone
from cloud.notify.channels import Channel
from cloud.notify.messages import DIGEST_TEXT, render
from cloud.notify.service import Recipient, notify_many
from cloud.registry.models import Device, DeviceClaim, Hospital
from cloud.tickets.models import PrecheckTask, Ticket
from cloud.tickets.policy import PRIORITY_RISK

log = logging.getLogger("medfix.alerts.digest")

DIGEST_KIND = "alert.digest"
RISK_LISTED = PRIORITY_RISK  # a device this likely to fail within 30 days is "at risk" (as for ticket priority)


@dataclass(frozen=True)
class Window:
    """The 24 hours a hospital's digest of one local day covers."""

    day: date
    start: datetime
    end: datetime


@dataclass
class Digest:
    """What one person is told about one hospital for one day."""

    hospital: Hospital
    window: Window
    open_alerts: list[Alert] = field(default_factory=list)  # unresolved at the window's end, newest first
    new_alerts: list[Alert] = field(default_factory=list)  # opened within the window, newest first
    prechecks: list[PrecheckTask] = field(default_factory=list)  # finished within the window
    at_risk: list[Device] = field(default_factory=list)  # most at risk first
    devices: dict[int, Device] = field(default_factory=dict)  # every device named above
    tickets: dict[int, Ticket] = field(default_factory=dict)  # the pre-checks' tickets

    @property
    def empty(self) -> bool:
        """Nothing worth a message."""
        return not (self.open_alerts or self.new_alerts or self.prechecks or self.at_risk)


def window_of(hospital: Hospital, day: date, digest_hour: int) -> Window:
    """The window of a hospital's digest of `day` (its local calendar day)."""
    end = datetime.combine(day, time(digest_hour), zone(hospital.time_zone))
    return Window(day=day, start=end - timedelta(days=1), end=end)


def due_day(hospital: Hospital, now: datetime, digest_hour: int) -> date | None:
    """The local day whose digest is due at `now` (its digest hour has come), else None."""
    local = now.astimezone(zone(hospital.time_zone))
    return local.date() if local.hour >= digest_hour else None


def sees_everything(user: User, hospital_id: int) -> bool:
    """Whether user's digest holds every device of the hospital (else only the devices they own)."""
    if user.role in (Role.admin, Role.agent, Role.service_center):
        return True
    if user.role == Role.engineer:
        return not user.service_hospital_ids or hospital_id in user.service_hospital_ids
    return bool(user.role == Role.lab_user and user.is_lab_manager and user.hospital_id == hospital_id
                and user.verification == Verification.verified)


def may_read(user: User, hospital_id: int) -> bool:
    """Whether user may open the hospital's digest page at all (an owner sees their devices' part)."""
    return sees_everything(user, hospital_id) or (
        user.role == Role.lab_user and user.hospital_id == hospital_id
        and user.verification == Verification.verified)


def owned_device_ids(session: Session, user: User) -> set[int]:
    """The devices on the user's "my devices" list, whole groups included."""
    claims = list(session.execute(select(DeviceClaim).where(DeviceClaim.user_id == user.id)).scalars())
    ids = {c.device_id for c in claims if c.device_id is not None}
    groups = [c.group_id for c in claims if c.group_id is not None]
    if groups:
        ids |= set(session.execute(select(Device.id).where(Device.group_id.in_(groups))).scalars())
    return ids


def collect(session: Session, hospital: Hospital, window: Window, *, reader: User | None = None) -> Digest:
    """The hospital's digest of the window, as `reader` may see it (None: every device)."""
    only: set[int] | None = None
    if reader is not None and not sees_everything(reader, hospital.id):
        only = owned_device_ids(session, reader)
    digest = Digest(hospital=hospital, window=window)
    if only is not None and not only:
        return digest

    def mine(stmt: Select[Any], column: Any) -> Select[Any]:
        return stmt if only is None else stmt.where(column.in_(only))

    alerts = select(Alert).where(Alert.hospital_id == hospital.id)
    digest.open_alerts = list(session.execute(mine(alerts.where(
        Alert.opened_at < window.end, or_(Alert.resolved_at.is_(None), Alert.resolved_at >= window.end)),
        Alert.device_id).order_by(Alert.opened_at.desc())).scalars())
    digest.new_alerts = list(session.execute(mine(alerts.where(
        Alert.opened_at >= window.start, Alert.opened_at < window.end), Alert.device_id)
        .order_by(Alert.opened_at.desc())).scalars())
    prechecks = (select(PrecheckTask, Ticket).join(Ticket, Ticket.id == PrecheckTask.ticket_id)
                 .where(PrecheckTask.hospital_id == hospital.id, PrecheckTask.finished_at >= window.start,
                        PrecheckTask.finished_at < window.end))
    for task, ticket in session.execute(mine(prechecks, Ticket.device_id).order_by(PrecheckTask.finished_at)):
        digest.prechecks.append(task)
        digest.tickets[task.id] = ticket
    digest.at_risk = list(session.execute(mine(select(Device).where(
        Device.hospital_id == hospital.id, Device.risk_30d >= RISK_LISTED), Device.id)
        .order_by(Device.risk_30d.desc(), Device.id)).scalars())
    wanted = ({a.device_id for a in digest.open_alerts + digest.new_alerts}
              | {t.device_id for t in digest.tickets.values() if t.device_id is not None})
    digest.devices = {d.id: d for d in digest.at_risk}
    missing = wanted - set(digest.devices)
    if missing:
        digest.devices |= {d.id: d for d in session.execute(
            select(Device).options(joinedload(Device.department)).where(Device.id.in_(missing))).scalars()}
    return digest


def digest_link(hospital_id: int, day: date) -> str:
    """Where the digest of a hospital and day is read."""
    return f"/alerts/digest/{hospital_id}/{day.isoformat()}"


def readers(session: Session, hospital: Hospital) -> list[User]:
    """Who gets the hospital's digest: lab managers and its engineers who keep the digest on, and the owners of
    its devices who chose to hear of alerts only in the digest."""
    chosen: dict[int, User] = {}
    for user in [*lab_managers(session, hospital.id), *engineers_serving(session, hospital.id)]:
        if user.daily_digest:
            chosen.setdefault(user.id, user)
    owners = session.execute(select(User).where(
        User.hospital_id == hospital.id, User.role == Role.lab_user, User.is_active.is_(True),
        User.verification == Verification.verified, User.alert_notice == AlertNotice.digest,
        User.id.in_(select(DeviceClaim.user_id)))).scalars()
    for user in owners:
        chosen.setdefault(user.id, user)
    return list(chosen.values())


def send(session: Session, hospital: Hospital, window: Window, *, channels: Sequence[Channel]) -> int:
    """Tell each reader about their part of the hospital's digest; returns how many were told (0: nothing to
    tell anyone). Safe to run again: a person is told once per hospital and day."""
    told = 0
    label = f"{window.day.month}月{window.day.day}日"
    key = f"{DIGEST_KIND}:{hospital.id}:{window.day.isoformat()}"
    for reader in readers(session, hospital):
        part = collect(session, hospital, window, reader=reader)
        if part.empty:
            continue
        text = render(DIGEST_TEXT, hospital=hospital.name, day=label, open=len(part.open_alerts),
                      new=len(part.new_alerts), prechecks=len(part.prechecks), risk=len(part.at_risk))
        told += len(notify_many(session, event_key=key, kind=DIGEST_KIND, channels=channels,
                                subject=f"{hospital.name} {label}",
                                recipients=[Recipient(reader.id, text, digest_link(hospital.id, window.day))]))
    return told


def send_due(sessions: sessionmaker[Session], *, digest_hour: int, channels: Sequence[Channel],
             now: datetime | None = None) -> list[tuple[int, str]]:
    """The schedule's work: each hospital whose digest hour has come today and whose digest of today was not
    sent gets it now. One transaction per hospital, so one hospital's trouble does not hold up the others.
    Returns the (hospital id, day) sent now."""
    now = now or utcnow()
    done: list[tuple[int, str]] = []
    with sessions() as session:
        hospitals = list(session.execute(select(Hospital).order_by(Hospital.id)).scalars())
        recent = (now - timedelta(days=2)).date().isoformat()  # today's date in every zone is at most a day off
        sent = {(h, d) for h, d in session.execute(select(AlertDigest.hospital_id, AlertDigest.day)
                                                   .where(AlertDigest.day >= recent))}
    for hospital in hospitals:
        day = due_day(hospital, now, digest_hour)
        if day is None or (hospital.id, day.isoformat()) in sent:
            continue
        with sessions() as session:
            try:
                told = send(session, hospital, window_of(hospital, day, digest_hour), channels=channels)
                session.add(AlertDigest(hospital_id=hospital.id, day=day.isoformat(), recipients=told, sent_at=now))
                session.commit()
                done.append((hospital.id, day.isoformat()))
            except IntegrityError:  # another process sent it meanwhile
                session.rollback()
            except Exception:  # one hospital's trouble is logged and retried at the next run
                session.rollback()
                log.exception("alert digest of hospital %s for %s failed", hospital.id, day)
    return done

