"""Annotated dependencies shared by the routers: the current user, roles, tenant scope, actor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer

from cloud.audit.service import Actor
from cloud.auth import service as auth_service
from cloud.auth.models import Role, User, Verification
from cloud.config import Settings
from cloud.db import SessionDep
from cloud.errors import DomainError, Forbidden
from cloud.tenancy import Scope, engineer_scope

SESSION_COOKIE = "medfix_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class NotAuthenticated(DomainError):
    """No valid token or session cookie."""

    status_code = 401


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` one on a worker thread, a hop that costs
# more than the dependency itself.


async def get_settings_dep(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def token_ttl(settings: Settings) -> timedelta:
    """How long a login lasts."""
    return timedelta(hours=settings.token_ttl_hours)


def optional_user(
    request: Request, session: SessionDep, bearer: Annotated[str | None, Depends(_bearer)]
) -> User | None:
    """The signed-in user from the bearer token or the page cookie, or None."""
    token = bearer or request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    if not bearer and request.method not in SAFE_METHODS and not _from_our_pages(request):
        raise Forbidden("changes made with a page session need the header X-Requested-With: medfix")
    return auth_service.user_for_token(session, token=token)


def _from_our_pages(request: Request) -> bool:
    """Whether a change that carries the page cookie was sent by one of our own pages (cross-site request forgery).

    A cookie rides along on cross-site requests. Our scripts send the header X-Requested-With: medfix, which a
    page elsewhere cannot send without a CORS preflight we never grant. A plain HTML form (the label-lost search,
    adding to a device's open ticket, binding to a hospital: they work without a script) cannot set a header, so
    the browser's own word on where the request came from counts too: Sec-Fetch-Site where the browser sends it,
    else the Origin it puts on every form post, against the host this request was sent to.
    """
    headers = request.headers
    if headers.get("x-requested-with") == "medfix":
        return True
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = headers.get("origin")
    if not origin or origin == "null":
        return False
    host = headers.get("x-forwarded-host") or headers.get("host") or ""
    return urlsplit(origin).netloc.lower() == host.split(",")[0].strip().lower()


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    """The signed-in user; 401 when there is none."""
    if user is None:
        raise NotAuthenticated("sign in first")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only the given roles through (403 for the rest)."""
    allowed = frozenset(roles)

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden(f"this needs the role {' or '.join(sorted(allowed))}")
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]


def tenant_scope(user: CurrentUser) -> Scope:
    """What the user may read: the desk everything, an engineer the hospitals they serve (every hospital while none
    is listed) and the tickets assigned to them, a verified lab user their own hospital."""
    served = engineer_scope(user)
    if served is not None:
        return served
    if user.is_staff:
        return Scope.everything()
    if user.verification != Verification.verified:
        raise Forbidden("your account is not verified yet; use your hospital's invite code or ask an admin")
    return Scope.of_hospital(user.hospital_id)


ScopeDep = Annotated[Scope, Depends(tenant_scope)]


def actor_of(user: CurrentUser) -> Actor:
    """The audit actor for the signed-in user."""
    return Actor(user_id=user.id, label=user.username)


ActorDep = Annotated[Actor, Depends(actor_of)]


class Pagination:
    """limit/offset query parameters with sane bounds."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PaginationDep = Annotated[Pagination, Depends()]
