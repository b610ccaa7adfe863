"""device claims: lab users' "my devices"

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device_claim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_device_claim_device_id_device'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['device_group.id'], name=op.f('fk_device_claim_group_id_device_group'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_device_claim_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_claim')),
    sa.UniqueConstraint('user_id', 'device_id', name=op.f('uq_device_claim_user_id_device_id')),
    sa.UniqueConstraint('user_id', 'group_id', name=op.f('uq_device_claim_user_id_group_id'))
    )
    with op.batch_alter_table('device_claim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_claim_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('device_claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_claim_user_id'))

    op.drop_table('device_claim')
