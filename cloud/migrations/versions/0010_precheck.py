"""predictive maintenance pre-check: precheck_task, precheck_item

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('precheck_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=50), nullable=True),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('checklist', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.Enum('fault_confirmed', 'false_alarm', 'fixed', name='precheck_outcome',
                                 native_enum=False, length=20), nullable=True),
    sa.Column('outcome_note', sa.Text(), nullable=True),
    sa.Column('finished_by', sa.Integer(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['finished_by'], ['user_account.id'],
                            name=op.f('fk_precheck_task_finished_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospital.id'], name=op.f('fk_precheck_task_hospital_id_hospital'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_precheck_task_ticket_id_ticket'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_precheck_task')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_precheck_task_ticket_id'))
    )
    with op.batch_alter_table('precheck_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_precheck_task_hospital_id'), ['hospital_id'], unique=False)

    op.create_table('precheck_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('text', sa.String(length=400), nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('answer', sa.Enum('done', 'not_applicable', name='precheck_answer', native_enum=False, length=20),
              nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['answered_by'], ['user_account.id'],
                            name=op.f('fk_precheck_item_answered_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['precheck_task.id'], name=op.f('fk_precheck_item_task_id_precheck_task'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_precheck_item')),
    sa.UniqueConstraint('task_id', 'code', name=op.f('uq_precheck_item_task_id_code'))
    )


def downgrade() -> None:
    op.drop_table('precheck_item')
    with op.batch_alter_table('precheck_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_precheck_task_hospital_id'))

    op.drop_table('precheck_task')
