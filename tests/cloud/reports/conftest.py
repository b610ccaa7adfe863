"""Report tests run the app with a recording notification channel beside the in-app one."""

from __future__ import annotations

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
