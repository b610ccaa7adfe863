"""The cloud app in its own process (for the benches: its CPU and GIL are not charged to the measuring process).

    python -m tests.edge.cloud_process --database-url sqlite:///c.db --data-dir DIR --port 8123

The database must already be migrated with a gateway registered (tests/edge/cloud_server.py's CloudServer does that
without starting its in-thread server). :class:`CloudProcess` starts it, waits for the port, and stops it.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class CloudProcess:
    """`uvicorn` serving create_app() on a loopback port, as a child process (restartable)."""

    def __init__(self, database_url: str, data_dir: Path, port: int, log_path: Path) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """What the child process runs."""
        return [sys.executable, "-m", "tests.edge.cloud_process", "--database-url", self.database_url,
                "--data-dir", str(self.data_dir), "--port", str(self.port)]

    def start(self, timeout: float = 30.0) -> None:
        """Start serving and wait until the port accepts connections."""
        assert self.proc is None
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command()[1:3]} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.command()[1:3]} did not start listening on port {self.port}")

    def cpu_seconds(self) -> float | None:
        """User+system CPU the running cloud process used so far (from /proc), or None."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it lingers more than `timeout` seconds; always reaped."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def main() -> None:
    """Serve the cloud app (entry point of the child process)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvicorn

    from cloud.config import Settings
    from cloud.main import create_app

    settings = Settings(database_url=args.database_url, data_dir=args.data_dir, mqtt_url="")
    uvicorn.run(create_app(settings), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
