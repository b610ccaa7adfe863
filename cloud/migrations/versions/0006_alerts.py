"""alerts: detector_state, alert_policy, maintenance_window, alert

Revision ID: 0006a
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006a'
down_revision = '0005'
branch_labels = None
depends_on = None

UNRESOLVED_ONLY = sa.text("status != 'resolved'")
METRIC_WIDE = sa.text("device_id IS NULL")


def upgrade() -> None:
    op.create_table('alert_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('sensitivity', sa.Float(), nullable=True),
    sa.Column('min_duration_s', sa.Integer(), nullable=False),
    sa.Column('hysteresis', sa.Float(), nullable=False),
    sa.Column('cooldown_s', sa.Integer(), nullable=False),
    sa.Column('resolve_after_s', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('false_alarms', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_alert_policy_device_id_device'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_policy')),
    sa.UniqueConstraint('metric', 'device_id', name=op.f('uq_alert_policy_metric_device_id'))
    )
    with op.batch_alter_table('alert_policy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_policy_device_id'), ['device_id'], unique=False)
        # NULLs never clash in a UNIQUE constraint: one metric-wide row per metric needs a partial index.
        batch_op.create_index('uq_alert_policy_metric_wide', ['metric'], unique=True, sqlite_where=METRIC_WIDE,
                              postgresql_where=METRIC_WIDE)

    op.create_table('detector_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('detector', sa.String(length=64), nullable=False),
    sa.Column('state', sa.LargeBinary(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('last_observed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_detector_state_device_id_device'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_detector_state')),
    sa.UniqueConstraint('device_id', 'metric', name=op.f('uq_detector_state_device_id_metric'))
    )
    op.create_table('maintenance_window',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=400), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_maintenance_window_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_maintenance_window_device_id_device'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_window'))
    )
    with op.batch_alter_table('maintenance_window', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maintenance_window_device_id'), ['device_id'], unique=False)

    op.create_table('alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('status', sa.Enum('open', 'acknowledged', 'resolved', name='alert_status', native_enum=False, length=20), nullable=False),
    sa.Column('severity', sa.Enum('warning', 'major', 'critical', name='alert_severity', native_enum=False, length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_abnormal_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_score', sa.Float(), nullable=False),
    sa.Column('peak_score', sa.Float(), nullable=False),
    sa.Column('acknowledged_by', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(length=32), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('false_alarm', sa.Boolean(), nullable=False),
    sa.Column('false_alarm_note', sa.Text(), nullable=True),
    sa.Column('false_alarm_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['acknowledged_by'], ['user_account.id'], name=op.f('fk_alert_acknowledged_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_alert_device_id_device'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['false_alarm_by'], ['user_account.id'], name=op.f('fk_alert_false_alarm_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospital.id'], name=op.f('fk_alert_hospital_id_hospital'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_alert_ticket_id_ticket'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert'))
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index('ix_alert_device_id_metric', ['device_id', 'metric'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_hospital_id'), ['hospital_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_ticket_id'), ['ticket_id'], unique=False)
        # At most one open or acknowledged alert per stream, enforced by SQLite and PostgreSQL alike.
        batch_op.create_index('uq_alert_unresolved_stream', ['device_id', 'metric'], unique=True,
                              sqlite_where=UNRESOLVED_ONLY, postgresql_where=UNRESOLVED_ONLY)


def downgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index('uq_alert_unresolved_stream')
        batch_op.drop_index(batch_op.f('ix_alert_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_alert_status'))
        batch_op.drop_index(batch_op.f('ix_alert_hospital_id'))
        batch_op.drop_index('ix_alert_device_id_metric')

    op.drop_table('alert')
    with op.batch_alter_table('maintenance_window', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maintenance_window_device_id'))

    op.drop_table('maintenance_window')
    op.drop_table('detector_state')
    with op.batch_alter_table('alert_policy', schema=None) as batch_op:
        batch_op.drop_index('uq_alert_policy_metric_wide')
        batch_op.drop_index(batch_op.f('ix_alert_policy_device_id'))

    op.drop_table('alert_policy')
