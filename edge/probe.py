"""`medfix edge probe modbus`: read raw registers and show them under every type and byte/word order."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated

import typer

from edge.drivers.modbus import ModbusHub, ModbusHubError
from protocols.modbus import ReadRequest, Table, format_probe, probe


class ProbeTable(StrEnum):
    """Register tables a probe can read (bits have no byte order to guess)."""

    HOLDING = "holding"
    INPUT = "input"


async def read_words(hub: ModbusHub, *, unit: int, address: int, count: int, table: ProbeTable) -> list[int]:
    """Read `count` raw 16-bit words through a hub."""
    request = ReadRequest(unit_id=unit, table=Table(ProbeTable(table).value), address=address, count=count, points=())
    return [int(word) for word in await hub.read(request)]


def probe_modbus(
    host: Annotated[str | None, typer.Option(help="Modbus TCP host (or use --serial).")] = None,
    port: Annotated[int, typer.Option(help="Modbus TCP port.")] = 502,
    serial: Annotated[str | None, typer.Option(help="Serial port for Modbus RTU, e.g. /dev/ttyUSB0.")] = None,
    baudrate: Annotated[int, typer.Option(help="Serial speed, with --serial.")] = 9600,
    parity: Annotated[str, typer.Option(help="Serial parity N, E or O, with --serial.")] = "N",
    unit: Annotated[int, typer.Option(min=0, max=255, help="Unit id (slave address).")] = 1,
    address: Annotated[int, typer.Option(min=0, max=0xFFFF, help="Zero-based register address.")] = 0,
    count: Annotated[int, typer.Option(min=1, max=125, help="Registers to read (4 shows 64-bit types).")] = 2,
    table: Annotated[ProbeTable, typer.Option(help="Register table.")] = ProbeTable.HOLDING,
    timeout: Annotated[float, typer.Option(min=0.05, help="Seconds to wait for the answer.")] = 2.0,
) -> None:
    """Read registers and print them under every type and byte/word order, to find a device's layout."""
    if (host is None) == (serial is None):
        raise typer.BadParameter("give exactly one of --host or --serial")
    table = ProbeTable(table)  # plain callers may pass "input"
    if serial is not None:
        hub = ModbusHub.serial(serial, baudrate=baudrate, parity=parity.upper(), timeout=timeout, retries=0)
    else:
        assert host is not None
        hub = ModbusHub.tcp(host, port, timeout=timeout, retries=0)

    async def read() -> list[int]:
        async with hub:
            return await read_words(hub, unit=unit, address=address, count=count, table=table)

    try:
        words = asyncio.run(read())
    except ModbusHubError as exc:
        typer.echo(f"probe failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    where = serial or f"{host}:{port}"
    typer.echo(f"{where} unit {unit} {table.value} {address}..{address + count - 1}")
    typer.echo("words: " + " ".join(f"{word:04X}" for word in words))
    typer.echo(format_probe(probe(words)))
