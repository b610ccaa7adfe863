"""tiers: ticket.tier (basic / remote / on_site), the attached bot conversation and its ask ids

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-02

Tickets already resolved or closed get the tier their history shows: on site when an engineer completed the
repair or finished its pre-check, remote otherwise (every other way to resolve is a remote answer). Self-service
did not exist before this revision, so no old ticket is basic.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.Enum('basic', 'remote', 'on_site', name='ticket_tier',
                                                      native_enum=False, length=20), nullable=True))
        batch_op.add_column(sa.Column('conversation', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('ask_ids', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_ticket_tier'), ['tier'], unique=False)
    ticket = sa.table('ticket', sa.column('id', sa.Integer()), sa.column('status', sa.String()),
                      sa.column('engineer_id', sa.Integer()), sa.column('tier', sa.String()))
    audit = sa.table('audit_log', sa.column('entity', sa.String()), sa.column('entity_id', sa.Integer()),
                     sa.column('action', sa.String()), sa.column('actor_id', sa.Integer()))
    on_site = sa.exists().where(audit.c.entity == 'ticket', audit.c.entity_id == ticket.c.id, sa.or_(
        audit.c.action == 'complete',
        sa.and_(audit.c.action == 'precheck', audit.c.actor_id == ticket.c.engineer_id)))
    done = ticket.c.status.in_(['resolved', 'closed'])
    op.execute(sa.update(ticket).where(done, on_site).values(tier='on_site'))
    op.execute(sa.update(ticket).where(done, ticket.c.tier.is_(None)).values(tier='remote'))


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_tier'))
        batch_op.drop_column('ask_ids')
        batch_op.drop_column('conversation')
        batch_op.drop_column('tier')
