"""wechat_media and ticket_attachment: a state, so WeChat media are fetched and converted off the request

Security finding 9 of issue #13: /wechat/media records the media_id (pending) and answers at once; a background
worker fetches it from WeChat and converts AMR voice to MP3 (cloud/wechat/media_worker.py).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ticket_attachment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=20), server_default='ready', nullable=False))
    with op.batch_alter_table('wechat_media', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=20), server_default='ready', nullable=False))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('error', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('reporter', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('hospital_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_wechat_media_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wechat_media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_media_state'))
        for column in ('hospital_id', 'reporter', 'error', 'claimed_until', 'due_at', 'attempts', 'state'):
            batch_op.drop_column(column)
    with op.batch_alter_table('ticket_attachment', schema=None) as batch_op:
        batch_op.drop_column('state')
