"""QR code operations on the database: issue, reissue, revoke, resolve. Keyword-only, no HTTP; callers commit."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.audit.service import Actor, record
from cloud.db import utcnow
from cloud.errors import Conflict, NotFound
from cloud.qr.models import CodeStatus, QrCode, TargetKind
from cloud.registry.models import Device, DeviceGroup

# Upper-case letters and digits without the look-alikes 0/O, 1/I/L: a code read off a label can be typed.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10  # 31**10 ~ 8e14 (about 50 bits): not enumerable by scanning the /r/ URL space
_ISSUE_ATTEMPTS = 5

Target = Device | DeviceGroup


@dataclass(frozen=True)
class Found:
    """The scanned code is the target's active code."""

    kind: TargetKind
    target: Target
    code: str

    @property
    def target_id(self) -> int:
        """The device or group id."""
        return self.target.id

    @property
    def current_code(self) -> str:
        """The code to link to (the scanned one)."""
        return self.code


@dataclass(frozen=True)
class Replaced:
    """The scanned label was reprinted; current_code is the label now in use."""

    kind: TargetKind
    target: Target
    code: str
    current_code: str

    @property
    def target_id(self) -> int:
        """The device or group id."""
        return self.target.id


Resolution = Found | Replaced


def new_code() -> str:
    """A fresh random code from the cryptographic RNG (never derived from ids, so not guessable)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize(code: str) -> str:
    """A code as stored: typed codes may come in lower case or with spaces and dashes."""
    return code.strip().upper().replace(" ", "").replace("-", "")


def url_for(code: str, public_url: str) -> str:
    """The landing URL a code stands for."""
    return f"{public_url.rstrip('/')}/r/{code}"


def content_for(row: QrCode, public_url: str) -> str:
    """What the printed QR encodes: the WeChat parametric QR URL when one was issued, else the /r/ URL."""
    return row.wechat_url or url_for(row.code, public_url)


def get_target(session: Session, *, kind: TargetKind, target_id: int) -> Target:
    """The device or group behind kind/target_id, or NotFound."""
    target: Target | None = (session.get(Device, target_id) if kind == TargetKind.device
                             else session.get(DeviceGroup, target_id))
    if target is None:
        what = "device" if kind == TargetKind.device else "device group"
        raise NotFound(f"{what} {target_id} not found")
    return target


def active_code(session: Session, *, kind: TargetKind, target_id: int) -> QrCode | None:
    """The target's active code, if it has one."""
    stmt = select(QrCode).where(
        QrCode.target_kind == kind, QrCode.target_id == target_id, QrCode.status == CodeStatus.active)
    return session.execute(stmt).scalar_one_or_none()


def _issue(session: Session, *, kind: TargetKind, target: Target, actor: Actor, action: str,
           before: dict[str, object] | None = None, take_existing: bool = True) -> QrCode:
    """Insert a new active code for target; on a lost race for the target return the winner's code."""
    for _ in range(_ISSUE_ATTEMPTS):
        row = QrCode(code=new_code(), target_kind=kind, target_id=target.id, status=CodeStatus.active,
                     created_by=actor.user_id, created_at=utcnow())
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            # Either another transaction issued this target's active code first (the partial unique index
            # said no) or, vanishingly rarely, the random code already exists: take the winner or retry.
            existing = active_code(session, kind=kind, target_id=target.id)
            if existing is not None:
                if take_existing:
                    return existing
                raise Conflict("the QR code was changed by someone else at the same time; try again") from None
            continue
        record(session, actor=actor, action=action, entity="qr_code", entity_id=row.id,
               hospital_id=target.hospital_id, before=before,
               after={"code": row.code, "target_kind": str(kind), "target_id": target.id})
        return row
    raise Conflict("could not issue a unique QR code; try again")


