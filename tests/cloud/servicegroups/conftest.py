"""Service group tests run the app with a recording notification channel beside the in-app one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cloud.config import Settings
from cloud.main import create_app
from cloud.notify.channels import RecordingChannel


@pytest.fixture
def recording() -> RecordingChannel:
    """A channel that remembers what it was asked to deliver."""
    return RecordingChannel()


@pytest.fixture
def app(settings: Settings, recording: RecordingChannel):  # noqa: ANN201
    """The cloud app with the recording channel."""
    return create_app(settings, channels=[recording])


@pytest.fixture(autouse=True)
def _bot_settles(app: Any) -> Iterator[None]:
    """The bot (cloud/bot) answers lab users on its own threads: let it finish before the database goes."""
    yield
    flows = getattr(app.state, "bot_flows", None)
    if flows is not None:
        flows.drain()
