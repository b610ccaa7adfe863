"""The access log leaves out accepted gateway batches (they would bury everything else) but keeps refusals; secrets in
URLs never reach the logs."""

from __future__ import annotations

import logging

import pytest

from cloud.main import QuietIngestLog
from cloud.security import RedactedAccessLog


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


def test_secrets_in_urls_are_kept_out_of_the_logs() -> None:
    line = access_line("GET", "/t/MF-000001?k=s3cret-key&tab=1", 200)
    RedactedAccessLog().filter(line)
    assert "s3cret" not in line.getMessage() and "k=***&tab=1" in line.getMessage()
    oauth = access_line("GET", "/wechat/oauth/callback?code=abc123&state=xyz", 302)
    RedactedAccessLog().filter(oauth)
    assert "abc123" not in oauth.getMessage() and "xyz" not in oauth.getMessage()
    socket = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 0, '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:50000", "/ws/console?token=abcdef&batch=1"), None)
    RedactedAccessLog().filter(socket)
    assert socket.getMessage().endswith('"WebSocket /ws/console?token=***&batch=1" [accepted]')


def test_the_app_installs_the_redaction_on_uvicorns_loggers() -> None:
    from cloud.main import _quiet_ingest_log

    _quiet_ingest_log()
    for name in ("uvicorn.access", "uvicorn.error"):
        assert any(isinstance(f, RedactedAccessLog) for f in logging.getLogger(name).filters), name
