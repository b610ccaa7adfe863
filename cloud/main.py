"""create_app(): the FastAPI application with its routers, error handlers, pages and static files."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import api as alerts_api
from cloud.alerts import pages as alerts_pages
from cloud.alerts import precheck_api
from cloud.alerts.digest import send_due
from cloud.alerts.flows import AlertFlows
from cloud.alerts.partition import Publisher, ScoringWorker, build_publisher, build_workers
from cloud.alerts.scoring import Scorer
from cloud.alerts.signals import SignalFlows
from cloud.audit import api as audit_api
from cloud.auth import api as auth_api
from cloud.auth.service import purge_expired_tokens
from cloud.bodylimit import BodyLimit
from cloud.bot import api as bot_api
from cloud.bot import pages as bot_pages
from cloud.bot.flows import BotFlows, install_bot
from cloud.config import Settings, get_settings
from cloud.console import api as console_api
from cloud.console.hub import Hub
from cloud.dashboards import api as dashboards_api
from cloud.dashboards import pages as dashboards_pages
from cloud.dashboards.rollups import refresh_job
from cloud.db import make_engine, make_sessionmaker
from cloud.errors import DomainError
from cloud.events import EventBus
from cloud.identify import api as identify_api
from cloud.identify import pages as identify_pages
from cloud.inflight import InflightLimit, request_slots
from cloud.jobs import PeriodicJob
from cloud.kb import api as kb_api
from cloud.metrics import RequestMetrics, app_gauges, exposition, scrape_allowed
from cloud.notify import api as notify_api
from cloud.notify.channels import Channel, InAppChannel
from cloud.notify.outbox import Outbox
from cloud.profiles import api as profiles_api
from cloud.profiles import pages as profiles_pages
from cloud.profiles.flows import ProfileFlows
from cloud.qr import api as qr_api
from cloud.registry import api as registry_api
from cloud.registry import backup_api
from cloud.reports import api as reports_api
from cloud.reports.flows import ReportFlows
from cloud.reports.service import deliver_due
from cloud.security import RedactedAccessLog, SecurityHeaders
from cloud.servicegroups import api as servicegroups_api
from cloud.servicegroups import pages as servicegroups_pages
from cloud.servicegroups.flows import GroupFlows
from cloud.telemetry import api as telemetry_api
from cloud.telemetry.retention import Retention, run_retention
from cloud.tickets import api as tickets_api
from cloud.tickets import faults_api
from cloud.tickets.flows import TicketFlows
from cloud.tickets.sweeper import sweep
from cloud.tickets.unattached import sweep_unattached
from cloud.web import (
    admin_audit,
    admin_exports,
    admin_exports_accounts,
    admin_faults,
    admin_gateways,
    admin_hospitals,
    admin_users,
    claim_pages,
    content_exports,
    desk_export,
    fallback,
    kb_pages,
    pages,
)
from cloud.web import charts as chart_pages
from cloud.web import desk as desk_pages
from cloud.web import report as report_pages
from cloud.wechat import api as wechat_api
from cloud.wechat import sandbox
from cloud.wechat.media_worker import MediaWorker
from cloud.wechat.runtime import WeChat, build_wechat

log = logging.getLogger("medfix.cloud")

REPO_ROOT = Path(__file__).resolve().parents[1]
# Front-end packages installed from the npm registry at set-up time (never committed).
VENDOR_PACKAGES = {"weui": "weui/dist", "sortablejs": "sortablejs", "htmx": "htmx.org/dist", "echarts": "echarts/dist",
                   "swagger-ui": "swagger-ui-dist"}


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "message": err["msg"]}
        for err in exc.errors()
    ]
    return fallback.html_or(request, JSONResponse({"detail": "the request is invalid", "errors": errors},
                                                  status_code=422))


def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    body: dict[str, object] = {"detail": exc.message, **exc.extra}
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    if isinstance(exc.extra.get("retry_after"), int):  # 429s: clients and proxies read the header, not the body
        headers["Retry-After"] = str(max(1, exc.extra["retry_after"]))
    return fallback.html_or(request, JSONResponse(body, status_code=exc.status_code, headers=headers))


def _out_of_range(request: Request, exc: Exception) -> Response:
    """A value the database cannot hold is the request's fault (422), never a 500: an id past 2^31 on PostgreSQL
    (its INTEGER) or past 2^63 on SQLite, a text longer than its column."""
    if isinstance(exc, OverflowError) and "SQLite INTEGER" not in str(exc):
        raise exc  # an overflow in our own arithmetic is a bug: the server error stays one
    return fallback.html_or(request, JSONResponse({"detail": "数值超出范围 / a value is out of range"},
                                                  status_code=422))


def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The database is restarting or unreachable: nothing was stored, so say so and when to retry (503), not 500.
    Gateways and the pages retry on it; the pool drops the dead connections and reconnects on its own."""
    log.warning("database unavailable: %s", str(exc).splitlines()[0][:200])
    return fallback.html_or(request, JSONResponse(
        {"detail": "数据库暂时不可用，请稍后重试 / the database is unavailable, try again shortly"}, status_code=503,
        headers={"Retry-After": "5"}))


