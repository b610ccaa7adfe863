"""The ASTM simulator runner: a pty it creates, drifting seeded values, and the Typer entry point."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edge.drivers.astm_serial import AstmSerialDriver
from edge.drivers.serial_io import SerialSettings
from edge.outbox import Outbox
from edge.simulate.astm import AstmSimConfig, DriftingPanel, run_astm_simulator, simulate_astm
from protocols.astm.link import Timers
from tests.edge.serial_helpers import leak_check, running

no_leaks = pytest.fixture(autouse=True)(leak_check)


async def test_the_runner_creates_a_pty_and_a_host_on_its_path_gets_every_message(tmp_path: Path) -> None:
    timers = Timers(reply=1.0, frame=1.0, busy_retry=0.3)
    with Outbox(tmp_path / "o.db", gateway_id="gw") as outbox:
        drivers: list[AstmSerialDriver] = []
        tasks: list[asyncio.Task[None]] = []

        def attach(path: str) -> None:
            driver = AstmSerialDriver(device_key="sim", port=SerialSettings(path), outbox=outbox, timers=timers)
            drivers.append(driver)
            tasks.append(asyncio.get_running_loop().create_task(driver.run()))

        config = AstmSimConfig(interval=0.05, first_after=0.1, count=2, timers=timers, bad_checksum_every=5)
        runner = await asyncio.wait_for(run_astm_simulator("pty", config, on_ready=attach), 10)
        async with running(tasks[0]):
            await asyncio.sleep(0)
        assert len(runner.sim.sent) == 2 and runner.sim.failed == []
        assert drivers[0].status().messages_stored == 2
        assert outbox.stats().clinical_rows == 2
        assert drivers[0].status().checksum_errors == runner.frames_corrupted > 0


def test_values_drift_and_are_reproducible_from_the_seed() -> None:
    one, two = DriftingPanel(random.Random(3)), DriftingPanel(random.Random(3))
    draws = [one.draw() for _ in range(200)]
    assert draws == [two.draw() for _ in range(200)]
    glucose = [float(d[0].value) for d in draws]
    assert len(set(glucose)) > 5 and {d[0].flags for d in draws} - {"N"}
    means = [sum(glucose[i : i + 50]) / 50 for i in range(0, 200, 50)]
    assert max(means) - min(means) > 0.1  # the level wanders, not just the noise


def test_simulate_astm_is_a_typer_command() -> None:
    app = typer.Typer()
    app.command("astm")(simulate_astm)
    app.command("other")(lambda: None)  # two commands, so "astm" is addressed by name as in `medfix edge simulate`
    cli = CliRunner()
    help_text = cli.invoke(app, ["astm", "--help"]).output
    for option in ("--port", "--listen", "--interval", "--bad-checksum-every", "--stall", "--busy", "--error-code"):
        assert option in help_text
    result = cli.invoke(app, ["astm", "--listen", "127.0.0.1:0", "--count", "0"])
    assert result.exit_code == 0, result.output
    assert "simulated ASTM analyzer on socket://127.0.0.1:" in result.output and "done: 0 delivered" in result.output
