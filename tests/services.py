"""Private copies of the machine's services for fault tests: started on a free port, killed and started again
without disturbing the shared ones the rest of the suite uses."""

from __future__ import annotations

import subprocess
import time

from tests.conftest import port_open
from tests.edge.cloud_server import free_port


class RedisServer:
    """redis-server on a loopback port, keeping nothing on disk, restartable on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            assert self.proc.poll() is None and time.monotonic() < deadline, "redis-server did not listen"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None
