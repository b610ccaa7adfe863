"""Analyzer simulators served over real transports, for tests, the demo and `medfix edge simulate`."""

from __future__ import annotations

from collections.abc import Collection

import typer


def parse_drift(items: list[str], known: Collection[str]) -> dict[str, float]:
    """`NAME=UNITS_PER_MINUTE` options as a dict; an unknown name or a bad rate is a clear CLI error."""
    drift: dict[str, float] = {}
    for item in items:
        name, sep, rate = item.partition("=")
        try:
            drift[name] = float(rate)
        except ValueError:
            sep = ""
        if not sep or name not in known:
            raise typer.BadParameter(f"expected NAME=UNITS_PER_MINUTE with NAME one of {sorted(known)}, got {item!r}")
    return drift
