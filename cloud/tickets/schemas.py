"""Request and response bodies of the ticket API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from cloud.tickets.models import AttachmentKind, Source, Urgency
from cloud.tickets.state import Action, Status, Tier

if TYPE_CHECKING:
    from cloud.auth.models import User

# A mainland mobile (11 digits from 13x to 19x, optionally +86) or a landline with its area code and an
# optional extension (021-64041990, 0571-8888888-123); spaces and brackets people type are ignored.
_MOBILE = re.compile(r"(?:\+?86)?1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?[1-9]\d{6,7}(?:-\d{1,6})?")
PHONE_MESSAGE = ("enter a mainland mobile number (11 digits, e.g. 13800001111) or a landline with its area code "
                 "(e.g. 021-64041990) · 请填写正确的手机号或带区号的座机号")


def valid_phone(text: str) -> bool:
    """Whether the text is a mainland mobile or landline number as people write them."""
    compact = re.sub(r"[\s()（）]", "", text).replace("—", "-")
    return bool(_MOBILE.fullmatch(compact.replace("-", "")) or _LANDLINE.fullmatch(compact))


class AttachmentRef(BaseModel):
    """An uploaded file and the key its upload returned."""

    model_config = ConfigDict(extra="forbid")

    id: int
    key: str = Field(min_length=8, max_length=100)
    # A voice note's transcript as the reporter left it (speech recognition may finish after the upload).
    transcript: str | None = Field(None, max_length=5000)


class TicketSubmit(BaseModel):
    """A repair request. Name the device or the group (and optionally the affected member)."""

    model_config = ConfigDict(extra="forbid")

    device_id: int | None = None
    group_id: int | None = None
    # The scanned label's code (or a by-ID pass): how a reporter without a trusted account shows presence.
    qr_code: str | None = Field(None, max_length=64)
    description: str = Field(min_length=1, max_length=5000)
    urgency: Urgency = Urgency.normal
    reporter_name: str = Field("", max_length=100)
    reporter_phone: str = Field("", max_length=32)
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=10)
    source: Source = Source.web

    @model_validator(mode="after")
    def _target(self) -> TicketSubmit:
        if self.device_id is None and self.group_id is None:
            raise ValueError("name the device_id or the group_id")
        return self

    @field_validator("reporter_name", "reporter_phone", mode="after")
    @classmethod
    def _contact_format(cls, value: str, info: ValidationInfo) -> str:
        # Contact details are checked where they are given; who must give them is contact_errors' business.
        value = value.strip()
        if value and info.field_name == "reporter_phone" and not valid_phone(value):
            raise PydanticCustomError("phone_format", PHONE_MESSAGE)
        return value

    def contact_errors(self, user: User | None) -> list[dict[str, str]]:
        """Missing contact fields of a reporter: a signed-in reporter's profile fills them; staff need none."""
        if user is not None and user.is_staff:
            return []
        name = self.reporter_name or (user.full_name if user else "")
        # A signed-in reporter is reachable through the account: only an anonymous one must leave a phone.
        phone = self.reporter_phone or (user.phone if user else "") or ("-" if user else "")
        errors = []
        if not name.strip():
            errors.append({"field": "reporter_name", "message": "enter your name (请填写姓名)"})
        if not phone.strip():
            errors.append({"field": "reporter_phone", "message": "enter a phone number (请填写联系电话)"})
        return errors


class ConversationTurn(BaseModel):
    """One message of the bot conversation a ticket was escalated with."""

    model_config = ConfigDict(extra="forbid")

    who: Literal["user", "bot", "agent"]
    text: str = Field(min_length=1, max_length=5000)
    at: datetime
    entry_id: int | str | None = None  # the KB entry the bot answered with


class Escalation(BaseModel):
    """What a bot handover brings to the remote service centre: the conversation and the bot ask log rows."""

    model_config = ConfigDict(extra="forbid")

    conversation: list[ConversationTurn] = Field(min_length=1, max_length=200)
    ask_ids: list[int] = Field(default_factory=list, max_length=100)


class PartIn(BaseModel):
    """A part used in the repair: its name, the part number when known, how many."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    part_no: str | None = Field(None, max_length=100)
    qty: int = Field(1, ge=1, le=999)

    @field_validator("name", "part_no", mode="after")
    @classmethod
    def _strip(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip()
        if info.field_name == "name" and not value:
            raise PydanticCustomError("part_name", "name the part")
        return value or None


class ActionIn(BaseModel):
    """An action on a ticket; `version` is the version the caller saw (stale → 409).

    The resolving actions (complete, answer, and self_serve optionally) carry what the fault was: a code of the fault
    category list for the device (GET /api/v1/fault-categories), the root cause and the parts used.
    """

    model_config = ConfigDict(extra="forbid")

    action: Action
    version: int | None = None
    text: str | None = Field(None, max_length=5000)
    reason: str | None = Field(None, max_length=400)
    engineer_id: int | None = None
    findings: str | None = Field(None, max_length=5000)
    parts_used: str | None = Field(None, max_length=2000)  # free text, as older clients send it
    fault_category: str | None = Field(None, max_length=50)
    root_cause: str | None = Field(None, max_length=2000)
    parts: list[PartIn] | None = Field(None, max_length=30)
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=10)
    rating_overall: int | None = Field(None, ge=1, le=5)
    rating_speed: int | None = Field(None, ge=1, le=5)
    rating_attitude: int | None = Field(None, ge=1, le=5)
    rating_skill: int | None = Field(None, ge=1, le=5)
    rating_comment: str | None = Field(None, max_length=1000)


class AttachmentOut(BaseModel):
    """A ticket's photo or voice note."""

    id: int
    kind: AttachmentKind
    content_type: str
    size: int
    duration_s: int | None
    transcript: str | None
    url: str
    # ready; pending while a WeChat photo or voice note is fetched and converted; failed (a voice note then
    # plays its original recording when there is one: url is set).
    state: str = "ready"


