"""Account tables: user_account and auth_token."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false as sa_false
from sqlalchemy.sql.expression import true as sa_true

from cloud.db import Base, UTCDateTime, utcnow
from cloud.registry.models import Hospital


class Role(enum.StrEnum):
    """What a person does in medfix; staff roles see every hospital, lab users only their own."""

    lab_user = "lab_user"
    agent = "agent"
    service_center = "service_center"
    engineer = "engineer"
    admin = "admin"


STAFF_ROLES = frozenset({Role.agent, Role.service_center, Role.engineer, Role.admin})
# The service desk: the staff who see and work every ticket (engineers are staff too, but see what is theirs).
DESK_ROLES = frozenset({Role.agent, Role.service_center, Role.admin})


class AlertNotice(enum.StrEnum):
    """How a person who looks after devices (an owner, a lab manager) hears of their predictive alerts."""

    instant = "instant"  # at once, in the app and on WeChat
    in_app = "in_app"  # at once, in the app only
    digest = "digest"  # only in the daily digest
    off = "off"


class Verification(enum.StrEnum):
    """Whether a lab user's bond to their hospital has been confirmed."""

    unverified = "unverified"
    verified = "verified"


class User(Base):
    """A person who signs in: lab user, agent, service-centre staff, engineer or admin."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    role: Mapped[Role] = mapped_column(Enum(Role, name="user_role", native_enum=False, length=20))
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id", ondelete="RESTRICT"), index=True)
    verification: Mapped[Verification] = mapped_column(
        Enum(Verification, name="user_verification", native_enum=False, length=20),
        default=Verification.unverified,
    )
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A lab user who manages the hospital's lab: sees its dashboards and receives its monthly service report.
    is_lab_manager: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # How alerts on the devices they look after reach them (owners, lab managers; cloud/alerts/listeners.py), and
    # whether the daily alert digest does (lab managers and engineers; cloud/alerts/digest.py).
    alert_notice: Mapped[AlertNotice] = mapped_column(
        Enum(AlertNotice, name="alert_notice", native_enum=False, length=20), default=AlertNotice.instant,
        server_default=AlertNotice.instant.value)
    daily_digest: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # Engineers: which hospitals they serve and which device categories they know (empty = all).
    service_hospital_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Agents: the most open tickets automatic assignment gives them (empty = MEDFIX_AGENT_CAPACITY).
    capacity: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    hospital: Mapped[Hospital | None] = relationship()

    @property
    def is_staff(self) -> bool:
        """Staff serve every hospital; lab users belong to one."""
        return self.role in STAFF_ROLES


class AuthToken(Base):
    """A bearer token or page session; only its SHA-256 is stored so a database leak grants nothing."""

    __tablename__ = "auth_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
