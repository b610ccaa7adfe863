"""dashboards: monthly rollups of the ticket history and the indexes that keep them fresh

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0021'
branch_labels = None
depends_on = None

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


def _dimensions() -> list[sa.Column]:
    return [sa.Column(name, type_, nullable=nullable) for name, type_, nullable in DIMENSIONS]


def _measures() -> list[sa.Column]:
    return [sa.Column(name, sa.BigInteger() if name == 'repair_s' else sa.Integer(), nullable=False)
            for name in MEASURES]


def _indexes(table: str) -> None:
    op.create_index(f'ix_{table}_grain_hospital_id_month', table, ['grain', 'hospital_id', 'month'])
    op.create_index(f'ix_{table}_grain_month', table, ['grain', 'month'])


def upgrade() -> None:
    op.create_table('dash_rollup', sa.Column('id', sa.Integer(), nullable=False), *_dimensions(), *_measures(),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_dash_rollup')))
    _indexes('dash_rollup')
    op.create_table('dash_engineer_rollup', sa.Column('id', sa.Integer(), nullable=False), *_dimensions(),
                    sa.Column('engineer_id', sa.Integer(), nullable=False), *_measures(),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_dash_engineer_rollup')))
    _indexes('dash_engineer_rollup')
    op.create_table('dash_fault_rollup', sa.Column('id', sa.Integer(), nullable=False), *_dimensions(),
                    sa.Column('fault_category', sa.String(length=50), nullable=False),
                    *[sa.Column(name, sa.Integer(), nullable=False) for name in ('faults', 'basic', 'remote',
                                                                                  'on_site')],
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_dash_fault_rollup')))
    _indexes('dash_fault_rollup')
    op.create_table('dash_exposure', sa.Column('id', sa.Integer(), nullable=False),
                    *[c for c in _dimensions() if c.name != 'origin'],
                    sa.Column('device_months', sa.Float(), nullable=False),
                    sa.Column('service_h', sa.Float(), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_dash_exposure')))
    _indexes('dash_exposure')
    op.create_table('dash_device_dims', sa.Column('device_id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('hospital_id', sa.Integer(), nullable=False),
                    sa.Column('department_id', sa.Integer(), nullable=True),
                    sa.Column('group_id', sa.Integer(), nullable=True),
                    sa.Column('category', sa.String(length=50), nullable=False),
                    sa.Column('model', sa.String(length=100), nullable=False),
                    sa.Column('install_date', sa.Date(), nullable=True),
                    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_dash_device_dims')))
    op.create_table('dash_rollup_state', sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('watermark', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('exposure_from', sa.Date(), nullable=True),
                    sa.Column('exposure_until', sa.Date(), nullable=True),
                    sa.Column('exposure_current_at', sa.DateTime(timezone=True), nullable=True),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_dash_rollup_state')))
    # The refresh finds changed tickets, pre-checks and devices by updated_at; per-hospital queries by both.
    op.create_index('ix_ticket_updated_at', 'ticket', ['updated_at'])
    op.create_index('ix_ticket_hospital_id_created_at', 'ticket', ['hospital_id', 'created_at'])
    op.create_index('ix_precheck_task_updated_at', 'precheck_task', ['updated_at'])
    op.create_index('ix_device_updated_at', 'device', ['updated_at'])


def downgrade() -> None:
    op.drop_index('ix_device_updated_at', table_name='device')
    op.drop_index('ix_precheck_task_updated_at', table_name='precheck_task')
    op.drop_index('ix_ticket_hospital_id_created_at', table_name='ticket')
    op.drop_index('ix_ticket_updated_at', table_name='ticket')
    op.drop_table('dash_rollup_state')
    op.drop_table('dash_device_dims')
    op.drop_table('dash_exposure')
    for table in ('dash_fault_rollup', 'dash_engineer_rollup', 'dash_rollup'):
        op.drop_table(table)
