"""identify: device photos with perceptual hashes

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device_photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('thumb_path', sa.String(length=300), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('phash', sa.String(length=64), nullable=False),
    sa.Column('dhash', sa.String(length=64), nullable=False),
    sa.Column('variants', sa.JSON(), nullable=False),
    sa.Column('colors', sa.JSON(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_device_photo_device_id_device'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospital.id'], name=op.f('fk_device_photo_hospital_id_hospital'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user_account.id'], name=op.f('fk_device_photo_uploaded_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_photo'))
    )
    with op.batch_alter_table('device_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_photo_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_photo_hospital_id'), ['hospital_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('device_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_photo_hospital_id'))
        batch_op.drop_index(batch_op.f('ix_device_photo_device_id'))

    op.drop_table('device_photo')
