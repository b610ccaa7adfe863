"""A person who is not on a channel (no WeChat binding) is recorded quietly; a real delivery failure is a warning."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.notify.channels import Outgoing, Result
from cloud.notify.messages import Text
from cloud.notify.models import Delivery
from cloud.notify.service import notify
from tests.cloud.world import World


@dataclass
class FixedChannel:
    """Answers every message with one result."""

    name: str
    result: Result

    def send(self, message: Outgoing) -> Result:
        return self.result


@pytest.mark.parametrize(("result", "warned"), [
    (Result(ok=False, error="no WeChat binding for this user", not_set_up=True), False),
    (Result(ok=False, error="user refused template messages (43004)"), True),
])
def test_only_real_failures_are_warned_about_and_both_are_recorded(
        db: Session, world: World, caplog: pytest.LogCaptureFixture, result: Result, warned: bool) -> None:
    with caplog.at_level(logging.DEBUG, logger="medfix"):
        notify(db, user_id=world.users["engineer"], event_key="test:1", kind="ticket.dispatch",
               text=Text("新工单", "请处理"), link="/engineer", channels=[FixedChannel("wechat", result)])
        db.commit()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "could not deliver" in r.getMessage()]
    assert bool(warnings) is warned
    assert any("could not deliver" in r.getMessage() for r in caplog.records)  # at debug level at least
    [delivery] = db.execute(select(Delivery).where(Delivery.channel == "wechat")).scalars()
    assert (delivery.status, delivery.error) == ("failed", result.error)
