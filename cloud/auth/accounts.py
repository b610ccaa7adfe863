"""Account administration beyond create/verify/disable: roles, engineers' coverage, password resets, rejections.

Keyword-only, no HTTP; callers commit. Each change writes one audit row in the caller's transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor, record
from cloud.auth.models import AuthToken, Role, User, Verification
from cloud.auth.service import _user_view, get_user, hash_password
from cloud.db import utcnow
from cloud.errors import Conflict, Invalid
from cloud.registry.models import Hospital
from cloud.registry.schemas import DeviceCategory

# No 0/O, 1/l/I: a one-time password is read off a screen and typed on a phone.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"


def one_time_password() -> str:
    """A random 12-character password (about 69 bits) in three groups of four."""
    raw = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(12))
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def _end_sessions(session: Session, user: User) -> None:
    for token in session.execute(select(AuthToken).where(
            AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))).scalars():
        token.revoked_at = utcnow()


def _check_hospitals(session: Session, ids: Sequence[int], field: str) -> list[int]:
    unique = sorted(set(ids))
    if unique:
        found = set(session.execute(select(Hospital.id).where(Hospital.id.in_(unique))).scalars())
        if missing := [i for i in unique if i not in found]:
            raise Invalid("unknown hospital", [{"field": field, "message": f"no hospital {missing[0]}"}])
    return unique


def _check_categories(categories: Sequence[str]) -> list[str]:
    known = {c.value for c in DeviceCategory}
    if unknown := [c for c in categories if c not in known]:
        raise Invalid("unknown device category", [{"field": "categories", "message": unknown[0]}])
    return sorted(set(categories))


def update_account(
    session: Session,
    *,
    user_id: int,
    actor: Actor,
    full_name: str,
    phone: str,
    role: Role,
    hospital_id: int | None,
    service_hospital_ids: Sequence[int] = (),
    categories: Sequence[str] = (),
    capacity: int | None = None,
    is_lab_manager: bool = False,
) -> User:
    """Set an account's name, phone, role and what goes with the role; all checked before anything changes.

    is_lab_manager: a lab user who manages the hospital's lab (its dashboards, its monthly report); only a lab
    user can be one.
    """
    user = get_user(session, user_id=user_id)
    if role == Role.lab_user and hospital_id is None:
        raise Invalid("a lab user belongs to a hospital", [{"field": "hospital_id", "message": "required"}])
    if user.id == actor.user_id and user.role == Role.admin and role != Role.admin:
        # Otherwise the last admin can lock everyone out of the admin console with one click.
        raise Conflict("you cannot take the admin role from your own account")
    if hospital_id is not None:
        _check_hospitals(session, [hospital_id], "hospital_id")
    served = _check_hospitals(session, service_hospital_ids, "service_hospital_ids") if role == Role.engineer else []
    known = _check_categories(categories) if role == Role.engineer else []
    if capacity is not None and not 0 <= capacity <= 1000:
        raise Invalid("capacity is 0 to 1000", [{"field": "capacity", "message": "0 to 1000"}])
    before = _user_view(user)
    before.update(service_hospital_ids=list(user.service_hospital_ids or []), categories=list(user.categories or []),
                  is_lab_manager=bool(user.is_lab_manager))
    user.full_name, user.phone, user.role = full_name.strip(), phone.strip(), role
    user.hospital_id = hospital_id
    user.service_hospital_ids, user.categories = served, known
    user.capacity = capacity if role in (Role.agent, Role.service_center) else None
    user.is_lab_manager = is_lab_manager and role == Role.lab_user
    if role != Role.lab_user and user.verification != Verification.verified:
        user.verification, user.verified_at = Verification.verified, utcnow()  # staff start verified
    after = _user_view(user)
    after.update(service_hospital_ids=served, categories=known, is_lab_manager=user.is_lab_manager)
    record(session, actor=actor, action="update", entity="user", entity_id=user.id,
           hospital_id=user.hospital_id, before=before, after=after)
    return user


def reset_password(session: Session, *, user_id: int, actor: Actor) -> str:
    """Give an account a new random password, end its sessions, and return the password (shown once)."""
    user = get_user(session, user_id=user_id)
    password = one_time_password()
    user.password_hash = hash_password(password)
    _end_sessions(session, user)
    record(session, actor=actor, action="reset_password", entity="user", entity_id=user.id,
           hospital_id=user.hospital_id)
    return password


def reject_verification(session: Session, *, user_id: int, reason: str, actor: Actor) -> User:
    """Refuse a lab user's claim to belong to their hospital: the account is disabled, the reason audited."""
    reason = reason.strip()
    if not reason:
        raise Invalid("give a reason", [{"field": "reason", "message": "required"}])
    user = get_user(session, user_id=user_id)
    if user.role != Role.lab_user or user.verification == Verification.verified:
        raise Conflict("only an unverified lab user can be rejected")
    before = _user_view(user)
    user.is_active = False
    _end_sessions(session, user)
    record(session, actor=actor, action="reject", entity="user", entity_id=user.id, hospital_id=user.hospital_id,
           before=before, after={**_user_view(user), "reason": reason[:500]})
    return user


def search_users(
    session: Session,
    *,
    q: str | None = None,
    role: Role | None = None,
    hospital_id: int | None = None,
    active: bool | None = None,
    verification: Verification | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[User], int]:
    """Accounts matching the filters (q: username, name or phone), by username, with the total count."""
    stmt = select(User)
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(func.lower(User.username).like(like) | func.lower(User.full_name).like(like)
                          | User.phone.like(like))
    if role is not None:
        stmt = stmt.where(User.role == role)
    if hospital_id is not None:
        stmt = stmt.where(User.hospital_id == hospital_id)
    if active is not None:
        stmt = stmt.where(User.is_active.is_(active))
    if verification is not None:
        stmt = stmt.where(User.verification == verification)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(User.username).limit(limit).offset(offset)).scalars().all()
    return list(rows), int(total)


def verification_queue(session: Session) -> list[User]:
    """Active lab users waiting for an admin to confirm their hospital, oldest first."""
    return list(session.execute(select(User).where(
        User.role == Role.lab_user, User.verification == Verification.unverified, User.is_active.is_(True),
    ).order_by(User.created_at, User.id)).scalars())
