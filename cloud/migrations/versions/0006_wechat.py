"""wechat: openid bindings, callback dedupe, shared cache/locks, inbound log

Revision ID: 0006_wechat
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_wechat'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wechat_binding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_wechat_binding_user_id_user_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_binding')),
    sa.UniqueConstraint('openid', name=op.f('uq_wechat_binding_openid')),
    sa.UniqueConstraint('user_id', name=op.f('uq_wechat_binding_user_id'))
    )
    op.create_table('wechat_dedupe',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_wechat_dedupe'))
    )
    with op.batch_alter_table('wechat_dedupe', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_dedupe_expires_at'), ['expires_at'], unique=False)
    op.create_table('wechat_kv',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_wechat_kv'))
    )
    op.create_table('wechat_inbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=160), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('msg_type', sa.String(length=30), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=True),
    sa.Column('event_key', sa.String(length=200), nullable=True),
    sa.Column('content', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_inbound'))
    )
    with op.batch_alter_table('wechat_inbound', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_inbound_dedupe_key'), ['dedupe_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_wechat_inbound_openid'), ['openid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wechat_inbound', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_inbound_openid'))
        batch_op.drop_index(batch_op.f('ix_wechat_inbound_dedupe_key'))
    op.drop_table('wechat_inbound')
    op.drop_table('wechat_kv')
    with op.batch_alter_table('wechat_dedupe', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_dedupe_expires_at'))
    op.drop_table('wechat_dedupe')
    op.drop_table('wechat_binding')
