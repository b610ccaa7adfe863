"""`medfix edge run` as a real subprocess for the crash test and the benches: start, SIGKILL, SIGTERM, always reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO


def medfix_command() -> list[str]:
    """The `medfix` console script of the running interpreter's environment (python -c as a fallback)."""
    script = Path(sys.executable).with_name("medfix")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from medfix.cli import app; app()"]


class AgentProcess:
    """One agent config, run (and re-run) as a child process; every start appends to one log file."""

    def __init__(self, config_path: Path, log_path: Path, *, log_level: str = "INFO") -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The running child's pid, or None."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> None:
        """Start `medfix edge run -c CONFIG` (the previous child must be gone)."""
        assert self.pid is None, "the agent is already running"
        self._log = self._log or self.log_path.open("ab")
        self._log.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
        self._log.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*medfix_command(), "edge", "run", "-c", str(self.config_path), "--log-level", self.log_level],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL the child and reap it (no clean-up of any kind runs in the agent)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.kills += 1
        self.proc.wait(timeout=10)
        self.proc = None

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful stop), SIGKILL if it does not exit in time; return the exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                return None
        return proc.returncode

    def cpu_seconds(self) -> float | None:
        """User+system CPU time the running child has used so far (from /proc), or None."""
        pid = self.pid
        if pid is None:
            return None
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)

    def close(self) -> None:
        """Kill whatever still runs and close the log."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the agent's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
