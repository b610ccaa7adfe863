"""`medfix cloud` (serve, score, migrate, user, import, gateway, kb, report) and `medfix demo` (seed, run)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.config import Settings, get_settings
from cloud.db import make_engine, make_sessionmaker
from cloud.errors import DomainError, Invalid
from cloud.kb.cli import kb_app
from cloud.reports.cli import report_app
from protocols.logs import json_dict_config, log_handler

app = typer.Typer(help="The cloud service: API, pages, database.", no_args_is_help=True)
user_app = typer.Typer(help="Accounts.", no_args_is_help=True)
import_app = typer.Typer(help="Bulk imports.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo: seeded data and the whole product on one machine.", no_args_is_help=True)
gateway_app = typer.Typer(help="Lab gateways: register, tokens, device-key mapping.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(import_app, name="import")
app.add_typer(gateway_app, name="gateway")
app.add_typer(kb_app, name="kb")
app.add_typer(report_app, name="report")

CLI_ACTOR = Actor.system("cli")


def _engine(settings: Settings) -> Engine:
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.effective_database_url)


def _fail(error: DomainError) -> None:
    typer.secho(f"error: {error.message}", fg="red", err=True)
    for item in error.extra.get("errors", []):
        where = f"row {item['row']}, " if "row" in item else ""
        typer.secho(f"  {where}{item.get('field', '')}: {item.get('message', '')}", fg="red", err=True)
    raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Apply database migrations up to the newest schema."""
    from cloud.migrate import upgrade

    settings = get_settings()
    engine = _engine(settings)
    upgrade(engine)
    engine.dispose()
    typer.echo(f"database is up to date ({settings.effective_database_url.split('@')[-1]})")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default MEDFIX_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MEDFIX_PORT).")] = None,
    workers: Annotated[int, typer.Option(help="API worker processes.")] = 1,
) -> None:
    """Serve the API and pages with uvicorn."""
    import uvicorn

    settings = get_settings()
    extra: dict[str, Any] = {}
    if settings.log_format == "json":  # uvicorn's own loggers (requests, start-up) as JSON lines too
        extra["log_config"] = json_dict_config(settings.log_level, ("uvicorn", "uvicorn.error", "uvicorn.access"))
    uvicorn.run("cloud.main:create_app", factory=True, host=host or settings.host, port=port or settings.port,
                workers=workers, log_level=settings.log_level.lower(), proxy_headers=True, **extra)


@app.command()
def score(
    workers: Annotated[int | None, typer.Option(help="Scoring worker threads (default MEDFIX_SCORING_WORKERS, "
                                                     "at least 1).")] = None,
    metrics_port: Annotated[int, typer.Option(help="Serve Prometheus metrics (scored readings, scoring lag) on "
                                                   "this loopback port; 0 = none.")] = 0,
) -> None:
    """Score readings apart from the API: hold scoring partitions until SIGTERM/SIGINT, then checkpoint and leave.

    Needs MEDFIX_SCORING_PARTITIONS > 0 and MEDFIX_REDIS_URL; run the API with MEDFIX_SCORING_WORKERS=0 so its
    processes only hand readings over.
    """
    import asyncio
    import logging
    import signal
    import threading

    from cloud.main import partitioned, run_scoring

    settings = get_settings()
    if not partitioned(settings):
        typer.secho("error: scoring apart needs MEDFIX_SCORING_PARTITIONS > 0, MEDFIX_REDIS_URL and "
                    "MEDFIX_ALERT_SCORING on", fg="red", err=True)
        raise typer.Exit(1)
    logging.basicConfig(level=settings.log_level.upper(), handlers=[log_handler(settings.log_format)])
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")  # the same counters an API worker's /metrics shows
    count = workers if workers is not None else max(1, settings.scoring_workers)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda _signum, _frame: stop.set())
    typer.echo(f"scoring {settings.scoring_partitions} partitions with {count} worker(s); SIGTERM or Ctrl-C stops")
    asyncio.run(run_scoring(settings, workers=count, stop=stop))
    typer.echo("checkpointed and handed the partitions back")


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="lab_user, agent, service_center, engineer or admin")],
    password: Annotated[str | None, typer.Option(help="Asked for when omitted.")] = None,
    hospital: Annotated[str | None, typer.Option(help="Hospital name or id (lab users need one).")] = None,
    full_name: Annotated[str, typer.Option()] = "",
    phone: Annotated[str, typer.Option()] = "",
    verified: Annotated[bool, typer.Option(help="Mark a lab user verified at once.")] = False,
) -> None:
    """Create an account."""
    from cloud.auth.models import Role
    from cloud.auth.service import create_user
    from cloud.registry.models import Hospital

    try:
        role_value = Role(role)
    except ValueError:
        typer.secho(f"error: unknown role {role!r}; choose from {', '.join(r.value for r in Role)}", fg="red",
                    err=True)
        raise typer.Exit(1) from None
    if password is None:
        password = getpass.getpass("password: ")
    if len(password) < 8:
        typer.secho("error: the password needs at least 8 characters", fg="red", err=True)
        raise typer.Exit(1)
    engine = _engine(get_settings())
    with make_sessionmaker(engine)() as session:
        hospital_id = None
        if hospital:
            found = session.execute(select(Hospital).where(or_(
                Hospital.name == hospital, Hospital.id == (int(hospital) if hospital.isdigit() else -1)))).scalar()
            if found is None:
                typer.secho(f"error: no hospital {hospital!r}", fg="red", err=True)
                raise typer.Exit(1)
            hospital_id = found.id
        try:
            user = create_user(session, username=username, password=password, role=role_value, actor=CLI_ACTOR,
                               full_name=full_name, phone=phone, hospital_id=hospital_id, verified=verified)
        except DomainError as error:
            _fail(error)
        session.commit()
        typer.echo(f"created {user.role} {user.username} (id {user.id})")
    engine.dispose()


