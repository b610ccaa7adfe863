"""Private copies of the machine's services for fault tests: started on a free port, killed and started again
without disturbing the shared ones the rest of the suite uses."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from tests.conftest import need, port_open
from tests.edge.cloud_server import free_port


class PrivateService:
    """A server on a loopback port of its own, restartable on the same port; killed with SIGKILL (a crash)."""

    program = ""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            assert self.proc.poll() is None, f"{self.program} exited"
            assert time.monotonic() < deadline, f"{self.program} did not listen"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None

    @contextlib.contextmanager
    def running(self) -> Iterator[Self]:
        """Started now, killed at the end whatever the test left it as (skips when the program is missing)."""
        need(shutil.which(self.program) is not None, f"Debian's {self.program} (make services)")
        self.start()
        try:
            yield self
        finally:
            if self.proc is not None:
                self.kill()


class RedisServer(PrivateService):
    """redis-server keeping nothing on disk."""

    program = "redis-server"

    def command(self) -> list[str]:
        return [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


class MosquittoServer(PrivateService):
    """mosquitto without persistence: after a restart both sides start over on an empty broker, as after a crash."""

    program = "mosquitto"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             f"log_dest file {folder / 'mosquitto.log'}\n")

    def command(self) -> list[str]:
        return [self.program, "-c", str(self.conf)]
