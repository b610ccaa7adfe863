"""alert.explanation, how each person hears of alerts, and the daily alert digest's ledger

Issue #14 items 5 and 6: an alert explains itself in numbers (cloud/alerts/explain.py); device owners and lab
managers hear of alerts by their own preference (user_account.alert_notice, daily_digest); a daily digest per
hospital and local day is sent once (alert_digest).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('explanation', sa.JSON(), nullable=True))
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alert_notice', sa.String(length=20), server_default='instant',
                                      nullable=False))
        batch_op.add_column(sa.Column('daily_digest', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_table(
        'alert_digest',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('hospital_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('recipients', sa.Integer(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['hospital_id'], ['hospital.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('hospital_id', 'day'),
    )


def downgrade() -> None:
    op.drop_table('alert_digest')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('daily_digest')
        batch_op.drop_column('alert_notice')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_column('explanation')
