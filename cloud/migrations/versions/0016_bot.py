"""bot: the bot's learned state (bot_state)

Revision ID: 0016
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bot_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('blob', sa.LargeBinary(), nullable=False),
    sa.Column('learned', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bot_state')),
    sa.UniqueConstraint('name', name=op.f('uq_bot_state_name'))
    )


def downgrade() -> None:
    op.drop_table('bot_state')
