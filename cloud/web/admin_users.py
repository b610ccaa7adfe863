"""Admin console: accounts (create, roles, disable, password reset) and the lab-user verification queue."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from cloud.auth import accounts
from cloud.auth import service as auth_service
from cloud.auth.models import Role, User, Verification
from cloud.auth.schemas import Password, Username
from cloud.db import SessionDep
from cloud.errors import Conflict, Invalid
from cloud.registry import service as registry_service
from cloud.registry.models import Hospital
from cloud.registry.schemas import DeviceCategory
from cloud.tenancy import Scope
from cloud.web.admin_forms import AdminPage, actor, done, number, refuse
from cloud.web.admin_hospitals import admin_render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
ROLES = (Role.admin, Role.agent, Role.service_center, Role.engineer, Role.lab_user)
_username = TypeAdapter(Username)
_password = TypeAdapter(Password)


def _hospitals(session: Session) -> list[Hospital]:
    return registry_service.list_hospitals(session, scope=Scope.everything())


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def list_filters(q: str | None, role: str | None, hospital_id: str | None, active: str | None,
                 verification: str | None) -> dict[str, Any]:
    """The list page's query as search_users arguments; its export reads the same."""
    return {"q": q or None, "role": Role(role) if role and role in Role.__members__ else None,
            "hospital_id": _int(hospital_id), "active": {"yes": True, "no": False}.get(active or ""),
            "verification": Verification(verification) if verification and verification in Verification.__members__
            else None}


@router.get("/admin/users")
def users(
    request: Request, session: SessionDep, user: AdminPage,
    q: Annotated[str | None, Query(max_length=100)] = None, role: str | None = None,
    hospital_id: str | None = None, active: str | None = None, verification: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """Accounts with filters by role, hospital, active and verification."""
    filters = list_filters(q, role, hospital_id, active, verification)
    rows, total = accounts.search_users(session, **filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    hospitals = _hospitals(session)
    return admin_render(
        request, session, "admin/users.html", user, active="users", users=rows, total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), q=q or "", roles=ROLES, role=filters["role"], hospitals=hospitals,
        hospital_names={h.id: h.name for h in hospitals}, hospital_id=_int(hospital_id), active_filter=active or "",
        verification=filters["verification"], query=request.url.query,
        export_query=urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "page"]))


def _form_page(request: Request, session: Session, user: User, account: User | None) -> Response:
    return admin_render(request, session, "admin/user_edit.html", user, active="users", account=account,
                        roles=ROLES, hospitals=_hospitals(session), categories=list(DeviceCategory))