@import_app.command("devices")
def import_devices(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    dry_run: Annotated[bool, typer.Option(help="Check every row, write nothing.")] = False,
) -> None:
    """Import devices from CSV or XLSX: all rows or none; bad rows are listed with the reason."""
    from cloud.registry.importer import import_devices as run_import

    engine = _engine(get_settings())
    with make_sessionmaker(engine)() as session:
        try:
            report = run_import(session, filename=file.name, content=file.read_bytes(), actor=CLI_ACTOR,
                                dry_run=dry_run)
        except Invalid as error:
            _fail(error)
        if dry_run:
            session.rollback()
            typer.echo(f"dry run: {report.created} device(s) would be imported")
        else:
            session.commit()
            typer.echo(f"imported {report.created} device(s)")
        for name in report.created_departments:
            typer.echo(f"  new department: {name}")
    engine.dispose()


def _find_hospital(session: Session, ref: str) -> int:
    from cloud.registry.models import Hospital

    found = session.execute(select(Hospital).where(or_(
        Hospital.name == ref, Hospital.id == (int(ref) if ref.isdigit() else -1)))).scalar()
    if found is None:
        typer.secho(f"error: no hospital {ref!r}", fg="red", err=True)
        raise typer.Exit(1)
    return found.id


@gateway_app.command("add")
def gateway_add(
    name: Annotated[str, typer.Argument(help="The gateway_id the box sends (letters, digits, . _ -).")],
    hospital: Annotated[str, typer.Option(help="Hospital name or id the gateway sits in.")],
) -> None:
    """Register a gateway and print its token (shown this once)."""
    from cloud.telemetry.service import create_gateway

    engine = _engine(get_settings())
    with make_sessionmaker(engine)() as session:
        try:
            gateway, token = create_gateway(session, name=name, hospital_id=_find_hospital(session, hospital),
                                            actor=CLI_ACTOR)
        except DomainError as error:
            _fail(error)
        session.commit()
        typer.echo(f"created gateway {gateway.name} (id {gateway.id})")
        typer.echo(f"token (shown once, put it in the gateway's config): {token}")
    engine.dispose()


@gateway_app.command("token")
def gateway_token(gateway: Annotated[str, typer.Argument(help="Gateway name or id.")]) -> None:
    """Issue a new token for a gateway (the old one stops working) and print it once."""
    from cloud.telemetry.service import find_gateway, rotate_token

    engine = _engine(get_settings())
    with make_sessionmaker(engine)() as session:
        try:
            token = rotate_token(session, gateway_id=find_gateway(session, ref=gateway).id, actor=CLI_ACTOR)
        except DomainError as error:
            _fail(error)
        session.commit()
        typer.echo(f"new token (shown once): {token}")
    engine.dispose()


