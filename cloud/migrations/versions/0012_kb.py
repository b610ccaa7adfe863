"""knowledge base: kb_entry, kb_revision, kb_manual, kb_manual_section, kb_attachment; the bot's ask log bot_ask

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kb_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('question', sa.String(length=500), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('variants', sa.JSON(), nullable=False),
    sa.Column('models', sa.JSON(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('codes', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('active', 'retired', name='kb_status', native_enum=False, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_kb_entry_updated_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_entry')),
    sa.UniqueConstraint('key', name=op.f('uq_kb_entry_key'))
    )
    with op.batch_alter_table('kb_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_entry_status'), ['status'], unique=False)

    op.create_table('kb_manual',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('models', sa.JSON(), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user_account.id'], name=op.f('fk_kb_manual_uploaded_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_manual'))
    )
    op.create_table('kb_manual_section',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('manual_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('page_start', sa.Integer(), nullable=False),
    sa.Column('page_end', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['manual_id'], ['kb_manual.id'], name=op.f('fk_kb_manual_section_manual_id_kb_manual'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_manual_section')),
    sa.UniqueConstraint('manual_id', 'number', name=op.f('uq_kb_manual_section_manual_id_number'))
    )
    with op.batch_alter_table('kb_manual_section', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_manual_section_manual_id'), ['manual_id'], unique=False)

    op.create_table('kb_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_kb_revision_actor_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entry_id'], ['kb_entry.id'], name=op.f('fk_kb_revision_entry_id_kb_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_revision')),
    sa.UniqueConstraint('entry_id', 'version', name=op.f('uq_kb_revision_entry_id_version'))
    )
    with op.batch_alter_table('kb_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_revision_entry_id'), ['entry_id'], unique=False)

    op.create_table('bot_ask',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.Enum('web', 'wechat', 'group', 'report', name='bot_ask_channel', native_enum=False, length=20), nullable=False),
    sa.Column('intent', sa.String(length=20), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('alternatives', sa.JSON(), nullable=False),
    sa.Column('handoff', sa.Boolean(), nullable=False),
    sa.Column('helpful', sa.Boolean(), nullable=True),
    sa.Column('feedback_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_entry_id', sa.Integer(), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('answer_text', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_bot_ask_device_id_device'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entry_id'], ['kb_entry.id'], name=op.f('fk_bot_ask_entry_id_kb_entry'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['user_account.id'], name=op.f('fk_bot_ask_resolved_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resolved_entry_id'], ['kb_entry.id'], name=op.f('fk_bot_ask_resolved_entry_id_kb_entry'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_bot_ask_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bot_ask'))
    )
    with op.batch_alter_table('bot_ask', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bot_ask_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bot_ask_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_bot_ask_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bot_ask_resolved_entry_id'), ['resolved_entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bot_ask_user_id'), ['user_id'], unique=False)

    op.create_table('kb_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('manual', 'video', 'image', 'link', name='kb_attachment_kind', native_enum=False, length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('path', sa.String(length=300), nullable=True),
    sa.Column('cover_path', sa.String(length=300), nullable=True),
    sa.Column('manual_id', sa.Integer(), nullable=True),
    sa.Column('section_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['kb_entry.id'], name=op.f('fk_kb_attachment_entry_id_kb_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['manual_id'], ['kb_manual.id'], name=op.f('fk_kb_attachment_manual_id_kb_manual'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['section_id'], ['kb_manual_section.id'], name=op.f('fk_kb_attachment_section_id_kb_manual_section'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_attachment'))
    )
    with op.batch_alter_table('kb_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_attachment_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_kb_attachment_manual_id'), ['manual_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('kb_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_attachment_manual_id'))
        batch_op.drop_index(batch_op.f('ix_kb_attachment_entry_id'))

    op.drop_table('kb_attachment')
    with op.batch_alter_table('bot_ask', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bot_ask_user_id'))
        batch_op.drop_index(batch_op.f('ix_bot_ask_resolved_entry_id'))
        batch_op.drop_index(batch_op.f('ix_bot_ask_entry_id'))
        batch_op.drop_index(batch_op.f('ix_bot_ask_created_at'))
        batch_op.drop_index(batch_op.f('ix_bot_ask_conversation_id'))

    op.drop_table('bot_ask')
    with op.batch_alter_table('kb_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_revision_entry_id'))

    op.drop_table('kb_revision')
    with op.batch_alter_table('kb_manual_section', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_manual_section_manual_id'))

    op.drop_table('kb_manual_section')
    op.drop_table('kb_manual')
    with op.batch_alter_table('kb_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_entry_status'))

    op.drop_table('kb_entry')
