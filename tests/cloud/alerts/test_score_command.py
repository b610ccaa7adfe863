"""`medfix cloud score`: a scoring worker process apart from the API; SIGTERM checkpoints and hands back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.models import DetectorState
from cloud.alerts.partition import Keys, Publisher
from cloud.config import Settings
from tests.cloud.alerts.test_partition import (
    METRICS,
    PARTITIONS,
    batches,
    devices,
    event,
    prefix,  # noqa: F401 - fixture
    redis_client,  # noqa: F401 - fixture
    sessions,  # noqa: F401 - fixture
)
from tests.cloud.world import World

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def backend() -> str:
    """One backend is enough for the process plumbing (the scoring itself runs on both elsewhere)."""
    return "sqlite"


def score_process(settings: Settings, prefix: str, log: Path) -> subprocess.Popen[bytes]:  # noqa: F811
    """`medfix cloud score` on the test database and a private Redis prefix."""
    env = {**os.environ, "MEDFIX_DATABASE_URL": settings.effective_database_url,
           "MEDFIX_DATA_DIR": str(settings.data_dir), "MEDFIX_REDIS_URL": "redis://127.0.0.1:6379/0",
           "MEDFIX_SCORING_PARTITIONS": str(PARTITIONS), "MEDFIX_SCORING_KEY_PREFIX": prefix,
           "MEDFIX_SCORING_LEASE_MS": "2000", "MEDFIX_ALERT_CHECKPOINT_INTERVAL_S": "3600",
           "MEDFIX_SCORING_WORKERS": "0"}  # as the API would have it: the command still runs one worker
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "medfix.cli", "cloud", "score"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def read_all(redis_client: Any, keys: Keys, p: int) -> bool:  # noqa: F811
    """Whether the worker has read every entry of partition p (scored; acked only after a checkpoint)."""
    try:
        pending = int(redis_client.xpending(keys.stream(p), "scorers")["pending"])
        return pending == int(redis_client.xlen(keys.stream(p)))
    except Exception:  # the group is created just after the lease is taken
        return False


def test_score_runs_workers_apart_and_checkpoints_on_sigterm(
        sessions: sessionmaker[Session], settings: Settings, world: World, prefix: str,  # noqa: F811
        redis_client: Any, tmp_path: Path) -> None:  # noqa: F811
    log = tmp_path / "score.log"
    process = score_process(settings, prefix, log)
    keys = Keys(prefix)
    try:
        deadline = time.monotonic() + 30
        while not all(redis_client.exists(keys.lease(p)) for p in range(PARTITIONS)):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        publisher = Publisher(redis_client, prefix=prefix, partitions=PARTITIONS)
        for batch in batches(devices(world), 0, 200):
            publisher.on_ingested(event(batch))
        deadline = time.monotonic() + 30
        while not all(read_all(redis_client, keys, p) for p in range(PARTITIONS)):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 0, log.read_text()
    assert "checkpointed and handed the partitions back" in log.read_text()
    with sessions() as session:
        rows = {(r.device_id, r.metric): r.points for r in session.execute(select(DetectorState)).scalars()}
    assert rows == {(d, m): 200 for d in devices(world) for m in METRICS}
    assert not any(redis_client.exists(keys.lease(p)) for p in range(PARTITIONS))  # handed back at once
    assert sum(redis_client.xlen(keys.stream(p)) for p in range(PARTITIONS)) == 0  # acked after the checkpoint


def test_score_refuses_to_run_unpartitioned(settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "MEDFIX_DATABASE_URL": settings.effective_database_url, "MEDFIX_SCORING_PARTITIONS": "0"}
    done = subprocess.run([sys.executable, "-m", "medfix.cli", "cloud", "score"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "MEDFIX_SCORING_PARTITIONS" in done.stderr
