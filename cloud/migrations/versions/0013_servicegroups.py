"""service groups: service_group, service_group_member, service_group_message, service_group_request

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None

MAIN_ONLY = sa.text("device_group_id IS NULL AND department_id IS NULL")


def upgrade() -> None:
    op.create_table('service_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('device_group_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.Enum('active', 'archived', name='service_group_status', native_enum=False,
                                length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'],
                            name=op.f('fk_service_group_department_id_department'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_group_id'], ['device_group.id'],
                            name=op.f('fk_service_group_device_group_id_device_group'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospital.id'], name=op.f('fk_service_group_hospital_id_hospital'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_group'))
    )
    with op.batch_alter_table('service_group', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_group_hospital_id'), ['hospital_id'], unique=False)
        batch_op.create_index('uq_service_group_main', ['hospital_id'], unique=True, sqlite_where=MAIN_ONLY,
                              postgresql_where=MAIN_ONLY)

    op.create_table('service_group_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('bot', 'agent', 'engineer', 'lab_user', 'service_center',
                              name='service_group_member_kind', native_enum=False, length=20), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_read_message_id', sa.Integer(), nullable=True),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['service_group.id'],
                            name=op.f('fk_service_group_member_group_id_service_group'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                            name=op.f('fk_service_group_member_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_group_member')),
    sa.UniqueConstraint('group_id', 'user_id', name=op.f('uq_service_group_member_group_id_user_id'))
    )
    with op.batch_alter_table('service_group_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_group_member_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_group_member_user_id'), ['user_id'], unique=False)

    op.create_table('service_group_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('text', 'photo', 'voice', 'system', 'bot', name='service_group_message_kind',
                              native_enum=False, length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('attachment_ids', sa.JSON(), nullable=False),
    sa.Column('transcript', sa.Text(), nullable=True),
    sa.Column('reply_to_id', sa.Integer(), nullable=True),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['service_group_member.id'],
                            name=op.f('fk_service_group_message_author_id_service_group_member'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['service_group.id'],
                            name=op.f('fk_service_group_message_group_id_service_group'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reply_to_id'], ['service_group_message.id'],
                            name=op.f('fk_service_group_message_reply_to_id_service_group_message'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_service_group_message_ticket_id_ticket'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_group_message'))
    )
    with op.batch_alter_table('service_group_message', schema=None) as batch_op:
        batch_op.create_index('ix_service_group_message_group_id_id', ['group_id', 'id'], unique=False)

    op.create_table('service_group_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('device_group', 'department', name='service_group_request_kind', native_enum=False,
                              length=20), nullable=False),
    sa.Column('device_group_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'approved', 'rejected', name='service_group_request_status',
                                native_enum=False, length=20), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.String(length=400), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by'], ['user_account.id'],
                            name=op.f('fk_service_group_request_decided_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'],
                            name=op.f('fk_service_group_request_department_id_department'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['device_group_id'], ['device_group.id'],
                            name=op.f('fk_service_group_request_device_group_id_device_group'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['service_group.id'],
                            name=op.f('fk_service_group_request_group_id_service_group'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospital.id'],
                            name=op.f('fk_service_group_request_hospital_id_hospital'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by'], ['user_account.id'],
                            name=op.f('fk_service_group_request_requested_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_group_request'))
    )
    with op.batch_alter_table('service_group_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_group_request_hospital_id'), ['hospital_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_group_request_status'), ['status'], unique=False)


def downgrade() -> None:
    op.drop_table('service_group_request')
    op.drop_table('service_group_message')
    op.drop_table('service_group_member')
    op.drop_table('service_group')
