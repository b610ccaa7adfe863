"""maintenance profiles: fault taxonomy, ticket fault fields, device score override and risk, report files

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

# The analyzers' default fault taxonomy (issue #11); admins edit it on /admin/fault-categories.
# (device category or None for every category, code, 中文, English, basic: solved without an engineer on site)
DEFAULT_FAULT_CATEGORIES = [
    (None, 'temperature_control', '温控', 'Temperature control', False),
    (None, 'optics_lamp', '光学 / 光源', 'Optics / lamp', False),
    (None, 'sample_probe', '加样针 / 堵针', 'Sample probe / clog', False),
    (None, 'reagent_fluidics', '试剂与液路', 'Reagents and fluidics', True),
    ('chemistry', 'ise', 'ISE 电极', 'ISE', False),
    ('blood_gas', 'ise', '电极 / 传感器', 'Electrodes / sensors', False),
    (None, 'mechanical', '机械', 'Mechanical', False),
    (None, 'communication_software', '通信与软件', 'Communication and software', True),
    (None, 'operator_error', '操作问题', 'Operator error', True),
    (None, 'other', '其他', 'Other', False),
]


def upgrade() -> None:
    fault_category = op.create_table('fault_category',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_category', sa.String(length=50), nullable=True),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('basic', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fault_category')),
    sa.UniqueConstraint('device_category', 'code', name=op.f('uq_fault_category_device_category_code'))
    )
    op.create_index(op.f('ix_fault_category_device_category'), 'fault_category', ['device_category'], unique=False)
    from datetime import UTC, datetime
    now = datetime.now(UTC)
    op.bulk_insert(fault_category, [
        {'device_category': category, 'code': code, 'name_zh': zh, 'name_en': en, 'basic': basic,
         'position': position, 'active': True, 'created_at': now}
        for position, (category, code, zh, en, basic) in enumerate(DEFAULT_FAULT_CATEGORIES)])

    op.create_table('service_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_service_report_ticket_id_ticket'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_report')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_service_report_ticket_id'))
    )
    op.create_table('monthly_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospital.id'], name=op.f('fk_monthly_report_hospital_id_hospital'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_report')),
    sa.UniqueConstraint('hospital_id', 'month', name=op.f('uq_monthly_report_hospital_id_month'))
    )
    op.create_index(op.f('ix_monthly_report_hospital_id'), 'monthly_report', ['hospital_id'], unique=False)

    # Plain ADD COLUMN: a batch rebuild (SQLite) of a table others point at would drop what refers to it.
    op.add_column('ticket', sa.Column('fault_category', sa.String(length=50), nullable=True))
    op.add_column('ticket', sa.Column('root_cause', sa.Text(), nullable=True))
    op.add_column('ticket', sa.Column('parts', sa.JSON(), nullable=True))
    op.add_column('ticket', sa.Column('reopen_count', sa.Integer(), server_default='0', nullable=False))
    op.add_column('ticket', sa.Column('onsite_probability', sa.Float(), nullable=True))
    op.create_index(op.f('ix_ticket_fault_category'), 'ticket', ['fault_category'], unique=False)
    op.add_column('device', sa.Column('score_override', sa.Integer(), nullable=True))
    op.add_column('device', sa.Column('score_override_reason', sa.String(length=400), nullable=True))
    op.add_column('device', sa.Column('score_updated_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('device', sa.Column('risk_30d', sa.Float(), nullable=True))
    op.add_column('user_account', sa.Column('is_lab_manager', sa.Boolean(), server_default=sa.false(),
                                            nullable=False))


def downgrade() -> None:
    op.drop_column('user_account', 'is_lab_manager')
    for column in ('risk_30d', 'score_updated_at', 'score_override_reason', 'score_override'):
        op.drop_column('device', column)
    op.drop_index(op.f('ix_ticket_fault_category'), table_name='ticket')
    for column in ('onsite_probability', 'reopen_count', 'parts', 'root_cause', 'fault_category'):
        op.drop_column('ticket', column)
    op.drop_index(op.f('ix_monthly_report_hospital_id'), table_name='monthly_report')
    op.drop_table('monthly_report')
    op.drop_table('service_report')
    op.drop_index(op.f('ix_fault_category_device_category'), table_name='fault_category')
    op.drop_table('fault_category')