@dataclass
class Core:
    """What an API process and a scoring process share: the database, the bus with its flows, the hub, channels."""

    engine: Engine
    bus: EventBus
    hub: Hub
    sessions: sessionmaker[Session]
    wechat: WeChat | None
    channels: list[Channel]
    bot_flows: BotFlows | None = None  # the live knowledge-base bot and its flows (cloud/bot)
    reports: ReportFlows | None = None  # service reports rendered in the background (cloud/reports)
    outbox: Outbox | None = None  # durable handlers (notification flows) worked off after commit (cloud/notify)


def build_core(settings: Settings, channels: Sequence[Channel] = ()) -> Core:
    """The engine, the bus with the ticket and alert flows installed, and the notification channels."""
    engine = make_engine(settings.effective_database_url)
    bus = EventBus()
    hub = Hub(settings.redis_url)
    sessions = make_sessionmaker(engine, bus)
    # Runs the flows' durable handlers: inline until started, then in the background; an event's pushes go together.
    outbox = Outbox(sessions, bus, around_event=hub.collect)
    wechat = build_wechat(settings, sessions)  # None without an appid: the web channel alone
    all_channels: list[Channel] = [InAppChannel(hub), *([wechat.channel] if wechat else []), *channels]
    TicketFlows(sessions, hub, all_channels, public_url=settings.public_url).install(bus)
    AlertFlows(sessions, hub, all_channels, settings).install(bus)
    SignalFlows(sessions, settings).install(bus)  # failed QC or calibration, error-code bursts
    GroupFlows(sessions, hub, all_channels).install(bus)
    # Scores, risks and the on-site estimate follow tickets and alerts.
    ProfileFlows(sessions, settings=settings).install(bus)
    bot_flows = install_bot(settings, sessions, bus, all_channels, wechat)
    reports = ReportFlows(sessions, settings.data_dir)
    reports.install(bus)
    return Core(engine, bus, hub, sessions, wechat, all_channels, bot_flows, reports, outbox)


def partitioned(settings: Settings) -> bool:
    """Whether scoring goes through the Redis partitions (else each API process scores in its own thread)."""
    return settings.alert_scoring and settings.scoring_partitions > 0 and bool(settings.redis_url)


async def run_scoring(settings: Settings, *, workers: int, stop: threading.Event) -> None:
    """`medfix cloud score`: run scoring workers until stop is set, then checkpoint and hand the partitions back."""
    core = build_core(settings)
    await core.hub.start()  # alert and ticket notifications go out from this process
    pool = build_workers(settings, core.sessions, workers)
    for worker in pool:
        worker.start()
    log.info("scoring with %s worker(s) over %s partitions", len(pool), settings.scoring_partitions)
    try:
        while not stop.is_set():
            await asyncio.sleep(0.2)
    finally:
        for worker in pool:
            await asyncio.to_thread(worker.stop)
        await core.hub.stop()
        core.engine.dispose()


