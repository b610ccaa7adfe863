"""GET /metrics: what a hospital's IT department scrapes, and who may scrape it.

Counters are process-wide (one API worker = one process), so each test compares a scrape before and after the
thing it does, never an absolute number.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from cloud.config import Settings
from cloud.db import utcnow
from cloud.jobs import PeriodicJob
from cloud.main import create_app
from protocols.telemetry import encode_batch
from tests.cloud.telemetry.conftest import add_gateway, make_batch
from tests.cloud.tickets.helpers import submit
from tests.cloud.world import World

LOOPBACK = ("127.0.0.1", 40000)


@pytest.fixture
def local(app) -> Iterator[TestClient]:  # noqa: ANN001
    """A client calling from the machine itself, as Prometheus does behind nginx."""
    with TestClient(app, client=LOOPBACK) as test_client:
        yield test_client


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, by (name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_template_never_by_path(local: TestClient, world: World) -> None:
    before = scrape(local)
    admin = world.headers("admin")
    for device_id in world.devices_a[:2]:
        assert local.get(f"/api/v1/devices/{device_id}", headers=admin).status_code == 200
    assert local.get("/api/v1/devices/999999", headers=admin).status_code == 404
    assert local.get("/no/such/page/ab12cd").status_code == 404
    after = scrape(local)
    route = "/api/v1/devices/{device_id}"
    assert value(after, "medfix_http_requests_total", method="GET", route=route, status="200") - value(
        before, "medfix_http_requests_total", method="GET", route=route, status="200") == 2
    assert value(after, "medfix_http_requests_total", method="GET", route=route, status="404") - value(
        before, "medfix_http_requests_total", method="GET", route=route, status="404") == 1
    assert value(after, "medfix_http_request_duration_seconds_count", method="GET", route=route) - value(
        before, "medfix_http_request_duration_seconds_count", method="GET", route=route) == 3
    assert value(after, "medfix_http_requests_total", method="GET", route="unmatched", status="404") > value(
        before, "medfix_http_requests_total", method="GET", route="unmatched", status="404")
    # No label carries a concrete id or a path nobody routes: the series stay bounded however many devices.
    routes = {dict(labels).get("route", "") for (name, labels) in after if name == "medfix_http_requests_total"}
    assert not any(re.search(r"/\d+(/|$)", r) or "ab12cd" in r for r in routes), routes


def test_ingest_counts_batches_readings_and_the_edge_lag(local: TestClient, db, world: World) -> None:  # noqa: ANN001
    gateway = add_gateway(db, world.hospital_a)
    ten_minutes_ago = utcnow() - timedelta(minutes=10)
    readings = [("c702", "temp_c", 37.0 + i / 10, ten_minutes_ago + timedelta(seconds=i)) for i in range(4)]
    body = encode_batch(make_batch(gateway.name, readings=readings, events=[]))
    before = scrape(local)
    headers = {**gateway.headers, "Content-Type": "application/json"}
    assert local.post("/api/v1/ingest", content=body, headers=headers).status_code == 200
    assert local.post("/api/v1/ingest", content=body, headers=headers).status_code == 200  # a re-send
    after = scrape(local)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("medfix_ingest_batches_total", transport="http", outcome="stored") == 1
    assert delta("medfix_ingest_batches_total", transport="http", outcome="duplicate") == 1
    assert delta("medfix_ingest_readings_total", transport="http") == 4  # the re-send stored nothing
    assert delta("medfix_ingest_lag_seconds_count", transport="http") == 1
    # The newest reading was ~10 minutes old when stored: it lands in the 15-minute bucket, not the 5-minute one.
    assert delta("medfix_ingest_lag_seconds_bucket", transport="http", le="900.0") == 1
    assert delta("medfix_ingest_lag_seconds_bucket", transport="http", le="300.0") == 0


def test_live_consoles_are_a_gauge(local: TestClient, world: World) -> None:
    assert value(scrape(local), "medfix_websocket_connections") == 0
    with local.websocket_connect("/ws/console", headers=world.headers("agent")) as ws:
        assert ws.receive_json()["type"] == "hello"
        assert value(scrape(local), "medfix_websocket_connections") == 1
    assert value(scrape(local), "medfix_websocket_connections") == 0


def test_notifications_are_counted_by_channel_and_outcome(local: TestClient, world: World) -> None:
    before = scrape(local)
    response = submit(local, world)  # a new ticket tells the hospital's agents in the app
    assert response.status_code == 201, response.text
    after = scrape(local)
    sent = ("medfix_notification_deliveries_total", {"channel": "in_app", "outcome": "sent"})
    assert value(after, sent[0], **sent[1]) > value(before, sent[0], **sent[1])


def test_background_jobs_report_runs_failures_and_last_success(local: TestClient) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")

    name = f"test_sweep_{uuid.uuid4().hex[:8]}"  # counters are process-wide: a name of this run's own
    job = PeriodicJob(name, 60, flaky)
    job.work()
    with pytest.raises(RuntimeError):
        job.work()
    samples = scrape(local)
    assert value(samples, "medfix_job_runs_total", job=name, outcome="ok") == 1
    assert value(samples, "medfix_job_runs_total", job=name, outcome="failed") == 1
    assert value(samples, "medfix_job_duration_seconds_count", job=name) == 2
    assert value(samples, "medfix_job_last_success_timestamp_seconds", job=name) > 1.7e9


def test_metrics_are_hidden_from_other_machines(app, local: TestClient) -> None:  # noqa: ANN001
    outside = TestClient(app, client=("203.0.113.5", 50000))
    response = outside.get("/metrics")
    assert response.status_code == 404
    assert "medfix_" not in response.text
    assert "/metrics" not in local.get("/openapi.json").json()["paths"]


def test_a_metrics_token_lets_a_remote_prometheus_in_and_nobody_else(settings: Settings) -> None:
    with_token = settings.model_copy(update={"metrics_token": "s3cret-scrape-token-0123456789"})
    app = create_app(with_token)
    with TestClient(app, client=("203.0.113.5", 50000)) as remote, TestClient(app, client=LOOPBACK) as local:
        assert remote.get("/metrics").status_code == 404
        assert remote.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
        granted = remote.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token-0123456789"})
        assert granted.status_code == 200 and "medfix_http_requests_total" in granted.text
        # With a token set, being on the machine is not enough: the token is the one key.
        assert local.get("/metrics").status_code == 404
