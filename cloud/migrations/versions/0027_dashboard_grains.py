"""dashboards: a per-device rollup, (grain, model, month) indexes on the rollups, and a rebuild for new grains

Rollup grains are rows, not columns (cloud/dashboards/rollups.GRAINS), so the new ones (departments, departments
by age band, device groups with every device dimension, engineers by age band) need no new table; forgetting the
refresh state makes the next dashboard request rebuild the rollups from the tickets, which adds them and fills
the new per-device rollup.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

TABLES = ('dash_rollup', 'dash_engineer_rollup', 'dash_fault_rollup', 'dash_exposure')
DIMENSIONS = (
    ('grain', sa.String(length=8), False), ('month', sa.Date(), False), ('hospital_id', sa.Integer(), True),
    ('department_id', sa.Integer(), True), ('group_id', sa.Integer(), True), ('category', sa.String(length=50), True),
    ('model', sa.String(length=100), True), ('age_band', sa.String(length=10), True),
    ('origin', sa.String(length=12), True),
)
MEASURES = (
    'tickets', 'reports', 'faults', 'repaired', 'repair_s', 'ftf_base', 'ftf', 'fr_met', 'fr_late', 'res_met',
    'res_late', 'basic', 'remote', 'on_site', 'predictive', 'pred_confirmed', 'pred_false', 'rated', 'rating_sum',
    'speed_n', 'speed_sum', 'attitude_n', 'attitude_sum', 'skill_n', 'skill_sum',
)


def upgrade() -> None:
    # A model filter no coarse grain covers reads the model's fine rows (a few percent) instead of every fine row.
    for table in TABLES:
        op.create_index(f'ix_{table}_grain_model_month', table, ['grain', 'model', 'month'])
    # Ticket facts per device and month: the device breakdown of a large hospital without summing its tickets.
    op.create_table('dash_device_rollup', sa.Column('id', sa.Integer(), nullable=False),
                    *[sa.Column(name, type_, nullable=nullable) for name, type_, nullable in DIMENSIONS],
                    sa.Column('device_id', sa.Integer(), nullable=False),
                    *[sa.Column(name, sa.BigInteger() if name == 'repair_s' else sa.Integer(), nullable=False)
                      for name in MEASURES],
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_dash_device_rollup')))
    op.create_index('ix_dash_device_rollup_grain_hospital_id_month', 'dash_device_rollup',
                    ['grain', 'hospital_id', 'month'])
    op.execute('DELETE FROM dash_rollup_state')  # rebuild on the next refresh, with the new grains and table


def downgrade() -> None:
    op.drop_table('dash_device_rollup')
    for table in TABLES:
        op.drop_index(f'ix_{table}_grain_model_month', table_name=table)
    op.execute('DELETE FROM dash_rollup_state')  # rebuild with the grains the older code knows
