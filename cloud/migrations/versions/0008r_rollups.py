"""1-minute and 1-hour reading rollups (issue 6: time series at scale)

Revision ID: 0008r
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008r'
down_revision = '0007'
branch_labels = None
depends_on = None

TABLES = ('reading_rollup_1m', 'reading_rollup_1h')


def upgrade() -> None:
    for name in TABLES:
        op.create_table(
            name,
            sa.Column('device_id', sa.Integer(), nullable=False),
            sa.Column('metric', sa.String(length=128), nullable=False),
            sa.Column('bucket', sa.BigInteger(), nullable=False),
            sa.Column('count', sa.BigInteger(), nullable=False),
            sa.Column('sum', sa.Float(), nullable=False),
            sa.Column('min', sa.Float(), nullable=False),
            sa.Column('max', sa.Float(), nullable=False),
            sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f(f'fk_{name}_device_id_device'),
                                    ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('device_id', 'metric', 'bucket', name=op.f(f'pk_{name}')),
        )
    # Readings stored before this revision are folded in once, so rollup queries agree with the raw data.
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        epoch = 'floor(extract(epoch from observed_at))::bigint'
    else:
        epoch = "CAST(strftime('%s', observed_at) AS INTEGER)"
    for name, size in (('reading_rollup_1m', 60), ('reading_rollup_1h', 3600)):
        op.execute(
            f"INSERT INTO {name} (device_id, metric, bucket, count, sum, min, max) "
            f"SELECT device_id, metric, ({epoch} / {size}) * {size}, count(*), sum(value_num), min(value_num), "
            f"max(value_num) FROM reading WHERE device_id IS NOT NULL AND value_num IS NOT NULL "
            f"AND quality <> 'bad' GROUP BY 1, 2, 3"
        )


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
