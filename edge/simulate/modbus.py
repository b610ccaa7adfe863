"""A Modbus analyzer simulator: one pymodbus server, one simulated analyzer per unit id.

Each analyzer exposes the register map `analyzer_register_map(unit_id)` (so the poller, the demo and the
tests configure themselves with the very map the simulator serves). Values drift slowly with noise;
faults can be injected per unit: a metric drifting away, spikes, an error code, silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Final

import typer
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusBaseServer, ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from edge.simulate import parse_drift
from protocols.modbus import DataType, RegisterMap, RegisterPoint, Table, encode_value

logger = logging.getLogger(__name__)

ERROR_CODES: Final = (1103, 2201, 3407, 5012)  # e.g. lamp low, cuvette blank, fridge temp, vacuum
PAD_ADDRESS: Final = 200  # holding registers from here carry the padding metrics (float32 each)
_REFRESH_S: Final = 0.05  # recompute a unit's registers at most this often (keeps the server cheap)

_BASE_POINTS: Final[list[dict[str, object]]] = [
    # Input registers (FC4): live measurements, one contiguous block 0..12.
    {"name": "reaction_disk_temp", "table": "input", "address": 0, "type": "float32", "unit": "°C"},
    {"name": "incubator_temp", "table": "input", "address": 2, "type": "float32", "word_order": "little", "unit": "°C"},
    {"name": "reagent_fridge_temp", "table": "input", "address": 4, "type": "int16", "scale": 0.1, "unit": "°C"},
    {"name": "lamp_intensity", "table": "input", "address": 5, "type": "uint16", "scale": 0.01, "unit": "%"},
    {"name": "vacuum", "table": "input", "address": 6, "type": "int16", "scale": 0.1, "unit": "kPa"},
    {"name": "wash_pressure", "table": "input", "address": 7, "type": "float32", "byte_order": "little", "unit": "kPa"},
    {
        "name": "water_conductivity",
        "table": "input",
        "address": 9,
        "type": "float32",
        "byte_order": "little",
        "word_order": "little",
        "unit": "uS/cm",
    },
    {"name": "pressure_offset", "table": "input", "address": 11, "type": "int32", "unit": "Pa"},
    # Holding registers (FC3): counters, levels, status, identity, one contiguous block 100..134.
    {"name": "sample_count", "address": 100, "type": "uint32"},
    {"name": "test_count", "address": 102, "type": "uint32", "word_order": "little"},
    {"name": "lamp_hours", "address": 104, "type": "uint32", "scale": 0.1, "unit": "h"},
    {"name": "uptime", "address": 106, "type": "uint64", "unit": "s"},
    {"name": "device_clock", "address": 110, "type": "int64", "unit": "ms"},
    {"name": "cuvette_blank", "address": 114, "type": "float64", "unit": "Abs"},
    {"name": "reagent_r1_level", "address": 118, "type": "uint16", "scale": 0.1, "unit": "%"},
    {"name": "reagent_r2_level", "address": 119, "type": "uint16", "scale": 0.1, "unit": "%"},
    {"name": "error_code", "address": 120, "type": "uint16"},
    {"name": "running", "address": 121, "type": "bit", "bit": 0},
    {"name": "alarm", "address": 121, "type": "bit", "bit": 1},
    {"name": "serial_number", "address": 122, "type": "string", "length": 8},
    {"name": "firmware", "address": 130, "type": "string", "length": 4, "byte_order": "little"},
    {"name": "reaction_disk_setpoint", "address": 134, "type": "int16", "scale": 0.1, "offset": 0.0, "unit": "°C"},
    # Coils (FC1) and discrete inputs (FC2).
    {"name": "fridge_compressor_on", "table": "coil", "address": 0, "type": "bit"},
    {"name": "cover_closed", "table": "discrete", "address": 0, "type": "bit"},
]
ERROR_CODE_POINTS: Final = ("error_code",)


def analyzer_register_map(unit_id: int = 1, *, pad_to: int | None = None) -> RegisterMap:
    """The simulated analyzer's register map for one unit id, optionally padded with float32 metrics."""
    points = [RegisterPoint.model_validate({**spec, "unit_id": unit_id}) for spec in _BASE_POINTS]
    for index in range(max(0, (pad_to or 0) - len(points))):
        points.append(
            RegisterPoint(
                name=f"aux_{index:02d}", address=PAD_ADDRESS + 2 * index, unit_id=unit_id, type=DataType.FLOAT32
            )
        )
    return RegisterMap(points=points)


