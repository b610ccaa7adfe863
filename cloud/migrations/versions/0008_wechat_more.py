"""wechat: permanent parametric QR ledger and fetched media

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wechat_permanent_qr',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appid', sa.String(length=32), nullable=False),
    sa.Column('scene', sa.String(length=64), nullable=False),
    sa.Column('ticket', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_permanent_qr')),
    sa.UniqueConstraint('appid', 'scene', name=op.f('uq_wechat_permanent_qr_appid'))
    )
    with op.batch_alter_table('wechat_permanent_qr', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_permanent_qr_appid'), ['appid'], unique=False)
    op.create_table('wechat_media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('media_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=True),
    sa.Column('original_path', sa.String(length=300), nullable=False),
    sa.Column('original_type', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['ticket_attachment.id'],
                            name=op.f('fk_wechat_media_attachment_id_ticket_attachment'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_media'))
    )
    with op.batch_alter_table('wechat_media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_media_media_id'), ['media_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wechat_media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_media_media_id'))
    op.drop_table('wechat_media')
    with op.batch_alter_table('wechat_permanent_qr', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_permanent_qr_appid'))
    op.drop_table('wechat_permanent_qr')
