"""fault taxonomy: the 'no fault found' entry (false alarms, nothing wrong on site)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

# A pre-check that ends as a false alarm, or an engineer who finds the analyzer working, still files the ticket
# under a category (every resolved ticket carries one); profiles count this one apart from the faults.
NO_FAULT = {'device_category': None, 'code': 'no_fault', 'name_zh': '未发现故障 / 误报',
            'name_en': 'No fault found / false alarm', 'basic': True, 'active': True}

fault_category = sa.table(
    'fault_category', sa.column('id', sa.Integer()), sa.column('device_category', sa.String()),
    sa.column('code', sa.String()), sa.column('name_zh', sa.String()), sa.column('name_en', sa.String()),
    sa.column('basic', sa.Boolean()), sa.column('position', sa.Integer()), sa.column('active', sa.Boolean()),
    sa.column('created_at', sa.DateTime(timezone=True)))


def upgrade() -> None:
    conn = op.get_bind()
    general = fault_category.c.device_category.is_(None)
    if conn.execute(sa.select(fault_category.c.id).where(general, fault_category.c.code == 'no_fault')).first():
        return  # an admin added it by hand already
    # Just before 'other', which stays the last resort at the end of the list.
    other = conn.execute(sa.select(fault_category.c.position).where(general, fault_category.c.code == 'other')
                         ).scalar()
    if other is None:
        position = (conn.execute(sa.select(sa.func.max(fault_category.c.position))).scalar() or 0) + 1
    else:
        position = other
        conn.execute(fault_category.update().where(fault_category.c.position >= other)
                     .values(position=fault_category.c.position + 1))
    conn.execute(fault_category.insert().values(**NO_FAULT, position=position, created_at=datetime.now(UTC)))


def downgrade() -> None:
    conn = op.get_bind()
    general = fault_category.c.device_category.is_(None)
    position = conn.execute(sa.select(fault_category.c.position).where(general, fault_category.c.code == 'no_fault')
                            ).scalar()
    if position is None:
        return
    conn.execute(fault_category.delete().where(general, fault_category.c.code == 'no_fault'))
    conn.execute(fault_category.update().where(fault_category.c.position > position)
                 .values(position=fault_category.c.position - 1))
