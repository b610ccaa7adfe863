"""The access log leaves out accepted gateway batches (they would bury everything else) but keeps refusals."""

from __future__ import annotations

import logging

import pytest

from cloud.main import QuietIngestLog


def access_line(method: str, path: str, status: int) -> logging.LogRecord:
    # The shape uvicorn.access logs: client, method, path, HTTP version, status.
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 0, '%s - "%s %s HTTP/%s" %d',
                             ("127.0.0.1:50000", method, path, "1.1", status), None)


@pytest.mark.parametrize(("method", "path", "status", "logged"), [
    ("POST", "/api/v1/ingest", 200, False),
    ("POST", "/api/v1/ingest", 401, True),
    ("POST", "/api/v1/ingest", 422, True),
    ("POST", "/api/v1/ingest", 503, True),
    ("GET", "/console", 200, True),
    ("POST", "/api/v1/tickets", 200, True),
])
def test_only_accepted_ingest_batches_are_left_out(method: str, path: str, status: int, logged: bool) -> None:
    assert QuietIngestLog().filter(access_line(method, path, status)) is logged
