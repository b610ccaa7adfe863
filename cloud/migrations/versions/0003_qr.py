"""qr: label codes for devices and device groups (one active code per target)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ACTIVE_ONLY = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table('qr_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('target_kind', sa.Enum('device', 'device_group', name='qr_target_kind', native_enum=False, length=20), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('active', 'replaced', 'revoked', name='qr_code_status', native_enum=False, length=20), nullable=False),
    sa.Column('replaced_by_code', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('wechat_ticket', sa.String(length=200), nullable=True),
    sa.Column('wechat_url', sa.String(length=500), nullable=True),
    sa.Column('wechat_scene', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_qr_code_created_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qr_code')),
    sa.UniqueConstraint('code', name=op.f('uq_qr_code_code'))
    )
    op.create_index('ix_qr_code_target', 'qr_code', ['target_kind', 'target_id'], unique=False)
    # Partial unique index: at most one active code per target, enforced by both SQLite and PostgreSQL.
    op.create_index('uq_qr_code_active_target', 'qr_code', ['target_kind', 'target_id'], unique=True,
                    sqlite_where=ACTIVE_ONLY, postgresql_where=ACTIVE_ONLY)


def downgrade() -> None:
    op.drop_index('uq_qr_code_active_target', table_name='qr_code')
    op.drop_index('ix_qr_code_target', table_name='qr_code')
    op.drop_table('qr_code')
