"""Accounts and tokens on the database. Keyword-only, no HTTP; callers commit."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from pwdlib import PasswordHash
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from cloud.audit.service import Actor, record
from cloud.auth.models import AuthToken, Role, User, Verification
from cloud.auth.throttle import hash_slot
from cloud.db import utcnow
from cloud.errors import Conflict, Forbidden, Invalid, NotFound
from cloud.events import emit
from cloud.registry.models import Hospital

# Argon2id with pwdlib's recommended parameters.
_hasher = PasswordHash.recommended()
# Verifying against this when the user is unknown keeps login timing the same for both cases.
_DUMMY_HASH = _hasher.hash("medfix-timing-equaliser")


def hash_password(password: str) -> str:
    """An Argon2id hash of password (in one of the few hashing slots: cloud/auth/throttle.py)."""
    with hash_slot():
        return _hasher.hash(password)


def _user_view(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "phone": user.phone,
        "role": str(user.role),
        "hospital_id": user.hospital_id,
        "verification": str(user.verification),
        "is_active": user.is_active,
        "capacity": user.capacity,
    }


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    actor: Actor,
    full_name: str = "",
    phone: str = "",
    hospital_id: int | None = None,
    verified: bool = False,
    capacity: int | None = None,
) -> User:
    """A new account. Lab users need a hospital; staff start verified."""
    if role == Role.lab_user and hospital_id is None:
        raise Invalid("a lab user belongs to a hospital", [{"field": "hospital_id", "message": "required"}])
    if hospital_id is not None and session.get(Hospital, hospital_id) is None:
        raise Invalid("unknown hospital", [{"field": "hospital_id", "message": "no such hospital"}])
    if session.execute(select(User.id).where(func.lower(User.username) == username.lower())).first():
        raise Conflict(f"username {username!r} is taken")
    is_verified = verified or role != Role.lab_user
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        full_name=full_name,
        phone=phone,
        hospital_id=hospital_id,
        verification=Verification.verified if is_verified else Verification.unverified,
        verified_at=utcnow() if is_verified else None,
        capacity=capacity,
    )
    session.add(user)
    session.flush()
    record(session, actor=actor, action="create", entity="user", entity_id=user.id,
           hospital_id=hospital_id, after=_user_view(user))
    return user


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = session.execute(select(User).where(func.lower(User.username) == username.lower())).scalar()
    with hash_slot():
        if user is None:
            _hasher.verify(password, _DUMMY_HASH)
            return None
        valid, new_hash = _hasher.verify_and_update(password, user.password_hash)
    if not valid or not user.is_active:
        return None
    if new_hash is not None:
        user.password_hash = new_hash
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, *, user: User, ttl: timedelta) -> str:
    """A new random bearer token for user, valid for ttl; only its digest is stored."""
    token = secrets.token_urlsafe(32)
    session.add(AuthToken(token_hash=_digest(token), user_id=user.id, expires_at=utcnow() + ttl))
    session.flush()
    return token


def user_for_token(session: Session, *, token: str) -> User | None:
    """The active user a live token belongs to, or None (one query: the token with its user)."""
    row = session.execute(select(AuthToken).options(joinedload(AuthToken.user))
                          .where(AuthToken.token_hash == _digest(token))).scalar()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or not row.user.is_active:
        return None
    return row.user


def purge_tokens(session: Session, *, now: datetime | None = None) -> int:
    """Delete expired and revoked tokens (nothing can use them again); how many went. The caller commits."""
    now = now or utcnow()
    result = session.execute(delete(AuthToken).where(or_(AuthToken.expires_at <= now,
                                                         AuthToken.revoked_at.is_not(None))))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired_tokens(sessions: sessionmaker[Session]) -> int:
    """The periodic job's run (cloud/main.py): purge_tokens in its own transaction."""
    with sessions() as session:
        count = purge_tokens(session)
        session.commit()
    return count


def revoke_token(session: Session, *, token: str) -> None:
    """End a token (logout); unknown tokens are ignored."""
    row = session.execute(select(AuthToken).where(AuthToken.token_hash == _digest(token))).scalar()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def get_user(session: Session, *, user_id: int) -> User:
    """One account or NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def list_users(
    session: Session, *, role: Role | None = None, hospital_id: int | None = None,
    verification: Verification | None = None,
) -> list[User]:
    """Accounts matching the filters, by username."""
    stmt = select(User)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if hospital_id is not None:
        stmt = stmt.where(User.hospital_id == hospital_id)
    if verification is not None:
        stmt = stmt.where(User.verification == verification)
    return list(session.execute(stmt.order_by(User.username)).scalars())


def verify_user(session: Session, *, user_id: int, actor: Actor) -> User:
    """An admin confirms a lab user's bond to their hospital."""
    user = get_user(session, user_id=user_id)
    before = _user_view(user)
    if user.verification != Verification.verified:
        user.verification, user.verified_at = Verification.verified, utcnow()
    record(session, actor=actor, action="verify", entity="user", entity_id=user.id,
           hospital_id=user.hospital_id, before=before, after=_user_view(user))
    # Service groups join the user (cloud/servicegroups/flows.py); verify_with_invite_code comes through here too.
    emit(session, "user.verified", user_id=user.id, hospital_id=user.hospital_id)
    return user


def verify_with_invite_code(session: Session, *, user: User, invite_code: str) -> User:
    """A lab user proves their hospital with its invite code."""
    hospital = session.get(Hospital, user.hospital_id) if user.hospital_id else None
    if hospital is None or not hospital.invite_code or not secrets.compare_digest(
        hospital.invite_code.encode(), invite_code.strip().encode()
    ):
        raise Forbidden("the invite code does not match your hospital")
    if hospital.invite_code_expires_at is not None and hospital.invite_code_expires_at <= utcnow():
        raise Forbidden("this invite code has expired; ask your hospital's admin for the new one",
                        code="invite_code_expired")
    return verify_user(session, user_id=user.id, actor=Actor(user.id, user.username))


def update_user(
    session: Session, *, user_id: int, actor: Actor, active: bool | None = None,
    capacity: int | None = None, set_capacity: bool = False,
) -> User:
    """Enable or disable an account (disabling ends its sessions) and/or set an agent's capacity."""
    user = get_user(session, user_id=user_id)
    before = _user_view(user)
    if active is not None:
        user.is_active = active
        if not active:
            for token in session.execute(select(AuthToken).where(
                    AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))).scalars():
                token.revoked_at = utcnow()
    if set_capacity:
        user.capacity = capacity
    record(session, actor=actor, action="update", entity="user", entity_id=user.id,
           hospital_id=user.hospital_id, before=before, after=_user_view(user))
    return user