@router.get("/admin/users/new")
def user_new(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """The form for a new account."""
    return _form_page(request, session, user, None)


@router.get("/admin/users/{user_id}")
def user_edit(user_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """One account: details, role and coverage, and its actions."""
    return _form_page(request, session, user, auth_service.get_user(session, user_id=user_id))


def _role(value: str) -> Role | None:
    return Role(value) if value in Role.__members__ else None


def _check_common(request: Request, role: Role | None, hospital: int | None, capacity: object) -> Response | None:
    if role is None:
        return refuse(request, "Choose a role.", field="role")
    if role == Role.lab_user and hospital is None:
        return refuse(request, "A lab user belongs to a hospital: choose it.", field="hospital_id")
    if capacity is not None and (not isinstance(capacity, int) or not 0 <= capacity <= 1000):
        return refuse(request, "Capacity is a whole number from 0 to 1000.", field="capacity")
    return None


@router.post("/admin/users/new")
def user_create(
    request: Request, session: SessionDep, user: AdminPage,
    username: Annotated[str, Form()] = "", full_name: Annotated[str, Form(max_length=100)] = "",
    phone: Annotated[str, Form(max_length=32)] = "", role: Annotated[str, Form()] = "",
    hospital_id: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
    service_hospital_ids: Annotated[list[str] | None, Form()] = None,
    categories: Annotated[list[str] | None, Form()] = None, capacity: Annotated[str, Form()] = "",
    is_lab_manager: Annotated[str, Form()] = "",
) -> Response:
    """Create an account; without a password a one-time password is generated and shown once."""
    chosen, hospital, limit = _role(role), _int(hospital_id), number(capacity, integer=True)
    try:
        name = _username.validate_python(username)
    except ValidationError:
        return refuse(request, "A username is 3 to 100 letters, digits, '.', '_', '@' or '-'.", field="username")
    generated = not password
    secret = password or accounts.one_time_password()
    try:
        _password.validate_python(secret)
    except ValidationError:
        return refuse(request, "A password has at least 8 characters.", field="password")
    if problem := _check_common(request, chosen, hospital, limit):
        return problem
    assert chosen is not None
    try:
        account = auth_service.create_user(
            session, username=name, password=secret, role=chosen, actor=actor(user), full_name=full_name.strip(),
            phone=phone.strip(), hospital_id=hospital, verified=True)
        accounts.update_account(
            session, user_id=account.id, actor=actor(user), full_name=full_name, phone=phone, role=chosen,
            hospital_id=hospital, service_hospital_ids=[int(i) for i in service_hospital_ids or [] if i.isdigit()],
            categories=categories or [], capacity=limit if isinstance(limit, int) else None,
            is_lab_manager=is_lab_manager == "yes")
    except Conflict:
        return refuse(request, "This username is taken.", field="username", status=409)
    except Invalid:
        return refuse(request, "Check the hospital and categories.", field="hospital_id")
    session.commit()
    if generated:
        return done(request, "Account created. Give the person this one-time password:",
                    redirect=f"/admin/users/{account.id}", secret=secret)
    return done(request, "Account created", redirect=f"/admin/users/{account.id}")


@router.post("/admin/users/{user_id}")
def user_update(
    user_id: int, request: Request, session: SessionDep, user: AdminPage,
    full_name: Annotated[str, Form(max_length=100)] = "", phone: Annotated[str, Form(max_length=32)] = "",
    role: Annotated[str, Form()] = "", hospital_id: Annotated[str, Form()] = "",
    service_hospital_ids: Annotated[list[str] | None, Form()] = None,
    categories: Annotated[list[str] | None, Form()] = None, capacity: Annotated[str, Form()] = "",
    is_lab_manager: Annotated[str, Form()] = "",
) -> Response:
    """Save an account's name, phone, role, hospital, coverage and whether a lab user manages the lab."""
    auth_service.get_user(session, user_id=user_id)
    chosen, hospital, limit = _role(role), _int(hospital_id), number(capacity, integer=True)
    if problem := _check_common(request, chosen, hospital, limit):
        return problem
    assert chosen is not None
    try:
        accounts.update_account(
            session, user_id=user_id, actor=actor(user), full_name=full_name, phone=phone, role=chosen,
            hospital_id=hospital, service_hospital_ids=[int(i) for i in service_hospital_ids or [] if i.isdigit()],
            categories=categories or [], capacity=limit if isinstance(limit, int) else None,
            is_lab_manager=is_lab_manager == "yes")
    except Conflict:
        return refuse(request, "You cannot take the admin role from your own account.", field="role", status=409)
    except Invalid:
        return refuse(request, "Check the hospital and categories.", field="hospital_id")
    session.commit()
    return done(request, "Saved")


@router.post("/admin/users/{user_id}/active")
def user_active(user_id: int, request: Request, session: SessionDep, user: AdminPage,
                active: Annotated[str, Form()] = "") -> Response:
    """Disable (ends its sessions) or enable an account."""
    if user_id == user.id and active != "yes":
        return refuse(request, "You cannot disable your own account.", status=409)
    auth_service.update_user(session, user_id=user_id, actor=actor(user), active=active == "yes")
    session.commit()
    return done(request, "Account enabled" if active == "yes" else "Account disabled")


@router.post("/admin/users/{user_id}/password")
def user_password(user_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Reset the password to a generated one-time password, shown once."""
    secret = accounts.reset_password(session, user_id=user_id, actor=actor(user))
    session.commit()
    return done(request, "Password reset; the account was signed out everywhere. Give the person this password:",
                secret=secret)


@router.get("/admin/verifications")
def verifications(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Lab users waiting for an admin to confirm their hospital."""
    hospitals = _hospitals(session)
    return admin_render(request, session, "admin/verifications.html", user, active="verifications",
                        queue=accounts.verification_queue(session), hospitals=hospitals,
                        hospital_names={h.id: h.name for h in hospitals},
                        expired={h.id: registry_service.invite_code_expired(h) for h in hospitals})


@router.post("/admin/users/{user_id}/verify")
def user_verify(user_id: int, request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Approve a lab user's bond to their hospital."""
    auth_service.verify_user(session, user_id=user_id, actor=actor(user))
    session.commit()
    return done(request, "Approved")


@router.post("/admin/users/{user_id}/reject")
def user_reject(user_id: int, request: Request, session: SessionDep, user: AdminPage,
                reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Refuse a lab user's claim; the account is disabled and the reason kept in the audit log."""
    try:
        accounts.reject_verification(session, user_id=user_id, reason=reason, actor=actor(user))
    except Invalid:
        return refuse(request, "Give a reason for the rejection.", field="reason")
    except Conflict:
        return refuse(request, "This account is not waiting for verification.", status=409)
    session.commit()
    return done(request, "Rejected")
