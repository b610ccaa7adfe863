"""`medfix edge`: the gateway agent's commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="The lab gateway agent: analyzers in, cloud out.", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the agent version."""
    from medfix import __version__

    typer.echo(__version__)
