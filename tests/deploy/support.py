"""Helpers of the deployment tests: free ports, a self-signed certificate, child processes, deployed databases.

The deployment files under deploy/cloud are used as they are: roles.sql and grants.sql through psql,
migrate.sh, backup.sh and restore.sh as shell scripts, the nginx template through deploy/cloud/render.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from sqlalchemy import create_engine, text

from tests.conftest import need, port_open

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "cloud"
PG_ADMIN_URL = os.environ.get("MEDFIX_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
VENV = Path(sys.executable).parent.parent  # migrate.sh runs "$MEDFIX_VENV/bin/medfix"


def render_module() -> ModuleType:
    """deploy/cloud/render.py (not a package: it runs with the system python3 on a bare host)."""
    spec = importlib.util.spec_from_file_location("medfix_deploy_render", DEPLOY / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A throw-away certificate for name and 127.0.0.1, made with openssl: (cert, key)."""
    need(shutil.which("openssl") is not None, "openssl")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class Child:
    """A child process with its output in a log file, in a process group of its own so stop() gets it all."""

    def __init__(self, name: str, command: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(list(command), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def tail(self, lines: int = 40) -> str:
        """The end of its log, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ready() until true; fail naming this process and its log if it exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode} before {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {what} within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def wait_port(self, port: int, timeout: float = 40.0) -> None:
        """Until something accepts connections on 127.0.0.1:port."""
        self.wait_for(f"listener on port {port}", lambda: port_open("127.0.0.1", port, timeout=0.2), timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (as systemd stops a unit), then SIGKILL after timeout; the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode


def run(command: Sequence[str], env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run a deployment script to completion; its output, or a failure that shows it."""
    done = subprocess.run(list(command), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def libpq_env(database: str) -> dict[str, str]:
    """The environment psql, pg_dump and the scripts get: libpq's variables for the test server as postgres."""
    from sqlalchemy.engine import make_url

    admin = make_url(PG_ADMIN_URL)
    env = {**os.environ, "PGHOST": admin.host or "127.0.0.1", "PGPORT": str(admin.port or 5432),
           "PGUSER": admin.username or "postgres", "PGDATABASE": database}
    if admin.password:
        env["PGPASSWORD"] = admin.password
    return env


@dataclass
class Deployed:
    """A database set up as production is: roles.sql, then migrate.sh as the owner role."""

    database: str
    owner: str
    app: str

    def url(self, role: str, database: str | None = None) -> str:
        """A SQLAlchemy URL of the test server as role (the test server trusts local connections)."""
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        scheme, rest = base.split("://", 1)
        host = rest.split("@", 1)[-1]
        return f"{scheme}://{role}@{host}/{database or self.database}"

    @property
    def owner_url(self) -> str:
        return self.url(self.owner)

    @property
    def app_url(self) -> str:
        return self.url(self.app)


def need_postgresql() -> None:
    """Skip (fail in CI) without the PostgreSQL server and its client programs."""
    need(port_open("127.0.0.1", 5432) or "127.0.0.1" not in PG_ADMIN_URL, "PostgreSQL on 127.0.0.1:5432")
    for program in ("psql", "pg_dump", "pg_restore", "createdb"):
        need(shutil.which(program) is not None, f"the PostgreSQL client program {program}")


def drop_database(name: str) -> None:
    """Drop a test database, connections and all."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextlib.contextmanager
def deployed_database() -> Iterator[Deployed]:
    """A fresh database with its own owner and application roles, migrated by migrate.sh; dropped afterwards.

    Role names are cluster-wide, so each use has its own (tests of other files and other runs share the server).
    """
    need_postgresql()
    tag = f"medfix_dep_{uuid.uuid4().hex[:8]}"
    deployed = Deployed(database=tag, owner=f"{tag}_owner", app=f"{tag}_app")
    try:
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"owner={deployed.owner}", "-v", f"app={deployed.app}",
             "-v", f"db={deployed.database}", "-f", str(DEPLOY / "postgresql" / "roles.sql")],
            env=libpq_env("postgres"))
        run([str(DEPLOY / "postgresql" / "migrate.sh")],
            env={**os.environ, "MEDFIX_DATABASE_URL": deployed.owner_url, "MEDFIX_PG_APP_ROLE": deployed.app,
                 "MEDFIX_VENV": str(VENV), "PYTHONPATH": str(ROOT)}, timeout=300)
        yield deployed
    finally:
        drop_database(deployed.database)
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for role in (deployed.app, deployed.owner):
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