@dataclass
class Faults:
    """What is wrong with one simulated analyzer right now (mutable: tests and the CLI flip these)."""

    drift: dict[str, float] = field(default_factory=dict)  # metric -> engineering units per minute
    spike_probability: float = 0.0  # chance per refresh that an analog metric jumps for one sample
    error_code: int = 0
    silent: bool = False  # stop answering entirely (a hung controller, a cut RS-485 pair)
    overrides: dict[str, float | int | bool | str] = field(default_factory=dict)  # pin a metric (NaN too)


class SimulatedAnalyzer:
    """The values of one analyzer over time, encoded into its registers on every request."""

    _ANALOG: Final = ("reaction_disk_temp", "incubator_temp", "reagent_fridge_temp", "vacuum", "wash_pressure")

    def __init__(self, unit_id: int, register_map: RegisterMap, *, seed: int = 0, clock: Callable[[], float]) -> None:
        self.unit_id = unit_id
        self.register_map = register_map
        self.faults = Faults()
        self.requests: Counter[int] = Counter()  # function code -> requests seen (silent ones too)
        self._clock = clock
        self._rng = random.Random(seed * 1009 + unit_id)
        self._t0 = clock()
        self._drift_started: dict[str, float] = {}
        self._phase = self._rng.uniform(0, 2 * math.pi)
        self._refreshed_at = -math.inf
        self._values: dict[str, float | int | bool | str] = {}

    def values(self) -> dict[str, float | int | bool | str]:
        """Current engineering values of every point, with drift, noise and injected faults applied."""
        now = self._clock()
        t = now - self._t0
        rng, phase, f = self._rng, self._phase, self.faults
        fridge = 6.0 + 1.6 * math.sin(2 * math.pi * t / 1800 + phase)  # compressor cycle keeps it in 4..8 °C
        values: dict[str, float | int | bool | str] = {
            "reaction_disk_temp": 37.0 + 0.03 * math.sin(2 * math.pi * t / 600 + phase) + rng.gauss(0, 0.01),
            "incubator_temp": 37.0 + 0.05 * math.sin(2 * math.pi * t / 900 + phase) + rng.gauss(0, 0.01),
            "reagent_fridge_temp": fridge + rng.gauss(0, 0.05),
            "lamp_intensity": max(0.0, 96.0 - 0.5 * t / 3600 + rng.gauss(0, 0.05)),
            "vacuum": -65.0 + rng.gauss(0, 0.3),
            "wash_pressure": 150.0 + 2.0 * math.sin(2 * math.pi * t / 120 + phase) + rng.gauss(0, 0.5),
            "water_conductivity": 0.8 + rng.gauss(0, 0.02),
            "pressure_offset": int(-120 + rng.gauss(0, 3)),
            "sample_count": 120_000 + self.unit_id * 1000 + int(t / 4.5),
            "test_count": 480_000 + self.unit_id * 4000 + int(t / 1.1),
            "lamp_hours": 1234.5 + t / 3600,
            "uptime": int(86_400 + t),
            "device_clock": int(now * 1000),
            "cuvette_blank": 0.0452 + rng.gauss(0, 0.0002),
            # Reagents are consumed and refilled (a new bottle) when nearly empty.
            "reagent_r1_level": 100.0 - (t * 0.02 + self.unit_id * 7) % 95,
            "reagent_r2_level": 100.0 - (t * 0.013 + self.unit_id * 11) % 95,
            "error_code": f.error_code,
            "running": not f.silent,
            "alarm": f.error_code != 0,
            "serial_number": f"MFX-A{self.unit_id:03d}-0001",
            "firmware": "4.2a",
            "reaction_disk_setpoint": 37.0,
            "fridge_compressor_on": fridge > 6.0,
            "cover_closed": True,
        }
        for name, per_minute in f.drift.items():
            started = self._drift_started.setdefault(name, now)
            if name in values and isinstance(values[name], float):
                values[name] = float(values[name]) + per_minute * (now - started) / 60
        for name in list(self._drift_started):
            if name not in f.drift:
                del self._drift_started[name]
        if f.spike_probability and rng.random() < f.spike_probability:
            name = rng.choice(self._ANALOG)
            values[name] = float(values[name]) + rng.choice((-1, 1)) * rng.uniform(5, 15)
        for index, point in enumerate(self.register_map.points):
            if point.name.startswith("aux_"):
                values[point.name] = 50.0 + 10 * math.sin(t / 60 + index) + rng.gauss(0, 0.1)
        values.update(f.overrides)
        return values

    def refresh(self) -> None:
        """Recompute the values at the next request (after changing faults under a frozen test clock)."""
        self._refreshed_at = -math.inf

    @property
    def last_values(self) -> dict[str, float | int | bool | str]:
        """The values most recently encoded into the registers (what a poller should have read)."""
        return dict(self._values)

    def encode(self, table: Table, start: int, registers: list[int]) -> None:
        """Write the current values of the table's points into the server's register list (in place)."""
        now = self._clock()
        if now - self._refreshed_at >= _REFRESH_S or not self._values:
            self._values = self.values()
            self._refreshed_at = now
        bits: dict[int, bool] = {}
        for point in self.register_map.points:
            if point.table is not table:
                continue
            value = self._values[point.name]
            if table.is_bit_table:
                bits[point.address - start * 16] = bool(value)
                continue
            index = point.address - start
            current = registers[index] if point.data_type is DataType.BIT else 0
            words = encode_value(
                _fit(value, point),
                point.data_type,
                byte_order=point.byte_order,
                word_order=point.word_order,
                length=point.length,
                bit=point.bit,
                scale=point.scale,
                offset=point.offset,
                current_word=current,
            )
            registers[index : index + len(words)] = words
        for offset, bit in bits.items():
            word, shift = divmod(offset, 16)
            registers[word] = (registers[word] | (1 << shift)) if bit else (registers[word] & ~(1 << shift))


