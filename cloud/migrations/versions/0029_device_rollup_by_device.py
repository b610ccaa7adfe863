"""dash_device_rollup: an index by device, for the measures of one page of a device breakdown

A large hospital's device breakdown ranks its 2,750 devices on two sums, then sums all measures for the hundred
devices of the page shown; without this index that second sum read the hospital's 30,000 rows again.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_dash_device_rollup_grain_device_id_month", "dash_device_rollup",
                    ["grain", "device_id", "month"])


def downgrade() -> None:
    op.drop_index("ix_dash_device_rollup_grain_device_id_month", table_name="dash_device_rollup")
