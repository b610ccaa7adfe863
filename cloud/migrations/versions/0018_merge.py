"""join the branches built side by side: KB (0012), service groups (0013), tiers (0014), identify (0015),
bot state (0016) and hospital contact (0017)

Revision ID: 0018
Revises: 0012, 0013, 0014, 0015, 0016, 0017
Create Date: 2026-12-02
"""

from __future__ import annotations

revision = '0018'
down_revision = ('0012', '0013', '0014', '0015', '0016', '0017')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # nothing to change: every branch is complete on its own


def downgrade() -> None:
    pass
