"""readings deduplicated by their natural key; the hashed per-reading key column and the gateway FK go

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25

A reading's idempotency key (protocols.telemetry.reading_idempotency_key) is a hash of (device key, metric,
instant), so UNIQUE (gateway_id, observed_at, device_key, metric) rejects exactly the same re-sends as
UNIQUE (gateway_id, idempotency_key) did, without hashing every reading on ingest, storing 32 more bytes per row
and inserting into an index in random order. Rows already stored are unique under the new key for the same
reason (equal natural keys gave equal hashes), so building the index cannot fail on existing data.

reading.gateway_id stops being a foreign key: checking it cost a fifth of a bulk insert (every batch also updates
its gateway's row), and gateways are never deleted (nothing offers it; gateway.hospital_id is RESTRICT).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from protocols.telemetry import reading_idempotency_key

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

OLD = 'uq_reading_gateway_id_idempotency_key'
NEW = 'uq_reading_gateway_id_observed_at_device_key_metric'
FK = 'fk_reading_gateway_id_gateway'


def upgrade() -> None:
    # On SQLite batch mode rebuilds the table (it cannot drop a constraint in place); on PostgreSQL these are
    # plain ALTERs (dropping the column only marks it dropped).
    with op.batch_alter_table('reading', schema=None) as batch_op:
        batch_op.drop_constraint(OLD, type_='unique')
        batch_op.create_unique_constraint(NEW, ['gateway_id', 'observed_at', 'device_key', 'metric'])
        batch_op.drop_column('idempotency_key')
        batch_op.drop_constraint(FK, type_='foreignkey')


def downgrade() -> None:
    # The column comes back filled with the same hash the edge contract defines, computed here in Python.
    with op.batch_alter_table('reading', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    reading = sa.table('reading', sa.column('id', sa.BigInteger()), sa.column('device_key', sa.String()),
                       sa.column('metric', sa.String()), sa.column('observed_at', sa.DateTime(timezone=True)),
                       sa.column('idempotency_key', sa.String()))
    rows = bind.execute(sa.select(reading.c.id, reading.c.device_key, reading.c.metric, reading.c.observed_at)).all()
    for start in range(0, len(rows), 10_000):
        part = rows[start:start + 10_000]
        bind.execute(sa.update(reading).where(reading.c.id == sa.bindparam('rid')).values(
            idempotency_key=sa.bindparam('key')), [
            {'rid': i, 'key': reading_idempotency_key(k, m, _utc(at))} for i, k, m, at in part])
    with op.batch_alter_table('reading', schema=None) as batch_op:
        batch_op.alter_column('idempotency_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint(NEW, type_='unique')
        batch_op.create_unique_constraint(OLD, ['gateway_id', 'idempotency_key'])
        batch_op.create_foreign_key(FK, 'gateway', ['gateway_id'], ['id'], ondelete='CASCADE')


def _utc(moment: datetime | str) -> datetime:
    # SQLite hands timestamps back naive (they were written as UTC); reading_idempotency_key needs them aware.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
