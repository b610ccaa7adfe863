"""The Channel interface and the channels that need no outside service: in-app and a recording fake."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from cloud.console.hub import Hub


@dataclass(frozen=True)
class Outgoing:
    """What a channel delivers to one person."""

    user_id: int
    notification_id: int
    event_key: str
    kind: str
    title: str
    body: str
    link: str
    subject: str = ""  # what people call the thing, e.g. the ticket number WO-000042


@dataclass(frozen=True)
class Result:
    """How a delivery went."""

    ok: bool
    error: str | None = None
    external_id: str | None = None
    # Not a fault: this person is simply not on this channel (not bound, no template for the kind). Still recorded,
    # but not worth a warning in the log each time.
    not_set_up: bool = False


class Channel(Protocol):
    """A way to reach people (in-app, WeChat, ...). send() never raises for delivery problems."""

    name: str

    def send(self, message: Outgoing) -> Result:
        """Try to deliver message; report how it went."""
        ...


class InAppChannel:
    """The web console and pages: the notification row is the message; a live push reaches open pages."""

    name = "in_app"

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def send(self, message: Outgoing) -> Result:
        """Push the notification to the user's open pages on every worker."""
        self.hub.publish({"type": "notification", "user_id": message.user_id, "id": message.notification_id,
                          "kind": message.kind, "title": message.title, "body": message.body, "link": message.link})
        return Result(ok=True)


@dataclass
class RecordingChannel:
    """A channel for tests: remembers every message; can be told to fail."""

    name: str = "recording"
    fail_with: str | None = None
    sent: list[Outgoing] = field(default_factory=list)

    def send(self, message: Outgoing) -> Result:
        """Record the message (or fail as configured)."""
        if self.fail_with:
            return Result(ok=False, error=self.fail_with)
        self.sent.append(message)
        return Result(ok=True, external_id=f"rec-{len(self.sent)}")
