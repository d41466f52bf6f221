"""Indexes for the CSMS's frequent lookups; plan files stored compressed above 64 KiB.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('plan_files') as batch_op:
        batch_op.add_column(sa.Column('encoding', sa.String(length=8), nullable=False, server_default=''))
    op.create_index('ix_meter_values_scenario_measured', 'meter_values', ['scenario_id', 'measured_at'])
    op.create_index('ix_sessions_station_status', 'sessions', ['station_id', 'status'])
    op.create_index('ix_profiles_sent_session_pk', 'profiles_sent', ['session_pk'])


def downgrade() -> None:
    op.drop_index('ix_profiles_sent_session_pk', table_name='profiles_sent')
    op.drop_index('ix_sessions_station_status', table_name='sessions')
    op.drop_index('ix_meter_values_scenario_measured', table_name='meter_values')
    with op.batch_alter_table('plan_files') as batch_op:
        batch_op.drop_column('encoding')
