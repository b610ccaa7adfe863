"""Tenant scope: which hospitals a caller may see. Services filter by it; out of scope reads as 404."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, false, or_

from cloud.auth.models import Role, User

S = TypeVar("S")


@dataclass(frozen=True)
class Scope:
    """What a caller may read.

    hospital_ids None means every hospital (the desk, the CLI and system flows); otherwise only those: a verified
    lab user's own hospital, an engineer's hospitals they serve (security finding 6 of issue #13). engineer_id: an
    engineer also sees the tickets assigned to them wherever they are (the desk may send them further afield).
    """

    hospital_ids: frozenset[int] | None = None
    engineer_id: int | None = None

    @classmethod
    def everything(cls) -> Scope:
        """The scope of the desk, the CLI and system flows."""
        return cls()

    @classmethod
    def of_hospital(cls, hospital_id: int | None) -> Scope:
        """One hospital's (a lab user's); a user of no hospital sees none."""
        return cls(hospital_ids=frozenset({hospital_id}) if hospital_id is not None else frozenset())

    @classmethod
    def served_by(cls, engineer_id: int, hospital_ids: list[int]) -> Scope:
        """An engineer's: the hospitals they serve and the tickets assigned to them."""
        return cls(hospital_ids=frozenset(hospital_ids), engineer_id=engineer_id)

    def allows(self, hospital_id: int | None, *, engineer_id: int | None = None) -> bool:
        """Whether a record of hospital_id (a ticket: with its engineer) is visible in this scope."""
        if self.hospital_ids is None or hospital_id in self.hospital_ids:
            return True
        return self.engineer_id is not None and engineer_id == self.engineer_id

    def restrict(self, stmt: S, hospital_column: Any, *, engineer_column: Any = None) -> S:
        """stmt narrowed to this scope: hospital_column in the hospitals (or, for tickets, engineer_column the
        engineer's own)."""
        if self.hospital_ids is None:
            return stmt
        allowed: ColumnElement[bool] = hospital_column.in_(sorted(self.hospital_ids)) if self.hospital_ids \
            else false()
        if self.engineer_id is not None and engineer_column is not None:
            allowed = or_(allowed, engineer_column == self.engineer_id)
        return stmt.where(allowed)  # type: ignore[attr-defined, no-any-return]


def engineer_scope(user: User) -> Scope | None:
    """An engineer's scope when they serve listed hospitals; None for everyone else (and for an engineer who
    serves every hospital: none listed). The one rule the APIs, the ticket checks and the device pages share."""
    if user.role == Role.engineer and user.service_hospital_ids:
        return Scope.served_by(user.id, list(user.service_hospital_ids))
    return None