def _fit(value: float | int | bool | str, point: RegisterPoint) -> float | int | bool | str:
    # Clamp to what the register can hold, as a real device's firmware saturates instead of wrapping.
    if point.data_type in (DataType.UINT16, DataType.INT16) and isinstance(value, float) and math.isfinite(value):
        raw = (value - point.offset) / point.scale
        low, high = (0, 0xFFFF) if point.data_type is DataType.UINT16 else (-0x8000, 0x7FFF)
        return (min(max(round(raw), low), high)) * point.scale + point.offset
    return value


_FC_TABLE: Final = {1: Table.COIL, 2: Table.DISCRETE, 3: Table.HOLDING, 4: Table.INPUT}


def _sim_device(analyzer: SimulatedAnalyzer) -> SimDevice:
    blocks: dict[Table, list[SimData]] = {}
    for table in Table:
        points = [p for p in analyzer.register_map.points if p.table is table]
        if table.is_bit_table:
            span = max((p.end for p in points), default=1)
            blocks[table] = [SimData(0, values=[False] * (16 * math.ceil(span / 16)), datatype=SimType.BITS)]
        else:
            start = min((p.address for p in points), default=0)
            end = max((p.end for p in points), default=1)
            blocks[table] = [SimData(start, count=end - start, values=0, datatype=SimType.REGISTERS)]

    async def action(
        function_code: int,
        start_address: int,
        address: int,  # noqa: ARG001 - pymodbus' callback signature
        count: int,  # noqa: ARG001
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        analyzer.requests[function_code] += 1
        if analyzer.faults.silent:
            # With ignore_missing_devices the server then sends nothing: the client times out.
            raise NoSuchIdException(f"unit {analyzer.unit_id} is silent")
        if set_values is None and function_code in _FC_TABLE:
            analyzer.encode(_FC_TABLE[function_code], start_address, registers)
        return None

    simdata = (blocks[Table.COIL], blocks[Table.DISCRETE], blocks[Table.HOLDING], blocks[Table.INPUT])
    return SimDevice(analyzer.unit_id, simdata=simdata, action=action)


@dataclass
class ModbusSimulator:
    """A running simulator: its analyzers (for fault injection and request counts) and a stop()."""

    server: ModbusBaseServer
    analyzers: dict[int, SimulatedAnalyzer]
    host: str | None
    port: int | None
    serial_port: str | None

    def analyzer(self, unit_id: int) -> SimulatedAnalyzer:
        """The simulated analyzer behind a unit id."""
        return self.analyzers[unit_id]

    def requests(self, unit_id: int | None = None) -> int:
        """Requests the server saw (for one unit, or all)."""
        chosen = self.analyzers.values() if unit_id is None else [self.analyzers[unit_id]]
        return sum(sum(a.requests.values()) for a in chosen)

    async def stop(self) -> None:
        """Stop listening and drop every client connection."""
        await self.server.shutdown()  # type: ignore[no-untyped-call]
        # Let pymodbus' request handlers finish their last call_soon callbacks before the loop moves on.
        await asyncio.sleep(0)

    async def __aenter__(self) -> ModbusSimulator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def run_modbus_simulator(
    host: str = "127.0.0.1",
    port: int = 5020,
    units: Iterable[int] = (1,),
    *,
    serial_port: str | None = None,
    baudrate: int = 9600,
    pad_to: int | None = None,
    seed: int = 0,
    clock: Callable[[], float] = time.time,
) -> ModbusSimulator:
    """Start serving analyzers (TCP on host:port, port 0 = any free port; or RTU on serial_port)."""
    analyzers = {
        unit: SimulatedAnalyzer(unit, analyzer_register_map(unit, pad_to=pad_to), seed=seed, clock=clock)
        for unit in units
    }
    devices = [_sim_device(a) for a in analyzers.values()]
    server: ModbusBaseServer
    if serial_port is not None:
        server = ModbusSerialServer(
            devices, framer=FramerType.RTU, port=serial_port, baudrate=baudrate, ignore_missing_devices=True
        )
    else:
        server = ModbusTcpServer(devices, address=(host, port), ignore_missing_devices=True)
    await server.serve_forever(background=True)
    bound_port: int | None = None
    if serial_port is None:
        sockets = getattr(server.transport, "sockets", None) or []
        bound_port = sockets[0].getsockname()[1] if sockets else port
    return ModbusSimulator(server, analyzers, host if serial_port is None else None, bound_port, serial_port)


def simulate_modbus(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (502 needs root).")] = 5020,
    units: Annotated[int, typer.Option(min=1, max=247, help="Analyzers = unit ids 1..N.")] = 3,
    serial: Annotated[str | None, typer.Option(help="Serve Modbus RTU on this serial port instead of TCP.")] = None,
    baudrate: Annotated[int, typer.Option(help="Serial speed, with --serial.")] = 9600,
    pad_to: Annotated[int | None, typer.Option(help="Pad each analyzer to this many metrics.")] = None,
    drift: Annotated[
        list[str] | None, typer.Option(help="METRIC=RATE: drift a metric by RATE units per minute (repeatable).")
    ] = None,
    spikes: Annotated[float, typer.Option(min=0.0, max=1.0, help="Spike probability per sample.")] = 0.0,
    error_code: Annotated[int, typer.Option(min=0, max=0xFFFF, help="Error code the analyzers show.")] = 0,
    error_every: Annotated[
        float, typer.Option(min=0.0, help="Raise a random error code for 10 s every N seconds (0 = never).")
    ] = 0.0,
    silence_every: Annotated[float, typer.Option(min=0.0, help="Go silent every N seconds (0 = never).")] = 0.0,
    silence_for: Annotated[float, typer.Option(min=0.0, help="How long each silence lasts.")] = 10.0,
    fault_units: Annotated[str | None, typer.Option(help="Comma-separated unit ids the faults apply to.")] = None,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 0,
    drift_after: Annotated[float, typer.Option(min=0.0, help="Start the --drift this many seconds in.")] = 0.0,
    drift_for: Annotated[float, typer.Option(min=0.0, help="Stop the --drift after this long (0 = never).")] = 0.0,
) -> None:
    """Serve simulated analyzers over Modbus TCP (or RTU) until interrupted."""
    drift_rates = parse_drift(drift or [], {str(p["name"]) for p in _BASE_POINTS})
    faulty = {int(u) for u in fault_units.split(",")} if fault_units else set(range(1, units + 1))

    async def main() -> None:
        sim = await run_modbus_simulator(
            host, port, range(1, units + 1), serial_port=serial, baudrate=baudrate, pad_to=pad_to, seed=seed
        )
        for unit in faulty & set(sim.analyzers):
            faults = sim.analyzer(unit).faults
            if not drift_after:
                faults.drift.update(drift_rates)
            faults.spike_probability = spikes
            faults.error_code = error_code
        where = serial or f"{host}:{sim.port}"
        typer.echo(f"Modbus simulator: {units} analyzers (unit ids 1..{units}) on {where}; Ctrl-C stops")
        rng = random.Random(seed)
        started = time.monotonic()
        try:
            while True:
                await asyncio.sleep(0.5)
                elapsed = time.monotonic() - started
                # A delayed or bounded drift: normal behaviour first, so a detector can learn it (the demo).
                drifting = elapsed >= drift_after and (not drift_for or elapsed < drift_after + drift_for)
                for unit in faulty & set(sim.analyzers):
                    faults = sim.analyzer(unit).faults
                    if (drift_after or drift_for) and bool(faults.drift) != drifting:
                        faults.drift = dict(drift_rates) if drifting else {}
                    if error_every:
                        in_error = elapsed % error_every >= error_every - 10
                        if in_error and not faults.error_code:
                            faults.error_code = rng.choice(ERROR_CODES)
                        elif not in_error and faults.error_code != error_code:
                            faults.error_code = error_code
                    if silence_every:
                        faults.silent = elapsed % silence_every >= silence_every - silence_for
        finally:
            await sim.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
