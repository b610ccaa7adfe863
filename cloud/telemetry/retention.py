"""Retention of raw readings and rollups (issue 6), applied by a periodic job.

Settings: MEDFIX_RAW_RETENTION_DAYS (raw readings, default 30), MEDFIX_ROLLUP_1M_RETENTION_DAYS (default 180),
MEDFIX_ROLLUP_1H_RETENTION_DAYS (default 0 = keep for ever), MEDFIX_RETENTION_INTERVAL_S (how often).
Rollups are maintained on ingest, so deleting raw readings keeps their averages: old charts keep working at a
bucket of one minute or more. Events (error codes, ASTM results) are never deleted here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.config import Settings
from cloud.db import utcnow
from cloud.telemetry.models import Reading, ReadingRollupHour, ReadingRollupMinute

log = logging.getLogger("medfix.telemetry.retention")

CHUNK = 10_000  # rows per DELETE: short transactions, so ingest never waits long behind the job


@dataclass(frozen=True)
class Retention:
    """How many days each kind of data is kept (0 = for ever)."""

    raw_days: int = 30
    minute_days: int = 180
    hour_days: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        """The retention the settings ask for."""
        return cls(raw_days=settings.raw_retention_days, minute_days=settings.rollup_1m_retention_days,
                   hour_days=settings.rollup_1h_retention_days)


def apply_retention(sessions: sessionmaker[Session], retention: Retention, *, now: datetime | None = None,
                    ) -> dict[str, int]:
    """Delete what is older than its retention, chunk by chunk (each committed); returns rows deleted per table."""
    now = now or utcnow()
    deleted = {"reading": 0, "reading_rollup_1m": 0, "reading_rollup_1h": 0}
    if retention.raw_days > 0:
        cutoff = now - timedelta(days=retention.raw_days)
        while True:
            with sessions() as session:
                ids = list(session.execute(select(Reading.id).where(Reading.observed_at < cutoff).limit(CHUNK))
                           .scalars())
                if ids:
                    session.execute(delete(Reading).where(Reading.id.in_(ids)))
                    session.commit()
            deleted["reading"] += len(ids)
            if len(ids) < CHUNK:
                break
    for model, days in ((ReadingRollupMinute, retention.minute_days), (ReadingRollupHour, retention.hour_days)):
        if days > 0:
            bucket_cutoff = int((now - timedelta(days=days)).timestamp())
            with sessions() as session:
                result = session.execute(delete(model).where(model.bucket < bucket_cutoff))
                session.commit()
            deleted[model.__tablename__] += int(getattr(result, "rowcount", 0) or 0)
    return deleted



def run_retention(sessions: sessionmaker[Session], retention: Retention) -> dict[str, int]:
    """Apply the retention once and log what it deleted (the periodic job calls this)."""
    deleted = apply_retention(sessions, retention)
    if any(deleted.values()):
        log.info("retention deleted %s", deleted)
    return deleted
