"""alert_policy.learning_hours: a learning period per policy (NULL = the service's)

Issue #14: the learning period was one setting for every stream, so the demo's fast-learning live analyzer
shortened it for the demo's week of history too (whose first morning then alarmed). A policy row may now say how
long the streams it covers learn; NULL keeps settings alert_learning_hours.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alert_policy', schema=None) as batch_op:
        batch_op.add_column(sa.Column('learning_hours', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alert_policy', schema=None) as batch_op:
        batch_op.drop_column('learning_hours')