def code_for(session: Session, *, kind: TargetKind, target_id: int, actor: Actor) -> QrCode:
    """The target's active code, issued on first use (labels are never regenerated needlessly)."""
    target = get_target(session, kind=kind, target_id=target_id)
    existing = active_code(session, kind=kind, target_id=target_id)
    if existing is not None:
        return existing
    return _issue(session, kind=kind, target=target, actor=actor, action="issue")


def codes_for(session: Session, *, kind: TargetKind, targets: Iterable[Target], actor: Actor) -> dict[int, QrCode]:
    """Active codes for many targets of one kind by target id, issuing the missing ones (for label batches)."""
    by_id = {t.id: t for t in targets}
    if not by_id:
        return {}
    stmt = select(QrCode).where(QrCode.target_kind == kind, QrCode.target_id.in_(by_id),
                                QrCode.status == CodeStatus.active)
    codes = {row.target_id: row for row in session.execute(stmt).scalars()}
    for target_id, target in by_id.items():
        if target_id not in codes:
            codes[target_id] = _issue(session, kind=kind, target=target, actor=actor, action="issue")
    return codes


def _retire(session: Session, *, kind: TargetKind, target_id: int, status: CodeStatus) -> QrCode | None:
    """Mark the active code replaced or revoked and flush, so the partial unique index admits a new one."""
    stmt = select(QrCode).where(
        QrCode.target_kind == kind, QrCode.target_id == target_id, QrCode.status == CodeStatus.active)
    # Row lock on PostgreSQL: two admins reissuing at once queue up instead of both retiring the same row.
    old = session.execute(stmt.with_for_update()).scalar_one_or_none()
    if old is not None:
        old.status = status
        old.retired_at = utcnow()
        session.flush()
    return old


def reissue(session: Session, *, kind: TargetKind, target_id: int, actor: Actor) -> QrCode:
    """A new code for a damaged or lost label; the old one answers 'replaced' and points to the new one."""
    target = get_target(session, kind=kind, target_id=target_id)
    old = _retire(session, kind=kind, target_id=target_id, status=CodeStatus.replaced)
    before: dict[str, object] | None = {"code": old.code} if old is not None else None
    new = _issue(session, kind=kind, target=target, actor=actor, action="reissue", before=before,
                 take_existing=False)
    if old is not None:
        old.replaced_by_code = new.code
        session.flush()
    return new


def revoke(session: Session, *, kind: TargetKind, target_id: int, actor: Actor) -> QrCode | None:
    """Invalidate the target's active code without a successor (e.g. the device left service)."""
    target = get_target(session, kind=kind, target_id=target_id)
    old = _retire(session, kind=kind, target_id=target_id, status=CodeStatus.revoked)
    if old is not None:
        record(session, actor=actor, action="revoke", entity="qr_code", entity_id=old.id,
               hospital_id=target.hospital_id, before={"code": old.code, "status": str(CodeStatus.active)},
               after={"code": old.code, "status": str(CodeStatus.revoked)})
    return old


def lookup(session: Session, *, code: str) -> QrCode | None:
    """The stored row for code (any status), or None."""
    return session.execute(select(QrCode).where(QrCode.code == normalize(code))).scalar_one_or_none()


def resolve(session: Session, *, code: str) -> Resolution:
    """What a scanned code leads to: Found, Replaced (with the current code), or NotFound."""
    row = lookup(session, code=code)
    if row is None or row.status == CodeStatus.revoked:
        raise NotFound("this QR code is unknown")
    try:
        target = get_target(session, kind=row.target_kind, target_id=row.target_id)
    except NotFound:
        raise NotFound("this QR code's device is no longer registered") from None
    if row.status == CodeStatus.active:
        return Found(kind=row.target_kind, target=target, code=row.code)
    # Link to whatever is active now, even after several reprints (A -> B -> C sends A straight to C).
    current = active_code(session, kind=row.target_kind, target_id=row.target_id)
    if current is None:
        raise NotFound("this QR code was replaced and its successor is no longer valid")
    return Replaced(kind=row.target_kind, target=target, code=row.code, current_code=current.code)
