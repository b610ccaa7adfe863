"""An OPC UA analyzer simulator: one asyncua server, one object "AnalyzerN" per simulated analyzer.

Each analyzer's variables are listed by `analyzer_nodes(index)` (so the driver, the demo and the tests
configure themselves with the very nodes the simulator serves). Values drift slowly with noise; faults can
be injected per analyzer: a metric drifting away, spikes, an error code, a bad status code. The server can
be stopped and started again on the same port (tests use that to check the driver's session recovery).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from asyncua import Server, ua

from edge.drivers.opcua import quiet_asyncua_logging, read_key_material, write_self_signed_certificate
from edge.simulate import parse_drift
from protocols.opcua import NodeSpec, SecurityMode

logger = logging.getLogger(__name__)

NAMESPACE_URI: Final = "urn:medfix:simulator:opcua"
NAMESPACE_INDEX: Final = 2  # the first namespace a server registers (0 = OPC UA, 1 = the server itself)
SERVER_URI: Final = "urn:medfix:simulator:opcua:server"
ERROR_CODES: Final = (1103, 2201, 3407, 5012)  # e.g. lamp low, cuvette blank, fridge temp, vacuum
ERROR_CODE_METRIC: Final = "error_code"

# variable name, metric, unit, OPC UA type, deadband a driver would typically use
_VARIABLES: Final[tuple[tuple[str, str, str | None, ua.VariantType, float | None], ...]] = (
    ("ReactionTemperature", "reaction_temp", "°C", ua.VariantType.Double, None),
    ("ReagentFridgeTemp", "reagent_fridge_temp", "°C", ua.VariantType.Double, None),
    ("LampIntensity", "lamp_intensity", "%", ua.VariantType.Double, None),
    ("VacuumPressure", "vacuum", "kPa", ua.VariantType.Double, None),
    ("TestCounter", "test_count", None, ua.VariantType.UInt32, None),
    ("ErrorCode", ERROR_CODE_METRIC, None, ua.VariantType.UInt16, None),
    ("Status", "status", None, ua.VariantType.String, None),
)
ANALOG_VARIABLES: Final = ("ReactionTemperature", "ReagentFridgeTemp", "LampIntensity", "VacuumPressure")


def node_id(index: int, variable: str) -> str:
    """The string node id of one analyzer variable, e.g. "ns=2;s=Analyzer1.ReactionTemperature"."""
    return f"ns={NAMESPACE_INDEX};s=Analyzer{index}.{variable}"


def analyzer_nodes(index: int = 1, *, deadband: float | None = None) -> list[NodeSpec]:
    """The node specs of simulated analyzer `index`, optionally with one deadband on the analog metrics."""
    return [
        NodeSpec(
            node_id=node_id(index, name),
            metric=metric,
            unit=unit,
            deadband=deadband if name in ANALOG_VARIABLES else None,
        )
        for name, metric, unit, _, _ in _VARIABLES
    ]


@dataclass
class Faults:
    """What is wrong with one simulated analyzer right now (mutable: tests and the CLI flip these)."""

    drift: dict[str, float] = field(default_factory=dict)  # variable -> engineering units per minute
    spike_probability: float = 0.0  # chance per update that an analog variable jumps for one sample
    error_code: int = 0
    bad: dict[str, int] = field(default_factory=dict)  # variable -> bad status code served with it
    overrides: dict[str, float | int | str] = field(default_factory=dict)  # pin a variable's value


class SimulatedAnalyzer:
    """The values of one analyzer over time."""

    def __init__(self, index: int, *, seed: int = 0, clock: Callable[[], float] = time.time) -> None:
        self.index = index
        self.faults = Faults()
        self._clock = clock
        self._rng = random.Random(seed * 1009 + index)
        self._t0 = clock()
        self._phase = self._rng.uniform(0, 2 * math.pi)
        self._drift_started: dict[str, float] = {}

    def values(self) -> dict[str, float | int | str]:
        """Current values of every variable, with drift, noise and injected faults applied."""
        now = self._clock()
        t = now - self._t0
        rng, f = self._rng, self.faults
        values: dict[str, float | int | str] = {
            "ReactionTemperature": 37.0 + 0.03 * math.sin(2 * math.pi * t / 600 + self._phase) + rng.gauss(0, 0.01),
            "ReagentFridgeTemp": 6.0 + 1.6 * math.sin(2 * math.pi * t / 1800 + self._phase) + rng.gauss(0, 0.05),
            "LampIntensity": max(0.0, 96.0 - 0.5 * t / 3600 + rng.gauss(0, 0.05)),
            "VacuumPressure": -65.0 + rng.gauss(0, 0.3),
            "TestCounter": 480_000 + self.index * 4000 + int(t / 1.1),
            "ErrorCode": f.error_code,
            "Status": "Error" if f.error_code else "Running",
        }
        for name, per_minute in f.drift.items():
            started = self._drift_started.setdefault(name, now)
            if isinstance(values.get(name), float):
                values[name] = float(values[name]) + per_minute * (now - started) / 60
        for name in list(self._drift_started):
            if name not in f.drift:
                del self._drift_started[name]
        if f.spike_probability and rng.random() < f.spike_probability:
            name = rng.choice(ANALOG_VARIABLES)
            values[name] = float(values[name]) + rng.choice((-1, 1)) * rng.uniform(5, 15)
        values.update(f.overrides)
        return values


class OpcUaSimulator:
    """A simulator that can be started, stopped and started again on the same port."""

    def __init__(
        self,
        analyzers: dict[int, SimulatedAnalyzer],
        *,
        host: str,
        port: int,
        security: SecurityMode,
        certificate: Path | None,
        private_key: Path | None,
        refuse_subscriptions: bool,
        update_interval: float,
    ) -> None:
        self.analyzers = analyzers
        self.host = host
        self.port = port
        self.security = security
        self.certificate = certificate
        self.private_key = private_key
        self.refuse_subscriptions = refuse_subscriptions
        self.update_interval = update_interval
        self.starts = 0
        self._server: Server | None = None
        self._updater: asyncio.Task[None] | None = None
        self._nodes: dict[tuple[int, str], ua.NodeId] = {}

    @property
    def endpoint(self) -> str:
        """The opc.tcp URL clients connect to."""
        return f"opc.tcp://{self.host}:{self.port}/medfix/sim"

    @property
    def running(self) -> bool:
        """True while the server listens."""
        return self._server is not None

    def analyzer(self, index: int) -> SimulatedAnalyzer:
        """The simulated analyzer behind object AnalyzerN."""
        return self.analyzers[index]

    async def start(self) -> None:
        """Build the address space and listen (again) on the simulator's port."""
        if self._server is not None:
            return
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("medfix OPC UA analyzer simulator")
        await server.set_application_uri(SERVER_URI)
        if self.security is SecurityMode.NONE:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            assert self.certificate is not None and self.private_key is not None
            await server.load_certificate(*read_key_material(self.certificate))
            key, kind = read_key_material(self.private_key)
            await server.load_private_key(key, None, kind)
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        if self.refuse_subscriptions:
            # BadTooManySubscriptions on every CreateSubscription: what some embedded servers answer.
            server.iserver.max_subscriptions = 0
        index = await server.register_namespace(NAMESPACE_URI)
        assert index == NAMESPACE_INDEX, index
        objects = server.nodes.objects
        for number, analyzer in self.analyzers.items():
            folder = await objects.add_object(ua.NodeId(f"Analyzer{number}", index), f"{index}:Analyzer{number}")
            current = analyzer.values()
            for name, _, _, variant_type, _ in _VARIABLES:
                nid = ua.NodeId(f"Analyzer{number}.{name}", index)
                await folder.add_variable(nid, f"{index}:{name}", ua.Variant(current[name], variant_type))
                self._nodes[(number, name)] = nid
        try:
            await server.start()
        except BaseException:
            await _quiet_stop(server)
            raise
        if self.port == 0 and server.bserver is not None and server.bserver.port:
            self.port = server.bserver.port  # keep the port: a restart comes back on the same one
        self._server = server
        self.starts += 1
        self._updater = asyncio.create_task(self._update_loop(server), name=f"opcua-sim:{self.port}")

    async def stop(self) -> None:
        """Stop listening and drop every session (clients see the connection close)."""
        server, self._server = self._server, None
        updater, self._updater = self._updater, None
        if updater is not None:
            updater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await updater
        if server is not None:
            await _quiet_stop(server)

    async def restart(self, down_for: float = 0.0) -> None:
        """Stop, stay down for a while, start again on the same port."""
        await self.stop()
        await asyncio.sleep(down_for)
        await self.start()

    async def update(self) -> None:
        """Write every analyzer's current values now (tests call this instead of waiting for the loop)."""
        if self._server is not None:
            await self._write_all(self._server)

    async def __aenter__(self) -> OpcUaSimulator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _update_loop(self, server: Server) -> None:
        while True:
            try:
                await self._write_all(server)
            except Exception:  # a bad fault override must not silence the whole simulator
                logger.exception("OPC UA simulator: update failed")
            await asyncio.sleep(self.update_interval)

    async def _write_all(self, server: Server) -> None:
        now = datetime.now(UTC)
        for number, analyzer in self.analyzers.items():
            values = analyzer.values()
            for name, _, _, variant_type, _ in _VARIABLES:
                status = analyzer.faults.bad.get(name, ua.StatusCodes.Good)
                variant = ua.Variant(_typed(values[name], variant_type), variant_type)
                datavalue = ua.DataValue(
                    variant, StatusCode=ua.StatusCode(status), SourceTimestamp=now, ServerTimestamp=now
                )
                await server.write_attribute_value(self._nodes[(number, name)], datavalue)


