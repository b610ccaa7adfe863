"""`medfix cloud kb import FILE.jsonl [--dry-run]` and `medfix cloud kb export [FILE]`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

kb_app = typer.Typer(help="The knowledge base: JSONL import and export.", no_args_is_help=True)


def _sessions() -> tuple[Engine, sessionmaker[Session]]:
    # Imports here keep `medfix --help` fast.
    from cloud.config import get_settings
    from cloud.db import make_engine, make_sessionmaker

    settings = get_settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    return engine, make_sessionmaker(engine)


@kb_app.command("import")
def kb_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="One entry a line.")],
    dry_run: Annotated[bool, typer.Option(help="Check every line and say what would change; write nothing.")] = False,
) -> None:
    """Import entries from JSONL: every line or none; bad lines are listed by number."""
    from cloud.audit.service import Actor
    from cloud.errors import Invalid
    from cloud.kb.importer import run_import

    engine, sessions = _sessions()
    with sessions() as session:
        try:
            report = run_import(session, content=file.read_bytes(), actor=Actor.system("cli"), dry_run=dry_run)
        except Invalid as error:
            typer.secho(f"错误 error: {error.message}", fg="red", err=True)
            for item in error.extra.get("errors", []):
                typer.secho(f"  {item['message']}", fg="red", err=True)
            engine.dispose()
            raise typer.Exit(1) from None
        if dry_run:
            session.rollback()
        else:
            session.commit()
    engine.dispose()
    verb = "would be" if dry_run else "were"
    typer.echo(f"{'dry run: ' if dry_run else ''}{len(report.created)} new, {len(report.updated)} changed, "
               f"{len(report.unchanged)} unchanged entries {verb} imported")
    for label, keys in (("new", report.created), ("changed", report.updated)):
        for key in keys:
            typer.echo(f"  {label}: {key}")


@kb_app.command("export")
def kb_export(
    file: Annotated[Path | None, typer.Argument(dir_okay=False, help="Where to write; standard output if left out.")]
    = None,
) -> None:
    """Write the knowledge base as JSONL (the import's format)."""
    from cloud.kb.importer import export_lines

    engine, sessions = _sessions()
    with sessions() as session:
        lines = export_lines(session)
    engine.dispose()
    body = "".join(line + "\n" for line in lines)
    if file is None:
        typer.echo(body, nl=False)
    else:
        file.write_text(body, encoding="utf-8")
        typer.echo(f"{len(lines)} entries written to {file}", err=True)
