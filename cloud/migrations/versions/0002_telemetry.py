"""telemetry: gateways, device-key mapping, ingested batches, readings, device events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gateway',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_rotated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_batch_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Enum('unknown', 'online', 'offline', name='gateway_state', native_enum=False, length=20), nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospital.id'], name=op.f('fk_gateway_hospital_id_hospital'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway')),
    sa.UniqueConstraint('name', name=op.f('uq_gateway_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_gateway_token_hash'))
    )
    with op.batch_alter_table('gateway', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gateway_hospital_id'), ['hospital_id'], unique=False)

    op.create_table('ingested_batch',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('gateway_id', sa.Integer(), nullable=False),
    sa.Column('stream_id', sa.String(length=64), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reading_count', sa.Integer(), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('telemetry_dropped_total', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['gateway_id'], ['gateway.id'], name=op.f('fk_ingested_batch_gateway_id_gateway'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingested_batch')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_ingested_batch_idempotency_key'))
    )
    with op.batch_alter_table('ingested_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingested_batch_gateway_id'), ['gateway_id'], unique=False)

    op.create_table('device_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('gateway_id', sa.Integer(), nullable=False),
    sa.Column('device_key', sa.String(length=128), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_device_event_device_id_device'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['gateway_id'], ['gateway.id'], name=op.f('fk_device_event_gateway_id_gateway'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_event')),
    sa.UniqueConstraint('gateway_id', 'idempotency_key', name=op.f('uq_device_event_gateway_id_idempotency_key'))
    )
    with op.batch_alter_table('device_event', schema=None) as batch_op:
        batch_op.create_index('ix_device_event_device_id_occurred_at', ['device_id', 'occurred_at'], unique=False)

    op.create_table('gateway_device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gateway_id', sa.Integer(), nullable=False),
    sa.Column('device_key', sa.String(length=128), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('mapped_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_gateway_device_device_id_device'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['gateway_id'], ['gateway.id'], name=op.f('fk_gateway_device_gateway_id_gateway'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_device')),
    sa.UniqueConstraint('gateway_id', 'device_key', name=op.f('uq_gateway_device_gateway_id_device_key'))
    )
    with op.batch_alter_table('gateway_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gateway_device_device_id'), ['device_id'], unique=False)

    op.create_table('reading',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('gateway_id', sa.Integer(), nullable=False),
    sa.Column('device_key', sa.String(length=128), nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('value_num', sa.Float(), nullable=True),
    sa.Column('value_text', sa.Text(), nullable=True),
    sa.Column('unit', sa.String(length=32), nullable=True),
    sa.Column('quality', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_reading_device_id_device'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['gateway_id'], ['gateway.id'], name=op.f('fk_reading_gateway_id_gateway'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reading')),
    sa.UniqueConstraint('gateway_id', 'idempotency_key', name=op.f('uq_reading_gateway_id_idempotency_key'))
    )
    with op.batch_alter_table('reading', schema=None) as batch_op:
        batch_op.create_index('ix_reading_device_id_metric_observed_at', ['device_id', 'metric', 'observed_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reading', schema=None) as batch_op:
        batch_op.drop_index('ix_reading_device_id_metric_observed_at')

    op.drop_table('reading')
    with op.batch_alter_table('gateway_device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gateway_device_device_id'))

    op.drop_table('gateway_device')
    with op.batch_alter_table('device_event', schema=None) as batch_op:
        batch_op.drop_index('ix_device_event_device_id_occurred_at')

    op.drop_table('device_event')
    with op.batch_alter_table('ingested_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingested_batch_gateway_id'))

    op.drop_table('ingested_batch')
    with op.batch_alter_table('gateway', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gateway_hospital_id'))

    op.drop_table('gateway')
