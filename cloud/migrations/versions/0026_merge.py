"""join the branches built side by side: no-fault category (0022), dashboard rollups (0023), on-site predictor
state (0024) and the notification outbox (0025)

Revision ID: 0026
Revises: 0022, 0023, 0024, 0025
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = '0026'
down_revision = ('0022', '0023', '0024', '0025')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # nothing to change: every branch is complete on its own


def downgrade() -> None:
    pass
