"""hospital time zone, service hotline and invite-code expiry

Revision ID: 0017
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hospital', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), server_default='Asia/Shanghai',
                                      nullable=False))
        batch_op.add_column(sa.Column('hotline', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('invite_code_expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+ has it): a batch rebuild of hospital would DROP the table,
    # which SQLite's foreign keys refuse while devices, users and gateways point at its rows.
    for column in ('invite_code_expires_at', 'hotline', 'time_zone'):
        op.drop_column('hospital', column)
