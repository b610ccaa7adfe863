"""Bot REST API under /api/v1/bot: ask, feedback, and agents' resolutions (learning)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloud.audit.service import Actor
from cloud.auth.models import Role, User
from cloud.bot import replies, service
from cloud.bot.holder import holder_of
from cloud.db import SessionDep
from cloud.deps import OptionalUser, SettingsDep, require_roles
from cloud.errors import DomainError, Invalid
from cloud.ratelimit import RateLimiter, limiter_for
from cloud.tenancy import Scope

router = APIRouter(prefix="/api/v1/bot", tags=["bot"])

ANONYMOUS_PER_MINUTE = 20  # the repair page asks while the reporter types (debounced); a person types slowly
USER_PER_MINUTE = 60


class RateLimited(DomainError):
    """Too many questions from one address or account in a minute."""

    status_code = 429


class AskIn(BaseModel):
    """A question; device_id narrows it to the device's model; conversation_id groups a chat's asks."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field("", max_length=20000)  # longer than MAX_QUESTION so the 422 says it in words
    device_id: int | None = None
    conversation_id: str | None = Field(None, max_length=64)
    channel: str | None = Field(None, pattern="^(web|report)$")


class AltOut(BaseModel):
    """A next-best entry."""

    entry_id: int
    question: str
    confidence: float


class AskOut(BaseModel):
    """The bot's answer (answer null when it hands over); text is the whole reply as a chat would show it."""

    ask_id: int
    answer: str | None
    entry_id: int | None
    confidence: float
    handoff: bool
    reason: str
    alternatives: list[AltOut]
    materials: list[dict[str, Any]]
    text: str
    intent: str
    urgent: bool
    repair_url: str | None
    conversation_id: str
    question: str | None = None


class FeedbackIn(BaseModel):
    """Solved or not; entry_id names the alternative that solved it; anonymous askers repeat conversation_id."""

    model_config = ConfigDict(extra="forbid")

    ask_id: int
    helpful: bool
    entry_id: int | None = None
    conversation_id: str | None = Field(None, max_length=64)


class FeedbackOut(BaseModel):
    """The feedback as stored; handoff when a person takes over."""

    ask_id: int
    helpful: bool
    handoff: bool
    text: str


class NewEntryIn(BaseModel):
    """A KB entry written from a resolved conversation."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = None
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=20000)
    variants: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    category: str = ""
    codes: list[str] = Field(default_factory=list)


class ResolveIn(BaseModel):
    """The right entry for an ask, or the agent's answer, or a new entry written from it (in one step)."""

    model_config = ConfigDict(extra="forbid")

    entry_id: int | None = None
    answer: str | None = Field(None, max_length=20000)
    new_entry: NewEntryIn | None = None


class ResolveOut(BaseModel):
    """The ask after the agent's verdict."""

    ask_id: int
    resolved_entry_id: int | None
    answer_text: str | None


def _limiter(request: Request) -> RateLimiter:
    return limiter_for(request.app.state, "bot")


def _check_rate(request: Request, user: User | None) -> None:
    if user is not None:
        key, limit = f"u:{user.id}", USER_PER_MINUTE
    else:
        key, limit = f"ip:{request.client.host if request.client else '-'}", ANONYMOUS_PER_MINUTE
    if not _limiter(request).allow(key, limit):
        raise RateLimited(replies.RATE_LIMITED)


def _scope(user: User | None) -> Scope:
    # Anonymous reporters may ask about any device (the repair page is public); lab users only their hospital's.
    if user is None or user.is_staff:
        return Scope.everything()
    return Scope.of_hospital(user.hospital_id)


@router.post("/ask", response_model=AskOut)
def ask(body: AskIn, request: Request, session: SessionDep, settings: SettingsDep, user: OptionalUser) -> AskOut:
    """Answer a question from the knowledge base, or say why not and hand over (logged as a BotAsk).

    Anonymous callers (the repair page) never get a device's label link: they are on its repair page already,
    and a label's code must not be obtainable from a guessable device id."""
    _check_rate(request, user)
    channel = body.channel or ("web" if user is not None else "report")
    result = service.answer(session, bot=holder_of(request.app.state), text=body.text,
                            user_id=user.id if user else None, device_id=body.device_id,
                            conversation_id=body.conversation_id, channel=channel, public_url=settings.public_url,
                            scope=_scope(user), show_repair_url=user is not None)
    session.commit()
    payload = result.payload()
    payload["alternatives"] = [AltOut(**a) for a in payload["alternatives"]]
    return AskOut(**payload)


@router.post("/feedback", response_model=FeedbackOut)
def feedback(body: FeedbackIn, request: Request, session: SessionDep, user: OptionalUser) -> FeedbackOut:
    """Solved / not solved for your own ask; the second feedback on an ask replaces the first."""
    _check_rate(request, user)
    result = service.feedback(session, bot=holder_of(request.app.state), ask_id=body.ask_id, helpful=body.helpful,
                              entry_id=body.entry_id, user_id=user.id if user else None,
                              conversation_id=body.conversation_id)
    session.commit()
    return FeedbackOut(**result)


class EntryOut(BaseModel):
    """An active entry as a suggestion expands to."""

    entry_id: int
    question: str
    answer: str
    materials: list[dict[str, Any]]


@router.get("/entries/{entry_id}", response_model=EntryOut)
def entry(entry_id: int, request: Request, session: SessionDep, user: OptionalUser) -> EntryOut:
    """An active KB entry's answer, for the alternatives the bot suggested (public, like the repair page)."""
    _check_rate(request, user)
    return EntryOut(**service.public_entry(session, entry_id=entry_id))


Resolver = Annotated[User, Depends(require_roles(Role.agent, Role.service_center, Role.admin))]


@router.post("/asks/{ask_id}/resolve", response_model=ResolveOut)
def resolve(ask_id: int, body: ResolveIn, request: Request, session: SessionDep, user: Resolver) -> ResolveOut:
    """Mark the entry that answers an ask (the bot learns the paraphrase) or write a new entry from it."""
    from cloud.kb.schemas import KbEntryIn

    if body.entry_id is not None and body.new_entry is not None:
        raise Invalid("请只选择一种：已有条目（entry_id）或新条目（new_entry）")
    new_entry = None
    if body.new_entry is not None:
        try:
            new_entry = KbEntryIn(**body.new_entry.model_dump())
        except ValidationError as exc:
            errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
            raise Invalid("新条目填写有误", errors=errors) from None
    ask_row = service.resolve(session, bot=holder_of(request.app.state), ask_id=ask_id, entry_id=body.entry_id,
                              answer_text=body.answer if body.answer is not None else (
                                  body.new_entry.answer if body.new_entry else None),
                              new_entry=new_entry, actor=Actor(user_id=user.id, label=user.username),
                              user_id=user.id)
    session.commit()
    return ResolveOut(ask_id=ask_row.id, resolved_entry_id=ask_row.resolved_entry_id, answer_text=ask_row.answer_text)
