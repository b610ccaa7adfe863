"""Tenant scope: which hospitals a caller may see. Services filter by it; out of scope reads as 404."""

from __future__ import annotations

from dataclasses import dataclass

from cloud.errors import NotFound


@dataclass(frozen=True)
class Scope:
    """hospital_id None means every hospital (staff); otherwise only that one (a verified lab user)."""

    hospital_id: int | None

    @classmethod
    def everything(cls) -> Scope:
        """The scope of staff, the CLI and system flows."""
        return cls(hospital_id=None)

    def allows(self, hospital_id: int | None) -> bool:
        """Whether a record of hospital_id is visible in this scope."""
        return self.hospital_id is None or self.hospital_id == hospital_id

    def check(self, hospital_id: int | None, what: str, ident: object) -> None:
        """Raise NotFound (never Forbidden: other tenants' ids must not be probeable)."""
        if not self.allows(hospital_id):
            raise NotFound(f"{what} {ident} not found")