def _typed(value: float | int | str, variant_type: ua.VariantType) -> Any:
    # Overrides come from the CLI/tests as loose Python values; the variable keeps its declared type.
    if variant_type is ua.VariantType.Double:
        return float(value)
    if variant_type is ua.VariantType.String:
        return str(value)
    return int(value)


async def _quiet_stop(server: Server) -> None:
    clock_task = server.iserver.time_task
    if clock_task is not None:
        # The server's clock loop sleeps 1 s between ticks and stop() waits it out; cancel it instead.
        clock_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await clock_task
        server.iserver.time_task = None
    try:
        await server.stop()
    except Exception:  # stopping a half-started server may trip over what never started
        logger.debug("OPC UA simulator: stop raised", exc_info=True)
    # Sessions with subscriptions outlive their connection (OPC 10000-4 6.7) and asyncua's stop() leaves
    # them, with their timers, behind; a stopped process has no sessions, so close them like one.
    for session in list(getattr(server.iserver, "_external_sessions", {}).values()):
        with contextlib.suppress(Exception):
            await session.close_session(True)


async def run_opcua_simulator(
    host: str = "127.0.0.1",
    port: int = 4840,
    analyzers: int = 1,
    *,
    security: SecurityMode | str = SecurityMode.NONE,
    certificate: Path | None = None,
    private_key: Path | None = None,
    cert_dir: Path | None = None,
    refuse_subscriptions: bool = False,
    update_interval: float = 0.5,
    seed: int = 0,
    clock: Callable[[], float] = time.time,
) -> OpcUaSimulator:
    """Start serving analyzers 1..N on host:port (0 = any free port, kept across restarts); return the handle."""
    security = SecurityMode(security)
    quiet_asyncua_logging()
    if security is not SecurityMode.NONE and (certificate is None or private_key is None):
        # A self-signed server certificate, made once so a restarted server presents the same one.
        where = cert_dir or Path(tempfile.mkdtemp(prefix="medfix-opcua-sim-"))
        certificate, private_key = where / "server-cert.pem", where / "server-key.pem"
        if not (certificate.exists() and private_key.exists()):
            write_self_signed_certificate(certificate, private_key, application_uri=SERVER_URI, server=True)
    sim = OpcUaSimulator(
        {n: SimulatedAnalyzer(n, seed=seed, clock=clock) for n in range(1, analyzers + 1)},
        host=host,
        port=port,
        security=security,
        certificate=certificate,
        private_key=private_key,
        refuse_subscriptions=refuse_subscriptions,
        update_interval=update_interval,
    )
    await sim.start()
    return sim


