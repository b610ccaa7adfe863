"""Request and response bodies of the auth and user API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloud.auth.models import Role, Verification

Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=100,
                                            pattern=r"^[A-Za-z0-9_.@-]+$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=200)]


class TokenOut(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class UserOut(BaseModel):
    """An account as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    full_name: str
    phone: str
    role: Role
    hospital_id: int | None
    verification: Verification
    is_active: bool
    capacity: int | None = None
    created_at: datetime


class UserCreate(BaseModel):
    """An admin creates an account of any role."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    role: Role
    full_name: str = Field("", max_length=100)
    phone: str = Field("", max_length=32)
    hospital_id: int | None = None
    verified: bool = False
    capacity: int | None = Field(None, ge=0, le=1000)


class Registration(BaseModel):
    """A lab user signs up; with the hospital's invite code they are verified at once."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    full_name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=5, max_length=32)
    hospital_id: int
    invite_code: str | None = Field(None, max_length=64)


class InviteCode(BaseModel):
    """A lab user's proof of belonging to their hospital."""

    model_config = ConfigDict(extra="forbid")

    invite_code: str = Field(min_length=1, max_length=64)


class UserUpdate(BaseModel):
    """Enable or disable an account, or set an agent's capacity (null = the default)."""

    model_config = ConfigDict(extra="forbid")

    is_active: bool | None = None
    capacity: int | None = Field(None, ge=0, le=1000)
