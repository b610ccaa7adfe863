"""The `medfix` command: `medfix edge ...` on a gateway box, `medfix cloud ...` and `medfix demo ...` on servers."""

from __future__ import annotations

import importlib.util

import typer

from edge.cli import app as edge_app

app = typer.Typer(help="medfix: keeps hospital lab analyzers running.", no_args_is_help=True)
app.add_typer(edge_app, name="edge")


def _missing(extra: str) -> typer.Typer:
    """A stand-in group that explains which extra to install (a gateway box has no cloud packages)."""
    stand_in = typer.Typer(help=f"(not installed: pip install 'medfix[{extra}]')")

    @stand_in.callback(invoke_without_command=True)
    def explain() -> None:
        typer.echo(f"this part needs the '{extra}' extra: pip install 'medfix[{extra}]'", err=True)
        raise typer.Exit(2)

    return stand_in


if all(importlib.util.find_spec(name) for name in ("fastapi", "sqlalchemy", "uvicorn")):
    from cloud.cli import app as cloud_app
    from cloud.cli import demo_app

    app.add_typer(cloud_app, name="cloud")
    app.add_typer(demo_app, name="demo")
else:  # the edge-only install of a gateway box
    app.add_typer(_missing("cloud"), name="cloud")
    app.add_typer(_missing("cloud"), name="demo")


@app.command()
def version() -> None:
    """Print the medfix version."""
    from medfix import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
