"""Login, registration, verification and account administration under /api/v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from cloud.audit.service import Actor
from cloud.auth import service, throttle
from cloud.auth.models import Role, User, Verification
from cloud.auth.schemas import InviteCode, Registration, TokenOut, UserCreate, UserOut, UserUpdate
from cloud.db import SessionDep
from cloud.deps import SESSION_COOKIE, ActorDep, AdminUser, CurrentUser, SettingsDep, token_ttl
from cloud.errors import DomainError, Forbidden

router = APIRouter(prefix="/api/v1", tags=["auth"])


class BadCredentials(DomainError):
    """Wrong username or password."""

    status_code = 401


@router.post("/auth/token", response_model=TokenOut)
def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
    settings: SettingsDep,
) -> TokenOut:
    """OAuth2 password flow: a bearer token for valid credentials (failures back off per name and address)."""
    throttle.check(request, form.username)
    user = service.authenticate(session, username=form.username, password=form.password)
    if user is None:
        throttle.failed(request, form.username)
        raise BadCredentials("wrong username or password")
    throttle.succeeded(request, form.username)
    ttl = token_ttl(settings)
    token = service.issue_token(session, user=user, ttl=ttl)
    session.commit()
    return TokenOut(access_token=token, expires_in=int(ttl.total_seconds()))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response, session: SessionDep, _user: CurrentUser) -> None:
    """End the current token or page session."""
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
    token = token or request.cookies.get(SESSION_COOKIE)
    if token:
        service.revoke_token(session, token=token)
        session.commit()
    response.delete_cookie(SESSION_COOKIE)


@router.get("/auth/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """The signed-in account."""
    return UserOut.model_validate(user)


@router.post("/auth/register", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def register(request: Request, body: Registration, session: SessionDep) -> UserOut:
    """A lab user signs up for their hospital; verified at once with a valid invite code."""
    user = service.create_user(
        session, username=body.username, password=body.password, role=Role.lab_user,
        full_name=body.full_name, phone=body.phone, hospital_id=body.hospital_id,
        actor=Actor.system("self-registration"),
    )
    if body.invite_code:
        _verify(request, session, user=user, invite_code=body.invite_code, who=f"name:{body.username}")
    session.commit()
    return UserOut.model_validate(user)


@router.post("/auth/verify", response_model=UserOut)
def verify_self(request: Request, body: InviteCode, session: SessionDep, user: CurrentUser) -> UserOut:
    """A lab user verifies with their hospital's invite code (wrong codes back off per account and address)."""
    _verify(request, session, user=user, invite_code=body.invite_code, who=f"user:{user.id}")
    session.commit()
    return UserOut.model_validate(user)


def _verify(request: Request, session: SessionDep, *, user: User, invite_code: str, who: str) -> None:
    throttle.check(request, who, kind="invite")
    try:
        service.verify_with_invite_code(session, user=user, invite_code=invite_code)
    except Forbidden as exc:
        if exc.extra.get("code") != "invite_code_expired":  # a guess, not yesterday's right code
            throttle.failed(request, who, kind="invite")
        raise
    throttle.succeeded(request, who, kind="invite")


@router.get("/users", response_model=list[UserOut])
def list_users(
    session: SessionDep,
    _admin: AdminUser,
    role: Role | None = None,
    hospital_id: int | None = None,
    verification: Annotated[Verification | None, Query()] = None,
) -> list[UserOut]:
    """Accounts, filtered (admin)."""
    users = service.list_users(session, role=role, hospital_id=hospital_id, verification=verification)
    return [UserOut.model_validate(u) for u in users]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> UserOut:
    """Create an account of any role (admin)."""
    user = service.create_user(session, actor=actor, **body.model_dump())
    session.commit()
    return UserOut.model_validate(user)


@router.post("/users/{user_id}/verify", response_model=UserOut)
def verify_user(user_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> UserOut:
    """Approve a lab user's bond to their hospital (admin)."""
    user = service.verify_user(session, user_id=user_id, actor=actor)
    session.commit()
    return UserOut.model_validate(user)


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(
    user_id: int, body: UserUpdate, session: SessionDep, _admin: AdminUser, actor: ActorDep
) -> UserOut:
    """Enable or disable an account, or set an agent's capacity (admin)."""
    user = service.update_user(session, user_id=user_id, actor=actor, active=body.is_active,
                               capacity=body.capacity, set_capacity="capacity" in body.model_fields_set)
    session.commit()
    return UserOut.model_validate(user)
