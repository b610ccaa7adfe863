"""Service group API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloud.servicegroups.models import GroupStatus, MemberKind, MessageKind, RequestKind, RequestStatus
from cloud.tickets.schemas import AttachmentRef

MAX_TEXT = 4000


class MessageIn(BaseModel):
    """A message typed, photographed or spoken into a group."""

    model_config = ConfigDict(extra="forbid")

    kind: MessageKind = MessageKind.text
    text: str = Field("", max_length=MAX_TEXT)
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=9)
    reply_to_id: int | None = None
    device_id: int | None = None  # the device the message is about, when the sender knows it


class AuthorOut(BaseModel):
    """Who wrote a message."""

    member_id: int | None
    user_id: int | None
    name: str
    kind: MemberKind | None


class MessageAttachmentOut(BaseModel):
    """A photo or voice note of a message."""

    id: int
    kind: str
    content_type: str
    duration_s: int | None
    transcript: str | None
    url: str


class MessageOut(BaseModel):
    """One chat message as every member sees it."""

    id: int
    group_id: int
    kind: MessageKind
    text: str
    transcript: str | None
    author: AuthorOut | None
    attachments: list[MessageAttachmentOut]
    reply_to_id: int | None
    meta: dict[str, Any]
    ticket_id: int | None
    ticket_number: str | None
    created_at: datetime


class GroupOut(BaseModel):
    """A group in a member's list, with their unread count and the last message."""

    id: int
    hospital_id: int
    hospital_name: str
    name: str
    status: GroupStatus
    device_group_id: int | None
    department_id: int | None
    member_count: int
    unread: int
    last_message: MessageOut | None
    handoffs: int = 0  # handed-over questions waiting (desk view)


class MemberOut(BaseModel):
    """A member of a group."""

    id: int
    user_id: int | None
    name: str
    kind: MemberKind


class HistoryOut(BaseModel):
    """A page of messages, oldest first; `more` says whether older ones exist."""

    items: list[MessageOut]
    more: bool
    last_read_message_id: int | None


class ReadIn(BaseModel):
    """How far the member has read."""

    model_config = ConfigDict(extra="forbid")

    message_id: int = Field(ge=1)


class ToTicketIn(BaseModel):
    """Turn a message into a repair ticket; name the device when the message does not."""

    model_config = ConfigDict(extra="forbid")

    device_id: int | None = None
    description: str | None = Field(None, max_length=5000)


class ToTicketOut(BaseModel):
    """The ticket a message became."""

    ticket_id: int
    number: str
    created: bool


class GroupRequestIn(BaseModel):
    """Ask for a group of a device group or a department."""

    model_config = ConfigDict(extra="forbid")

    hospital_id: int | None = None  # staff name the hospital; a lab user's is their own
    kind: RequestKind
    device_group_id: int | None = None
    department_id: int | None = None
    name: str = Field("", max_length=100)
    reason: str = Field(min_length=2, max_length=1000)


class GroupRequestOut(BaseModel):
    """A request for a new group and its decision."""

    id: int
    hospital_id: int
    hospital_name: str
    kind: RequestKind
    device_group_id: int | None
    department_id: int | None
    name: str
    reason: str
    status: RequestStatus
    requested_by: int | None
    requested_by_name: str
    decided_by: int | None
    decided_at: datetime | None
    decision_note: str | None
    group_id: int | None
    created_at: datetime


class DecisionIn(BaseModel):
    """An admin's decision on a request."""

    model_config = ConfigDict(extra="forbid")

    approve: bool
    note: str = Field("", max_length=400)
