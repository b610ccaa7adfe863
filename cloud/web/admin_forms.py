"""What the admin console pages share: the admin-only page dependency, form answers for admin_forms.js."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from cloud.audit.service import Actor
from cloud.auth.models import Role, User
from cloud.i18n import pick_language, translate
from cloud.web.pages import LANGUAGE_COOKIE, page_user

AdminPage = Annotated[User, page_user(Role.admin)]


def actor(user: User) -> Actor:
    """The audit actor for the admin at the keyboard."""
    return Actor(user_id=user.id, label=user.username)


def translator(request: Request) -> Any:
    """`_` for the request's language."""
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    return lambda text: translate(text, language)


def done(request: Request, message: str, *, redirect: str | None = None, **extra: Any) -> JSONResponse:
    """A successful form post: admin_forms.js shows message and goes to redirect (or reloads)."""
    return JSONResponse({"ok": True, "message": translator(request)(message), "redirect": redirect, **extra})


def refuse(request: Request, message: str, *, field: str | None = None, status: int = 422) -> JSONResponse:
    """A refused form post: the translated message is shown by the form (next to field when given)."""
    _ = translator(request)
    errors = [{"field": field, "message": _(message)}] if field else []
    return JSONResponse({"ok": False, "detail": _(message), "errors": errors}, status_code=status)


# pydantic error types -> what a person is told; the field names the label they see.
_FIELD_MESSAGES = {
    "name": "Give a name (up to 200 characters).",
    "latitude": "Latitude is a number from -90 to 90.",
    "longitude": "Longitude is a number from -180 to 180.",
    "geofence_radius_m": "The radius is a whole number of metres from 10 to 50000.",
    "time_zone": "Unknown time zone.",
    "hotline": "The hotline is a phone number: digits, spaces, '-' and an optional leading '+'.",
    "address": "The address is up to 400 characters.",
    "aliases": "Each alias is up to 200 characters.",
    "username": "A username is 3 to 100 letters, digits, '.', '_', '@' or '-'.",
    "password": "A password has at least 8 characters.",
    "capacity": "Capacity is a whole number from 0 to 1000.",
}


def refuse_invalid(request: Request, exc: ValidationError) -> JSONResponse:
    """A schema's refusal as field messages in the page's language."""
    _ = translator(request)
    errors = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        text = _FIELD_MESSAGES.get(field)
        if text is None and err["type"] == "value_error" and "latitude and longitude" in err["msg"]:
            field, text = "latitude", "Give both latitude and longitude, or neither."
        errors.append({"field": field, "message": _(text or "Check this value.")})
    first = errors[0]["message"] if errors else _("Check this value.")
    return JSONResponse({"ok": False, "detail": first, "errors": errors}, status_code=422)


def number(value: str, *, integer: bool = False) -> float | int | None | str:
    """A form field as a number, None when blank, or the text itself (the schema then refuses it)."""
    text = value.strip()
    if not text:
        return None
    try:
        return int(text) if integer else float(text)
    except ValueError:
        return text
