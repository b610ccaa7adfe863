"""Whole-system fixtures: a real server process on a free port and Debian's chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import need

CHROMIUM = "/usr/bin/chromium"
# Flags for a root, offline, headless machine: no sandbox, and no background calls to Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 # a synthetic microphone, so voice notes can be recorded headless
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


READY_TIMEOUT_S = 90


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def medfix(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the medfix CLI in a child process."""
    return subprocess.run([sys.executable, "-m", "medfix.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=True)


class LiveServer:
    """A `medfix cloud serve` process on its own data folder."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MEDFIX_DATA_DIR": str(data_dir), "MEDFIX_PUBLIC_URL": self.url,
                    "MEDFIX_DATABASE_URL": "",
                    # New streams learn for 3 minutes before they may alert, as `make run`'s drifting analyzer
                    # (its alert policy: cloud/demo_run.py).
                    "MEDFIX_ALERT_LEARNING_HOURS": "0.05", **(extra_env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medfix.cli", "cloud", "serve", "--port", str(self.port)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Generous: on a loaded 2-core box the first start (imports, migrations, the bot's index) takes a while.
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"server exited: {output}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not become ready in {READY_TIMEOUT_S} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the demo seeded, made once: seeding a year of history takes seconds, copying it none."""
    folder = tmp_path_factory.mktemp("demo-seeded")
    medfix("demo", "seed", env=LiveServer(folder).env)
    return folder


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, demo_data: Path) -> Iterator[LiveServer]:
    """The product as `make run` starts it: migrated, demo data seeded, serving on a free port (its own copy)."""
    folder = tmp_path_factory.mktemp("demo")
    shutil.copytree(demo_data, folder, dirs_exist_ok=True)
    server = LiveServer(folder)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser)."""
    need(os.path.exists(CHROMIUM), "Debian's chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


DEMO_PASSWORD = "medfix-demo"


def token(server: LiveServer, username: str) -> str:
    """A bearer token of one of the demo accounts."""
    response = httpx.post(f"{server.url}/api/v1/auth/token",
                          data={"username": username, "password": DEMO_PASSWORD}, timeout=10)
    response.raise_for_status()
    return str(response.json()["access_token"])


def label_code(server: LiveServer, kind: str, target_id: int) -> str:
    """The QR label code of a device or group ("devices"/"groups"), as printed on its label."""
    response = httpx.get(f"{server.url}/api/v1/{kind}/{target_id}/qr.svg",
                         headers={"Authorization": f"Bearer {token(server, 'admin')}"})
    assert response.status_code == 200, response.text
    filename = response.headers["content-disposition"].split('filename="')[1].rstrip('"')
    return filename.rsplit(".", 1)[0].rsplit("-", 1)[1]  # "<system number>-<code>.svg"


def sign_in(page: object, server: LiveServer, username: str, path: str) -> None:
    """Open a page that needs a session, sign in on the login page it leads to, and land back on it."""
    page.goto(f"{server.url}{path}")  # type: ignore[attr-defined]
    assert "/login" in page.url  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", DEMO_PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"**{path.split('?')[0]}*")  # type: ignore[attr-defined]


def page_errors(page: object) -> list[str]:
    """A list that fills with the page's script errors and failed (4xx/5xx) responses while the test runs."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))  # type: ignore[attr-defined]
    # The browser's own favicon probe is no error of ours.
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")  # type: ignore[attr-defined]
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    return errors