@gateway_app.command("list")
def gateway_list() -> None:
    """List gateways with their status, last contact and unmapped device keys."""
    from cloud.telemetry.service import list_gateways, list_mappings

    engine = _engine(get_settings())
    with make_sessionmaker(engine)() as session:
        rows = list_gateways(session)
        if not rows:
            typer.echo("no gateways yet; add one with `medfix cloud gateway add NAME --hospital ...`")
        for gw in rows:
            seen = gw.last_seen_at.isoformat(timespec="seconds") if gw.last_seen_at else "never"
            unmapped = [m.device_key for m in list_mappings(session, gateway_id=gw.id, unmapped_only=True)]
            typer.echo(f"{gw.id:>4}  {gw.name:<24} hospital {gw.hospital_id:<4} {gw.status:<8} last seen {seen}"
                       + (f"  unmapped: {', '.join(unmapped)}" if unmapped else ""))
    engine.dispose()


@gateway_app.command("map")
def gateway_map(
    gateway: Annotated[str, typer.Argument(help="Gateway name or id.")],
    device_key: Annotated[str, typer.Argument(help="The device key the gateway reports.")],
    system_number: Annotated[str, typer.Argument(help="The registry device's system number.")],
) -> None:
    """Map a gateway's device key to a registry device (its unmapped data follows)."""
    from cloud.registry.models import Device
    from cloud.telemetry.service import find_gateway, map_device

    engine = _engine(get_settings())
    with make_sessionmaker(engine)() as session:
        device = session.execute(select(Device).where(Device.system_number == system_number)).scalar()
        if device is None:
            typer.secho(f"error: no device with system number {system_number!r}", fg="red", err=True)
            raise typer.Exit(1)
        try:
            found = find_gateway(session, ref=gateway)
            map_device(session, gateway_id=found.id, device_key=device_key, device_id=device.id, actor=CLI_ACTOR)
        except DomainError as error:
            _fail(error)
        session.commit()
        typer.echo(f"{found.name}/{device_key} -> {device.system_number} (device {device.id})")
    engine.dispose()


@demo_app.command("seed")
def demo_seed() -> None:
    """Migrate and load the demo data (only into an empty database)."""
    from cloud.demo import seed
    from cloud.migrate import upgrade

    settings = get_settings()
    engine = _engine(settings)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        created = seed(session, data_dir=settings.data_dir)
        session.commit()
    engine.dispose()
    typer.echo("demo data loaded" if created else "demo data already present; left as it is")


@demo_app.command("run")
def demo_run() -> None:
    """Migrate, seed on first run, then run the cloud, analyzer simulators and an edge agent until Ctrl-C."""
    from cloud.demo import DEMO_PASSWORD, DEMO_USERS
    from cloud.demo_run import prepare_gateway, run_everything
    from cloud.qr.models import TargetKind
    from cloud.qr.service import code_for

    demo_seed()
    settings = get_settings()
    engine = _engine(settings)
    with make_sessionmaker(engine)() as session:
        files = prepare_gateway(session, settings)
        device_code = code_for(session, kind=TargetKind.device, target_id=1, actor=CLI_ACTOR).code
        group_code = code_for(session, kind=TargetKind.device_group, target_id=1, actor=CLI_ACTOR).code
        session.commit()
    engine.dispose()
    base = f"http://{settings.host}:{settings.port}"
    typer.secho("\nmedfix is starting", bold=True)
    for label, path in [("service desk", "/console"), ("engineer (phone)", "/engineer"),
                        ("admin: devices", "/admin/devices"), ("admin: groups", "/admin/groups"),
                        ("admin: hospitals", "/admin/hospitals"), ("knowledge base", "/admin/kb"),
                        ("bot: unanswered", "/admin/bot"), ("service groups", "/groups"),
                        ("scan a device label", f"/r/{device_code}"), ("scan a group label", f"/r/{group_code}"),
                        ("label lost", "/report"), ("API docs", "/docs"), ("health", "/readyz")]:
        typer.echo(f"  {label:<20} {base}{path}")
    typer.echo(f"\n  demo logins (password {DEMO_PASSWORD}):")
    for username, role, _name in DEMO_USERS:
        typer.echo(f"    {role:<15} {username}")
    typer.echo("\n  Ctrl-C stops everything.\n")
    raise typer.Exit(run_everything(settings, files))
