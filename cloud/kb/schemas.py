"""Request and response bodies of the knowledge-base API (and the shape the importer checks each line against)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloud.kb.models import AttachmentKind, KbStatus

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"


def _clean_list(values: list[str]) -> list[str]:
    # Blank items and repeats say nothing; keep the first spelling of each, in order.
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        text = value.strip()
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    return out


class AttachmentIn(BaseModel):
    """An attachment as the JSONL and the API give it: a link, or a manual section by its page URL."""

    model_config = ConfigDict(extra="forbid")

    kind: AttachmentKind
    title: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=500)


class KbEntryIn(BaseModel):
    """A new or edited entry. `key` is the stable external id (generated when left out on create)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key: str | None = Field(None, pattern=KEY_PATTERN)
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=20000)
    variants: list[str] = Field(default_factory=list, max_length=200)
    models: list[str] = Field(default_factory=list, max_length=50)
    category: str = Field("", max_length=40)
    codes: list[str] = Field(default_factory=list, max_length=50)
    # None leaves the attachments as they are (an edit of the text alone); a list replaces them.
    attachments: list[AttachmentIn] | None = Field(None, max_length=30)

    @field_validator("variants", "models", "codes")
    @classmethod
    def _lists(cls, values: list[str]) -> list[str]:
        for value in values:
            if len(value) > 500:
                raise ValueError("an item is longer than 500 characters")
        return _clean_list(values)


class AttachmentOut(BaseModel):
    """An attachment with the links a reader follows."""

    id: int
    kind: AttachmentKind
    title: str
    url: str
    cover_url: str | None = None
    manual_id: int | None = None
    section_number: int | None = None


class KbEntryOut(BaseModel):
    """An entry as the API returns it."""

    id: int
    key: str
    question: str
    answer: str
    variants: list[str]
    models: list[str]
    category: str
    codes: list[str]
    status: KbStatus
    attachments: list[AttachmentOut]
    created_at: datetime
    updated_at: datetime


class RevisionOut(BaseModel):
    """One version of an entry."""

    version: int
    action: str
    actor: str
    created_at: datetime
    snapshot: dict[str, Any]


class SectionOut(BaseModel):
    """A manual section (text included only where asked)."""

    id: int
    number: int
    title: str
    page_start: int
    page_end: int
    url: str
    text: str | None = None


class ManualOut(BaseModel):
    """An uploaded manual and its sections."""

    id: int
    title: str
    models: list[str]
    pages: int
    url: str
    sections: list[SectionOut]
    created_at: datetime


class ImportOut(BaseModel):
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool
    created: list[str]
    updated: list[str]
    unchanged: list[str]
