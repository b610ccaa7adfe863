"""Fixtures shared by the edge tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.edge.cloud_server import CloudServer


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[CloudServer]:
    """The real cloud app with one registered gateway (not started: each test decides when it is up)."""
    from tests.edge.cloud_server import CloudServer  # the cloud stack is imported only by the tests that use it

    server = CloudServer(tmp_path)
    try:
        yield server
    finally:
        server.close()