class UploadOut(AttachmentOut):
    """A fresh upload with the key needed to attach it."""

    key: str


class TimelineEntry(BaseModel):
    """One step in a ticket's history."""

    at: datetime
    action: str
    actor: str
    actor_name: str | None = None  # the person's full name; None for system actors
    status: str | None
    text: str | None
    internal: bool
    details: dict[str, Any]


class TicketOut(BaseModel):
    """A ticket as its viewer may see it, with the actions that viewer may take now."""

    id: int
    number: str
    status: Status
    version: int
    source: Source
    urgency: Urgency
    priority: int
    hospital_id: int
    hospital_name: str
    device_id: int | None
    device_system_number: str | None
    device_model: str | None
    device_department: str | None
    group_id: int | None
    group_name: str | None
    description: str
    reporter_name: str
    reporter_phone: str | None
    agent_id: int | None
    engineer_id: int | None
    engineer_name: str | None
    findings: str | None
    parts_used: str | None
    cancel_reason: str | None
    rating: dict[str, Any] | None
    tier: Tier | None = None  # the level it was solved at; None while open
    # The basic/advanced predictor's estimate at submission that an engineer must go on site, and the route it
    # suggests: 'dispatch', 'remote' or None (cloud/profiles/predictor.py). Staff only.
    onsite_probability: float | None = None
    onsite_route: str | None = None
    # What the fault was: the category's code and its name in the caller's language, the root cause, the parts;
    # how often the reporter reopened it (0: fixed the first time).
    fault_category: str | None = None
    fault_category_name: str | None = None
    root_cause: str | None = None
    parts: list[PartIn] | None = None
    reopen_count: int = 0
    conversation: list[ConversationTurn] | None = None  # the bot conversation it was escalated with
    ask_ids: list[int] | None = None
    first_response_due_at: datetime
    resolution_due_at: datetime
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attachments: list[AttachmentOut]
    allowed_actions: list[Action]
    # Only in the single-ticket view: listings would pay one audit query per ticket for it.
    timeline: list[TimelineEntry] | None = None
    # Listings only: the other open tickets of the same device (the desk's "possible duplicate" hint).
    possible_duplicates: list[int] = Field(default_factory=list)


class TierCounts(BaseModel):
    """Solved cases by tier: basic (self-served), remote, on site; `self_served` counts basic."""

    basic: int
    remote: int
    on_site: int
    total: int
    self_served_rate: float | None  # basic / total; None when nothing was solved


class SubmitOut(BaseModel):
    """The created (or replayed) ticket and the reporter's private link."""

    ticket: TicketOut
    reporter_key: str | None
    reporter_url: str | None
    created: bool


class EngineerSuggestion(BaseModel):
    """An engineer who serves this hospital and device category, with their current load."""

    id: int
    name: str
    open_tickets: int
    matches_category: bool


class MergeIn(BaseModel):
    """Merge two open tickets of the same device: the newer one goes into the older one."""

    model_config = ConfigDict(extra="forbid")

    other_id: int


class MergeOut(BaseModel):
    """The ticket kept and the one merged into it."""

    kept: TicketOut
    merged: TicketOut


class DeskCounts(BaseModel):
    """The console's counts: open tickets per view, tickets per status in the chosen view."""

    views: dict[str, int]
    statuses: dict[str, int]


class RelatedOut(BaseModel):
    """A ticket's relatives: the reporter's other tickets and the open tickets of the same device."""

    reporter: list[TicketOut]
    duplicates: list[TicketOut]


class FaultCategoryOut(BaseModel):
    """An entry of the fault category list; `name` is in the caller's language."""

    id: int
    code: str
    name: str
    name_zh: str
    name_en: str
    device_category: str | None  # None: every device category
    basic: bool  # solved without an engineer on site as a rule
    position: int
    active: bool


class FaultCategoryIn(BaseModel):
    """A new entry (admin): for one device category, or for every one (None)."""

    model_config = ConfigDict(extra="forbid")

    device_category: str | None = Field(None, max_length=50)
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field("", max_length=100)
    basic: bool = False


class FaultCategoryPatch(BaseModel):
    """Rename, (de)activate or move an entry (admin); moving is within the list `list_category` sees."""

    model_config = ConfigDict(extra="forbid")

    name_zh: str | None = Field(None, min_length=1, max_length=100)
    name_en: str | None = Field(None, max_length=100)
    basic: bool | None = None
    active: bool | None = None
    move: Literal["up", "down"] | None = None
    list_category: str | None = Field(None, max_length=50)


class FaultSuggestionOut(BaseModel):
    """The category to preselect for resolving a ticket, and where it came from (null: nothing points anywhere)."""

    code: str
    name: str
    source: Literal["findings", "alert", "precheck", "previous", "kb", "text"]
    detail: str
    source_label: str  # e.g. 来自报修描述中的“温度”


class FaultSuggestionAnswer(BaseModel):
    """The suggestion (or null) and the list to choose from for the ticket's device."""

    suggestion: FaultSuggestionOut | None
    categories: list[FaultCategoryOut]
