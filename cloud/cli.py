"""`medfix cloud` (serve, migrate, user, import) and `medfix demo` (seed, run)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from cloud.audit.service import Actor
from cloud.config import Settings, get_settings
from cloud.db import make_engine, make_sessionmaker
from cloud.errors import DomainError, Invalid

app = typer.Typer(help="The cloud service: API, pages, database.", no_args_is_help=True)
user_app = typer.Typer(help="Accounts.", no_args_is_help=True)
import_app = typer.Typer(help="Bulk imports.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo: seeded data and the whole product on one machine.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(import_app, name="import")

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
    uvicorn.run("cloud.main:create_app", factory=True, host=host or settings.host, port=port or settings.port,
                workers=workers, log_level=settings.log_level.lower(), proxy_headers=True)


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


@demo_app.command("seed")
def demo_seed() -> None:
    """Migrate and load the demo data (only into an empty database)."""
    from cloud.demo import seed
    from cloud.migrate import upgrade

    engine = _engine(get_settings())
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        created = seed(session)
        session.commit()
    engine.dispose()
    typer.echo("demo data loaded" if created else "demo data already present; left as it is")


@demo_app.command("run")
def demo_run() -> None:
    """Migrate, seed on first run, print the URLs and logins, and serve until Ctrl-C."""
    from cloud.demo import DEMO_PASSWORD, DEMO_USERS

    demo_seed()
    settings = get_settings()
    base = f"http://{settings.host}:{settings.port}"
    typer.secho("\nmedfix is starting", bold=True)
    typer.echo(f"  admin console   {base}/admin/devices")
    typer.echo(f"  device groups   {base}/admin/groups")
    typer.echo(f"  API docs        {base}/docs")
    typer.echo(f"  health          {base}/healthz  {base}/readyz")
    typer.echo(f"\n  demo logins (password {DEMO_PASSWORD}):")
    for username, role, _name in DEMO_USERS:
        typer.echo(f"    {role:<15} {username}")
    typer.echo("\n  Ctrl-C stops it.\n")
    serve(host=None, port=None, workers=1)
