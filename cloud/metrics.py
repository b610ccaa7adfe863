"""What a cloud process tells Prometheus: requests, ingest, scoring, live consoles, notifications, background jobs.

Each API worker (and each `medfix cloud score` process) is scraped on its own port: counters live in this
process's memory, so no multiprocess mode is needed and a restarted worker simply starts its counters again
(Prometheus' rate() handles that). The deployment keeps /metrics off the public site (deploy/cloud/nginx) and
scrapes the workers' loopback ports (deploy/cloud/prometheus); the app itself answers /metrics only to the
loopback address or to the bearer of MEDFIX_METRICS_TOKEN, so a proxy that forgot the rule leaks nothing.

Labels are bounded on purpose: a request is labelled by its route's template (/api/v1/tickets/{ticket_id}),
never by its path, and a path no route knows is "unmatched".
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.db import utcnow

HTTP_REQUESTS = Counter("medfix_http_requests", "HTTP requests answered, by route template and status.",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("medfix_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
INGEST_BATCHES = Counter("medfix_ingest_batches", "Edge batches ingested, by transport; duplicates are re-sends "
                         "answered from the ledger.", ["transport", "outcome"])
INGEST_READINGS = Counter("medfix_ingest_readings", "Readings stored from edge batches.", ["transport"])
INGEST_LAG = Histogram("medfix_ingest_lag_seconds", "From a batch's newest reading to its storing (the edge's "
                       "buffering and the network).", ["transport"],
                       buckets=(1, 5, 15, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600))
SCORED_READINGS = Counter("medfix_scored_readings", "Readings scored by the anomaly detectors.")
SCORING_LAG = Histogram("medfix_scoring_lag_seconds", "From a batch's ingest to its scoring.",
                        buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900))
NOTIFICATIONS = Counter("medfix_notification_deliveries", "Notifications handed to a channel (in_app, wechat, "
                        "...), by outcome: sent, failed, or not_set_up (the person has no such address).",
                        ["channel", "outcome"])
JOB_RUNS = Counter("medfix_job_runs", "Background job runs, by outcome (ok, failed).", ["job", "outcome"])
JOB_DURATION = Histogram("medfix_job_duration_seconds", "How long a background job's run took.", ["job"],
                         buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900))
JOB_LAST_SUCCESS = Gauge("medfix_job_last_success_timestamp_seconds", "When a background job last ran without "
                         "error (Unix time).", ["job"])

UNMATCHED = "unmatched"
STATIC_PREFIXES = ("/static/", "/vendor/")


def route_of(scope: Scope) -> str:
    """The template of the route that answered (bounded), else the static mount or 'unmatched'."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    path = scope.get("path", "")
    for prefix in STATIC_PREFIXES:
        if path.startswith(prefix):
            return prefix + "*"
    return UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware: each HTTP request's latency and status by route template (WebSockets pass)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler is what the server answers with

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = route_of(scope)
            method = scope.get("method", "GET")
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()


def record_ingest(transport: str, readings: Sequence[Sequence[Any]], *, duplicate: bool) -> None:
    """Count a committed batch; readings are codec RawReadings (observed_at third)."""
    INGEST_BATCHES.labels(transport, "duplicate" if duplicate else "stored").inc()
    if duplicate or not readings:
        return
    INGEST_READINGS.labels(transport).inc(len(readings))
    newest: datetime = max(reading[2] for reading in readings)
    INGEST_LAG.labels(transport).observe(max(0.0, (utcnow() - newest).total_seconds()))


def record_delivery(channel: str, *, ok: bool, not_set_up: bool = False) -> None:
    """Count one notification handed to a channel."""
    NOTIFICATIONS.labels(channel, "sent" if ok else "not_set_up" if not_set_up else "failed").inc()


def record_scoring(readings: int, waited_s: Iterable[float]) -> None:
    """Count readings scored, and how long each of their batches waited after its ingest."""
    SCORED_READINGS.inc(readings)
    for seconds in waited_s:
        SCORING_LAG.observe(max(0.0, seconds))


def timed_job(name: str, work: Callable[[], object]) -> Callable[[], object]:
    """work, counting its runs and failures and timing them (cloud/jobs.py wraps every periodic job in it)."""

    def run() -> object:
        started = time.perf_counter()
        try:
            result = work()
        except Exception:
            JOB_RUNS.labels(name, "failed").inc()
            raise
        finally:
            JOB_DURATION.labels(name).observe(time.perf_counter() - started)
        JOB_RUNS.labels(name, "ok").inc()
        JOB_LAST_SUCCESS.labels(name).set(time.time())
        return result

    return run


class Gauges(Collector):
    """The values read when scraped: how many are waiting now (queues, live sockets), from callables."""

    def __init__(self, readers: dict[str, tuple[str, Callable[[], float | None]]]) -> None:
        self.readers = readers

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, (help_text, read) in self.readers.items():
            try:
                value = read()
            except Exception:  # a part that is closing must not break the scrape of the others
                value = None
            if value is not None:
                yield GaugeMetricFamily(name, help_text, value=value)


def app_gauges(state: Any) -> CollectorRegistry:
    """A registry of one app's live numbers (tests build many apps in one process; each reports its own)."""
    registry = CollectorRegistry(auto_describe=False)
    readers: dict[str, tuple[str, Callable[[], float | None]]] = {
        "medfix_websocket_connections": ("Live console and reporter WebSockets on this worker.",
                                         lambda: state.hub.connection_count),
        "medfix_scoring_queue_readings": ("Readings waiting for this process's scoring thread.",
                                          lambda: state.scorer.queued),
        "medfix_scoring_queue_oldest_seconds": ("How long the oldest batch waiting for scoring has waited.",
                                                lambda: state.scorer.oldest_wait_s),
        "medfix_scoring_handover_pending": ("Readings waiting to be handed to the scoring workers through Redis "
                                            "(a Redis outage makes it grow).",
                                            lambda: None if state.scoring_publisher is None
                                            else state.scoring_publisher.pending()),
    }
    registry.register(Gauges(readers))
    return registry


def scrape_allowed(request: Request, token: str) -> bool:
    """Loopback callers (Prometheus on the host, behind nginx's deny) or the bearer of the metrics token."""
    if token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposition(*registries: CollectorRegistry) -> Response:
    """The text format Prometheus scrapes: this process's counters, then the app's gauges."""
    body = b"".join(generate_latest(registry) for registry in (REGISTRY, *registries))
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
