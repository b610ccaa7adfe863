"""deploy/cloud/postgresql/partition-readings.sql: the reading table partitioned by month under a running medfix.

On a database deployed as production is, with readings stored, the script turns the table into a partitioned one
without copying them; then the application role's ingest (with its ON CONFLICT deduplication), the retention job,
and the upkeep functions the timer calls all work on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.audit.service import Actor
from cloud.db import make_engine, make_sessionmaker
from cloud.telemetry.models import Gateway
from cloud.telemetry.retention import Retention, apply_retention
from cloud.telemetry.service import create_gateway, ingest_batch, map_device
from cloud.telemetry.store import SqlTimeSeriesStore
from protocols.telemetry import Batch, Reading
from tests.cloud.world import build_world
from tests.deploy.support import DEPLOY, Deployed, deployed_database, libpq_env, run

NOW = datetime.now(UTC)
NEXT_MONTH = (NOW.replace(day=1, hour=12, minute=0, second=0, microsecond=0) + timedelta(days=40)).replace(day=2)


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    with deployed_database() as database:
        yield database


@pytest.fixture(scope="module")
def app_sessions(deployed: Deployed) -> Iterator[tuple[sessionmaker[Session], int]]:
    engine = make_engine(deployed.app_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        world = build_world(session)
        gateway, _token = create_gateway(session, name="lab-gw-p", hospital_id=world.hospital_a,
                                         actor=Actor.system("deploy-test"))
        map_device(session, gateway_id=gateway.id, device_key="c702", device_id=world.devices_a[0],
                   actor=Actor.system("deploy-test"))
        session.commit()
        gateway_id = gateway.id
    yield sessions, gateway_id
    engine.dispose()


def ingest(sessions: sessionmaker[Session], gateway_id: int, sequence: int, instants: list[datetime]) -> int:
    """One batch through the ingest's service call, as the application role; readings accepted."""
    batch = Batch(gateway_id="lab-gw-p", stream_id="s1", sequence=sequence, created_at=NOW,
                  readings=[Reading(device_key="c702", metric="temp", value=37.0, observed_at=at) for at in instants])
    with sessions() as session:
        ack = ingest_batch(session, gateway=session.get(Gateway, gateway_id), batch=batch,
                           store=SqlTimeSeriesStore(session))
        session.commit()
    return ack.accepted_readings


def per_partition(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT tableoid::regclass::text, count(*) FROM reading GROUP BY 1")).all()
    return {str(name): int(count) for name, count in rows}


def test_partitioning_keeps_the_rows_and_the_application_keeps_working(
        deployed: Deployed, app_sessions: tuple[sessionmaker[Session], int]) -> None:
    sessions, gateway_id = app_sessions
    old = [NOW - timedelta(days=70, seconds=i) for i in range(5)]
    recent = [NOW - timedelta(hours=1, seconds=i) for i in range(5)]
    assert ingest(sessions, gateway_id, 0, old + recent) == 10

    owner_env = {**libpq_env(deployed.database), "PGUSER": deployed.owner}
    run(["psql", "-X", "-q", "-v", f"app={deployed.app}", "-f", str(DEPLOY / "postgresql" / "partition-readings.sql")],
        env=owner_env)
    owner = create_engine(deployed.owner_url)
    try:
        with owner.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_partitioned_table WHERE partrelid = 'reading'::regclass")
                                ).scalar_one() == 1
            months = conn.execute(text("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                       "WHERE i.inhparent = 'reading'::regclass AND c.relname ~ '^reading_y'")).scalar()
            assert months == 3  # the next 3 months; this one is still in the history partition
        assert per_partition(owner) == {"reading_history": 10}  # nothing copied, nothing lost

        # The application role's ingest: next month's reading in its partition, a clock years off in the default,
        # and a reading already stored (another batch re-sending it) not stored twice (ON CONFLICT on the key).
        far = datetime(2035, 6, 1, tzinfo=UTC)
        ingest(sessions, gateway_id, 1, [NEXT_MONTH, far, recent[0]])
        partitions = per_partition(owner)
        assert partitions["reading_history"] == 10 and partitions["reading_default"] == 1  # recent[0] once
        month = f"reading_y{NEXT_MONTH:%Y}m{NEXT_MONTH:%m}"
        assert partitions[month] == 1

        # The app's retention still deletes old rows through the parent.
        deleted = apply_retention(sessions, Retention(raw_days=30, minute_days=0, hour_days=0), now=NOW)
        assert deleted["reading"] == 5
        assert per_partition(owner)["reading_history"] == 5

        # The timer's upkeep: whole months dropped once older than the kept days, recreated ahead.
        with owner.begin() as conn:
            dropped = conn.execute(text("SELECT medfix_reading_partitions_drop(-100)")).scalar_one()
        assert dropped >= 1 and month not in per_partition(owner)
        assert per_partition(owner)["reading_history"] == 5 and per_partition(owner)["reading_default"] == 1
        with owner.begin() as conn:
            assert conn.execute(text("SELECT medfix_reading_partitions_ahead(3)")).scalar_one() == dropped
        assert ingest(sessions, gateway_id, 2, [NEXT_MONTH + timedelta(hours=1)]) == 1
        assert per_partition(owner)[month] == 1
    finally:
        owner.dispose()
