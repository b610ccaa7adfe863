"""`medfix edge`: the gateway agent's commands."""

from __future__ import annotations

import importlib.util

import typer

app = typer.Typer(help="The lab gateway agent: analyzers in, cloud out.", no_args_is_help=True)
simulate_app = typer.Typer(help="Run a simulated analyzer (for demos, tests and commissioning).",
                           no_args_is_help=True)
probe_app = typer.Typer(help="Look at raw device data to work out a register map.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
app.add_typer(probe_app, name="probe")

EDGE_PACKAGES = ("pymodbus", "serial", "asyncua", "paho")


@app.command()
def version() -> None:
    """Print the agent version."""
    from medfix import __version__

    typer.echo(__version__)


if all(importlib.util.find_spec(name) for name in EDGE_PACKAGES):
    from edge.probe import probe_modbus
    from edge.simulate.astm import simulate_astm
    from edge.simulate.modbus import simulate_modbus

    simulate_app.command("astm")(simulate_astm)
    simulate_app.command("modbus")(simulate_modbus)
    probe_app.command("modbus")(probe_modbus)
else:  # a machine without the edge extra: say how to get it rather than failing at import

    @simulate_app.callback(invoke_without_command=True)
    @probe_app.callback(invoke_without_command=True)
    def _needs_edge_extra() -> None:
        typer.echo("this needs the 'edge' extra: pip install 'medfix[edge]'", err=True)
        raise typer.Exit(2)