class QuietIngestLog(logging.Filter):
    """Keep accepted gateway batches out of the access log: every gateway posts every few seconds, so those
    lines would bury everything else. Refusals (4xx/5xx) are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:  # uvicorn.access: client, method, path, version, status
            _client, method, path, _version, status = args
            return not (method == "POST" and str(path).startswith("/api/v1/ingest") and str(status) == "200")
        return True


def _quiet_ingest_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, QuietIngestLog) for f in access.filters):
        access.addFilter(QuietIngestLog())
    for logger in (access, logging.getLogger("uvicorn.error")):  # request lines; WebSocket handshakes
        if not any(isinstance(f, RedactedAccessLog) for f in logger.filters):
            logger.addFilter(RedactedAccessLog())  # no link keys or OAuth codes in the logs (cloud/security.py)


def create_app(settings: Settings | None = None, *, channels: Sequence[Channel] = ()) -> FastAPI:
    """The cloud service for settings (default: from the environment); extra notification channels optional."""
    settings = settings or get_settings()
    _quiet_ingest_log()
    core = build_core(settings, channels)
    engine, bus, hub, sessions, wechat, all_channels = (core.engine, core.bus, core.hub, core.sessions, core.wechat,
                                                        core.channels)
    scorer = Scorer(sessions, settings)
    publisher: Publisher | None = None
    scoring_workers: list[ScoringWorker] = []
    if partitioned(settings):  # the ingest only XADDs; lease-holding workers (here or `medfix cloud score`) score
        publisher = build_publisher(settings, bus)
        scoring_workers = build_workers(settings, sessions, settings.scoring_workers)
    elif settings.alert_scoring:
        scorer.install(bus)  # queued by the ingest, scored by the scorer's own thread

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        outbox = core.outbox
        assert outbox is not None
        if not settings.notify_inline:
            outbox.start()  # requests answer right after commit; their notification work follows
        leftovers = PeriodicJob("notification outbox", settings.outbox_interval_s, outbox.recover)
        leftovers.start()  # a crashed process's notification work, and retries of failed attempts
        sweeper = PeriodicJob("ticket SLA sweep", settings.sweep_interval_s,
                              lambda: sweep(sessions, settings=settings))
        sweeper.start()
        tokens = PeriodicJob("expired sign-in tokens", settings.token_purge_interval_s,
                             lambda: purge_expired_tokens(sessions))
        tokens.start()
        # Photos and voice notes no ticket or chat message took within a day (cloud/tickets/unattached.py).
        uploads = PeriodicJob("unattached uploads", settings.upload_sweep_interval_s,
                              lambda: sweep_unattached(sessions, settings))
        uploads.start()
        # WeChat photos and voice notes: fetched and converted off the request (cloud/wechat/media_worker.py).
        media_worker = app.state.media_worker
        if media_worker is not None:
            media_worker.start()
        if wechat is not None and not settings.wechat_callback_inline:
            wechat.writer.start()  # callback messages are claimed and logged in batches after their answers
        consumer = None
        if settings.mqtt_url:  # batches also arrive through the broker; HTTP ingest works either way
            from cloud.telemetry.mqtt import MqttConsumer

            consumer = MqttConsumer(settings, app.state.sessionmaker)
            consumer.start()
        app.state.mqtt_consumer = consumer
        for worker in scoring_workers:
            worker.start()
        if settings.alert_scoring and publisher is None:
            scorer.start()
        retention = PeriodicJob("time-series retention", settings.retention_interval_s,
                                lambda: run_retention(sessions, Retention.from_settings(settings)))
        retention.start()
        # Every device's score and risk also move without events (faults fade, devices age): cloud/profiles.
        profiles = PeriodicJob("maintenance scores", settings.profile_refresh_interval_s,
                               ProfileFlows(sessions).refresh_everything)
        profiles.start()
        learner = PeriodicJob("on-site predictor", settings.predictor_learn_interval_s, ProfileFlows(sessions).learn)
        learner.start()
        # The dashboards' rollups, so the hourly device-time work never lands on a person's request.
        dashboards = PeriodicJob("dashboard rollups", settings.dashboard_refresh_interval_s,
                                 lambda: refresh_job(sessions))
        dashboards.start()
        # Last month's report to each hospital's lab managers once its new month has begun (cloud/reports).
        monthly_reports = PeriodicJob("monthly reports", settings.monthly_report_interval_s,
                                      lambda: deliver_due(sessions, data_dir=settings.data_dir, channels=all_channels))
        monthly_reports.start()
        # Each morning (each hospital's own), its alert digest to lab managers and engineers (cloud/alerts/digest).
        digests = PeriodicJob("alert digests", settings.alert_digest_interval_s,
                              lambda: send_due(sessions, digest_hour=settings.alert_digest_hour, channels=all_channels))
        digests.start()
        yield
        await digests.stop()
        await monthly_reports.stop()
        await dashboards.stop()
        await learner.stop()
        await profiles.stop()
        await retention.stop()
        if consumer is not None:
            consumer.stop()
        if publisher is not None:
            await asyncio.to_thread(publisher.close)  # a last try for entries waiting since a Redis outage
        for worker in scoring_workers:  # checkpoint and hand the partitions back
            await asyncio.to_thread(worker.stop)
        await scorer.stop()  # score what is queued, then the last checkpoint, once no more batches arrive
        await sweeper.stop()
        await tokens.stop()
        await uploads.stop()
        if wechat is not None:
            await asyncio.to_thread(wechat.writer.stop)  # log what was answered and is still queued
        if media_worker is not None:
            await asyncio.to_thread(media_worker.stop)  # the current items end; pending rows wait for the next start
        if core.reports is not None:
            await asyncio.to_thread(core.reports.stop)  # finish the reports already queued
        await leftovers.stop()
        await asyncio.to_thread(outbox.stop)  # notify about what is queued; anything left is recovered later
        await hub.stop()
        engine.dispose()

    app = FastAPI(
        title="medfix",
        version="0.1.0",
        summary="Keeps hospital lab analyzers running: registry, repair flow, predictive maintenance.",
        lifespan=lifespan,
        docs_url=None,  # served by cloud.web.fallback from the npm package, never from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessions
    app.state.bus = bus
    app.state.hub = hub
    app.state.channels = all_channels
    app.state.scorer = scorer
    app.state.scoring_publisher = publisher  # None unless partitioned
    app.state.wechat = wechat
    app.state.bot_flows = core.bot_flows
    app.state.bot = core.bot_flows.holder if core.bot_flows else None
    app.state.report_flows = core.reports
    app.state.outbox = core.outbox
    app.state.media_worker = MediaWorker(sessions, settings, wechat.client, app.state) if wechat is not None else None

    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(OverflowError, _out_of_range)
    # No more requests inside than the pool has connections for them (cloud/inflight.py: else a burst deadlocks).
    app.add_middleware(InflightLimit, limit=request_slots(engine))
    # Bodies over the route's limit are refused before they are read (cloud/bodylimit.py), without taking a slot.
    app.add_middleware(BodyLimit, settings=settings)
    # nosniff, no framing by other sites, HSTS behind https (cloud/security.py); so errors get them too.
    app.add_middleware(SecurityHeaders, https=settings.https)
    # Outermost: a request's time includes waiting for a slot and the refusals of the layers above (cloud/metrics.py).
    app.add_middleware(RequestMetrics)
    app.state.metrics = app_gauges(app.state)

    @app.get("/healthz", tags=["health"], response_class=PlainTextResponse)
    def healthz() -> str:
        """The process is up."""
        return "ok"

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """The database answers; 503 when it does not."""
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means not ready
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ready", "database": "ok"})

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus' scrape of this worker: loopback callers or the metrics token's bearer (cloud/metrics.py)."""
        if not scrape_allowed(request, settings.metrics_token):
            return PlainTextResponse("not found", status_code=404)  # as if there were none: nothing to probe
        return exposition(app.state.metrics)

    # The machines' hot paths first: a request is matched against the routes in order, and with some 250 routes
    # behind it matching alone cost the WeChat callback about 2.8 ms of its 3.8 ms (bench/wechat_callback.py).
    app.include_router(wechat_api.router)
    app.include_router(telemetry_api.router)  # the gateways' /api/v1/ingest
    app.include_router(auth_api.router)
    # Before the registry: /hospitals/search must win over /hospitals/{hospital_id}.
    app.include_router(backup_api.router)
    app.include_router(registry_api.router)
    app.include_router(qr_api.router)
    app.include_router(audit_api.router)
    app.include_router(tickets_api.router)
    app.include_router(faults_api.router)  # the fault categories and a ticket's suggestion
    app.include_router(admin_faults.router)
    app.include_router(alerts_api.router)
    app.include_router(precheck_api.router)  # a predictive ticket's pre-check
    app.include_router(alerts_pages.router)  # the daily digest, how each person hears of alerts
    app.include_router(console_api.router)
    app.include_router(notify_api.router)
    app.include_router(pages.router)
    app.include_router(desk_pages.router)
    app.include_router(desk_export.router)  # the desk's ticket list as XLSX/CSV
    app.include_router(content_exports.router)  # knowledge base, bot, preventive, profile, WeChat lists as XLSX/CSV
    for admin_router in (admin_exports.router, admin_exports_accounts.router, admin_hospitals.router,
                         admin_users.router, admin_gateways.router, admin_audit.router, claim_pages.router):
        app.include_router(admin_router)  # the admin console (cloud/web/admin_*.py), my devices from a list
    from cloud.web import admin_registry  # devices (import before /{id}), groups, alert policies, WeChat status
    for admin_router in admin_registry.ROUTERS:
        app.include_router(admin_router)
    app.include_router(report_pages.router)
    app.include_router(profiles_api.router)  # maintenance profiles, risk ranking, score override (issue #11)
    app.include_router(profiles_pages.router)
    app.include_router(reports_api.router)  # service and monthly report PDFs
    app.include_router(identify_api.router)
    app.include_router(identify_pages.router)
    app.include_router(chart_pages.router)
    app.include_router(dashboards_api.router)  # statistics, drill-down and exports (cloud/dashboards)
    app.include_router(dashboards_pages.router)
    app.include_router(kb_api.router)
    app.include_router(kb_pages.router)
    app.include_router(bot_api.router)
    app.include_router(bot_pages.router)
    app.include_router(servicegroups_api.router)
    app.include_router(servicegroups_pages.router)
    if sandbox.sandbox_enabled(settings):  # only with a loopback WeChat stand-in (make run, tests)
        app.include_router(sandbox.router)
    pages.install(app)
    fallback.install(app)

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
    node_modules = REPO_ROOT / "node_modules"
    for name, sub in VENDOR_PACKAGES.items():
        folder = node_modules / sub
        if folder.is_dir():
            app.mount(f"/vendor/{name}", StaticFiles(directory=folder), name=f"vendor-{name}")
        else:
            log.warning("front-end package %s missing under %s; run `make assets`", name, node_modules)
    return app
