"""join the WeChat (0008) and rollup (0008r) branches of the schema

Revision ID: 0009
Revises: 0008, 0008r
Create Date: 2026-11-25
"""

from __future__ import annotations

revision = '0009'
down_revision = ('0008', '0008r')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # nothing to change: both branches are complete on their own


def downgrade() -> None:
    pass