def simulate_opcua(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port of the opc.tcp endpoint.")] = 4840,
    analyzers: Annotated[int, typer.Option(min=1, max=100, help="Objects Analyzer1..N.")] = 3,
    security: Annotated[
        SecurityMode, typer.Option(case_sensitive=False, help="none, or Basic256Sha256 (SignAndEncrypt).")
    ] = SecurityMode.NONE,
    certificate: Annotated[Path | None, typer.Option(help="Server certificate (PEM/DER); else self-signed.")] = None,
    private_key: Annotated[Path | None, typer.Option(help="Server private key (PEM), with --certificate.")] = None,
    cert_dir: Annotated[Path | None, typer.Option(help="Where a generated self-signed certificate goes.")] = None,
    refuse_subscriptions: Annotated[bool, typer.Option(help="Refuse subscriptions (clients must poll).")] = False,
    update_interval: Annotated[float, typer.Option(min=0.05, help="Seconds between value updates.")] = 0.5,
    drift: Annotated[
        list[str] | None, typer.Option(help="VARIABLE=RATE: drift a variable by RATE units per minute (repeatable).")
    ] = None,
    spikes: Annotated[float, typer.Option(min=0.0, max=1.0, help="Spike probability per update.")] = 0.0,
    error_code: Annotated[int, typer.Option(min=0, max=0xFFFF, help="Error code the analyzers show.")] = 0,
    error_every: Annotated[
        float, typer.Option(min=0.0, help="Raise a random error code for 10 s every N seconds (0 = never).")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 0,
) -> None:
    """Serve simulated analyzers over OPC UA until interrupted."""
    drift_rates = parse_drift(drift or [], ANALOG_VARIABLES)
    if (certificate is None) != (private_key is None):
        raise typer.BadParameter("--certificate and --private-key go together")

    async def main() -> None:
        sim = await run_opcua_simulator(
            host,
            port,
            analyzers,
            security=security,
            certificate=certificate,
            private_key=private_key,
            cert_dir=cert_dir,
            refuse_subscriptions=refuse_subscriptions,
            update_interval=update_interval,
            seed=seed,
        )
        for analyzer in sim.analyzers.values():
            analyzer.faults.drift.update(drift_rates)
            analyzer.faults.spike_probability = spikes
            analyzer.faults.error_code = error_code
        typer.echo(f"OPC UA simulator: Analyzer1..{analyzers} at {sim.endpoint} (security {security}); Ctrl-C stops")
        for name, metric, unit, _, _ in _VARIABLES:
            typer.echo(f"  {node_id(1, name):40} -> {metric}" + (f" [{unit}]" if unit else ""))
        rng = random.Random(seed)
        started = time.monotonic()
        try:
            while True:
                await asyncio.sleep(0.5)
                if not error_every:
                    continue
                in_error = (time.monotonic() - started) % error_every >= error_every - 10
                for analyzer in sim.analyzers.values():
                    faults = analyzer.faults
                    if in_error and not faults.error_code:
                        faults.error_code = rng.choice(ERROR_CODES)
                    elif not in_error and faults.error_code != error_code:
                        faults.error_code = error_code
        finally:
            await sim.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
