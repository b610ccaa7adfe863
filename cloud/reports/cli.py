"""`medfix cloud report monthly --hospital H --month 2026-11` and `medfix cloud report ticket WO-000042`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from cloud.config import Settings

report_app = typer.Typer(help="Reports: a hospital's monthly report, a ticket's service report (PDF).",
                         no_args_is_help=True)


def _open() -> tuple[Settings, Engine, sessionmaker[Session]]:
    # Imports here keep `medfix --help` fast.
    from cloud.config import get_settings
    from cloud.db import make_engine, make_sessionmaker

    settings = get_settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    return settings, engine, make_sessionmaker(engine)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(1)


@report_app.command("monthly")
def monthly(
    hospital: Annotated[str, typer.Option(help="Hospital id or name.")],
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (the hospital's time zone), e.g. 2026-11.")],
    out: Annotated[Path | None, typer.Option(help="Also write the PDF here (a file or a folder).")] = None,
    deliver: Annotated[bool, typer.Option(help="Send it to the hospital's lab managers (in-app and WeChat), "
                                                "once per manager and month.")] = False,
    refresh: Annotated[bool, typer.Option(help="Render a stored month again (after late changes).")] = False,
) -> None:
    """Render a hospital's monthly report (a finished month is stored; a month without tickets is empty)."""
    from cloud.db import utcnow
    from cloud.errors import Invalid, NotFound
    from cloud.reports import service

    settings, engine, sessions = _open()
    try:
        with sessions() as session:
            try:
                found = service.find_hospital(session, hospital)
                wanted = service.month_for(found, month)
            except (NotFound, Invalid) as error:
                raise _fail(error.message) from None
            if deliver and wanted.end > utcnow():
                raise _fail(f"{wanted.key} is not over yet; only a finished month is delivered")
            report = service.monthly_report(session, found, wanted, data_dir=settings.data_dir, refresh=refresh)
            told = 0
            if deliver:
                from cloud.console.hub import Hub
                from cloud.notify.channels import Channel, InAppChannel
                from cloud.wechat.runtime import build_wechat

                # The app's channels: in-app (the notification row, pushed live through Redis when there is
                # one), and WeChat template messages when an account is configured.
                wechat = build_wechat(settings, sessions)
                channels: list[Channel] = [InAppChannel(Hub(settings.redis_url)),
                                           *([wechat.channel] if wechat else [])]
                told = service.deliver_monthly(session, found, wanted, data_dir=settings.data_dir,
                                               channels=channels)
            session.commit()
            where = settings.data_dir / report.stored.path if report.stored else None
            if out is not None:
                target = out / f"monthly-{found.id}-{wanted.key}.pdf" if out.is_dir() else out
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(report.content)
                where = target
            state = "stored" if report.stored else "month in progress, not stored"
            typer.echo(f"{found.name} {wanted.key}: {len(report.content):,} bytes ({state})"
                       + (f" -> {where}" if where else ""))
            if deliver:
                typer.echo(f"told {told} lab manager(s)" if told else
                           "no lab manager was told (none marked, or all told before)")
    finally:
        engine.dispose()


@report_app.command("ticket")
def ticket(
    number: Annotated[str, typer.Argument(help="The ticket number, e.g. WO-000042.")],
    out: Annotated[Path | None, typer.Option(help="Also write the PDF here (a file or a folder).")] = None,
) -> None:
    """Render and store a resolved or closed ticket's service report."""
    from sqlalchemy import select

    from cloud.reports import service
    from cloud.tickets.models import Ticket
    from cloud.tickets.state import REPORTABLE

    settings, engine, sessions = _open()
    try:
        with sessions() as session:
            found = session.execute(select(Ticket).where(Ticket.number == number.strip())).scalar()
            if found is None:
                raise _fail(f"no ticket {number!r}")
            if found.status not in REPORTABLE:
                raise _fail(f"{found.number} is {found.status.value}; a report is made once it is resolved")
            row = service.store_service_report(session, found, data_dir=settings.data_dir)
            session.commit()
            where = settings.data_dir / row.path
            if out is not None:
                target = out / f"{found.number}.pdf" if out.is_dir() else out
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(where.read_bytes())
                where = target
            typer.echo(f"{found.number}: {row.size:,} bytes -> {where}")
    finally:
        engine.dispose()
