"""device group notes and tags

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('device_group', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notes', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('tags', sa.JSON(), server_default='[]', nullable=False))


def downgrade() -> None:
    # Plain DROP COLUMN: a batch rebuild of device_group would DROP the table its devices point at.
    for column in ('tags', 'notes'):
        op.drop_column('device_group', column)
