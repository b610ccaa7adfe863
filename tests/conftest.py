"""Shared test helpers: real services (PostgreSQL, Redis, Mosquitto) are required in CI and optional locally."""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import HealthCheck, settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def need(condition: bool, what: str) -> None:
    """Skip when a local service or tool is missing; in CI that is a failure, never a skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI (.ci/run starts it)")
    pytest.skip(f"{what} is not available here")


@pytest.fixture
def one_rate_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold the rate limiter's clock inside one window, so a test that counts hits never straddles a minute."""
    import types

    import cloud.ratelimit

    monkeypatch.setattr(cloud.ratelimit, "time", types.SimpleNamespace(time=lambda: 1_800_000_030.0))


# --- hypothesis profiles (the codec fuzz tests: tests/protocols/test_fuzz_*.py, tests/edge/test_fuzz_*.py) ---
# "ci" (the default) is bounded and reproducible: the same examples on every run, no example database;
# 100 examples a test keeps the 50 fuzz tests near 20 s of CPU on a small box.
# "deep" is for long local runs: HYPOTHESIS_PROFILE=deep pytest tests/protocols -k fuzz (see docs/architecture.md).
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=500,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep", settings.get_profile("ci"), max_examples=20_000, deadline=None, derandomize=False
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
