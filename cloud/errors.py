"""Domain errors raised by services; the app turns each into one HTTP status with a clear message."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of the errors a service raises for a caller's mistake."""

    status_code = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does (other tenants)."""

    status_code = 404


class Conflict(DomainError):
    """The request clashes with the current state (duplicate, concurrent change, invalid transition)."""

    status_code = 409


class Forbidden(DomainError):
    """The caller is known but may not do this."""

    status_code = 403


class Invalid(DomainError):
    """The request is well-formed but its content is wrong; `errors` lists field-level reasons."""

    status_code = 422

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, errors=errors or [])
