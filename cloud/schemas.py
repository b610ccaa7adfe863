"""Shapes shared by every domain's API: pages of results and error bodies."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):  # noqa: UP046 - PEP 695 syntax needs Python 3.12
    """One page of a listing, with the total so clients can paginate."""

    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorBody(BaseModel):
    """What every 4xx answer carries: a sentence for people and, for 422, field-level reasons."""

    detail: str
    errors: list[dict[str, Any]] = []
