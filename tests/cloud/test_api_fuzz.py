"""Schemathesis over the whole API (issue #13): requests generated from the OpenAPI document, valid and invalid,
to every operation, as an administrator (who passes every role check, so the generated values reach the handlers)
and as an anonymous caller: no answer is a server error.

Bounded: a few examples per operation (MEDFIX_FUZZ_EXAMPLES, default 6), one database for all of them. Schemathesis'
pytest plugin (from_fixture) does not run under pytest 9, so each operation's strategy is driven by Hypothesis here.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.cloud.world import World

EXAMPLES = int(os.environ.get("MEDFIX_FUZZ_EXAMPLES", "6"))


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=list(HealthCheck))


def server_errors(app: Any, headers: dict[str, str]) -> list[str]:
    """Each operation's generated requests, sent in-process; what answered 5xx (with the request to repeat it)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @FUZZ
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every operation's failure is reported, not only the first
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations > 100
    return failures


# One backend each (both would double the time): PostgreSQL's 32-bit INTEGER and typed columns are the stricter
# for what an administrator's requests reach; anonymous requests mostly stop at the door.
@pytest.mark.parametrize("backend", ["postgresql"])
def test_no_request_of_an_administrator_gets_a_server_error(client: TestClient, world: World) -> None:
    failures = server_errors(client.app, world.headers("admin"))
    assert failures == [], "\n\n".join(failures)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_no_anonymous_request_gets_a_server_error(client: TestClient) -> None:
    failures = server_errors(client.app, {})
    assert failures == [], "\n\n".join(failures)


def test_an_id_the_database_cannot_hold_is_a_clear_422(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    for url in ("/api/v1/devices/3000000000", "/api/v1/tickets/99999999999999999999",
                "/api/v1/devices?hospital_id=3000000000"):
        response = client.get(url, headers=admin)
        # PostgreSQL's INTEGER ends at 2^31, SQLite's at 2^63: past it, a 422 in words, never a 500.
        assert response.status_code in (200, 404, 422), (url, response.status_code)
        if response.status_code == 422:
            assert response.json()["detail"] == "数值超出范围 / a value is out of range"
    assert client.get("/api/v1/tickets/99999999999999999999", headers=admin).status_code == 422
