"""Initial schema: tokens, scenarios, plan jobs and files, sessions, meter values, DR events, stations, profiles sent, audit.

Revision ID: 0001
Revises: 
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('api_tokens',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_at'), ['at'], unique=False)

    op.create_table('scenarios',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('dr_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scenario_id', 'event_id')
    )
    with op.batch_alter_table('dr_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dr_events_scenario_id'), ['scenario_id'], unique=False)

    op.create_table('meter_values',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('measured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('transformer_id', sa.String(length=200), nullable=True),
    sa.Column('station_id', sa.String(length=100), nullable=True),
    sa.Column('transaction_id', sa.String(length=64), nullable=True),
    sa.Column('power_kw', sa.Float(), nullable=True),
    sa.Column('energy_kwh', sa.Float(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('meter_values', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meter_values_scenario_id'), ['scenario_id'], unique=False)

    op.create_table('plans',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=32), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=True),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('kpis', sa.JSON(), nullable=False),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['replaces_id'], ['plans.id'], ),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plans_scenario_id'), ['scenario_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_plans_status'), ['status'], unique=False)

    op.create_table('scenario_files',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scenario_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scenario_files_scenario_id'), ['scenario_id'], unique=False)

    op.create_table('sessions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=200), nullable=False),
    sa.Column('transformer_id', sa.String(length=200), nullable=False),
    sa.Column('station_id', sa.String(length=100), nullable=True),
    sa.Column('evse_id', sa.Integer(), nullable=True),
    sa.Column('transaction_id', sa.String(length=64), nullable=True),
    sa.Column('arrival', sa.DateTime(timezone=True), nullable=False),
    sa.Column('departure', sa.DateTime(timezone=True), nullable=False),
    sa.Column('energy_kwh', sa.Float(), nullable=False),
    sa.Column('delivered_kwh', sa.Float(), nullable=False),
    sa.Column('max_power_kw', sa.Float(), nullable=False),
    sa.Column('min_power_kw', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scenario_id', 'session_id')
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_scenario_id'), ['scenario_id'], unique=False)

    op.create_table('stations',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('transformer_id', sa.String(length=200), nullable=False),
    sa.Column('default_energy_kwh', sa.Float(), nullable=False),
    sa.Column('default_stay_h', sa.Float(), nullable=False),
    sa.Column('max_power_kw', sa.Float(), nullable=False),
    sa.Column('min_power_kw', sa.Float(), nullable=False),
    sa.Column('connected', sa.Boolean(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('boot', sa.JSON(), nullable=False),
    sa.Column('status', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('plan_files',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'name')
    )
    with op.batch_alter_table('plan_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_files_plan_id'), ['plan_id'], unique=False)

    op.create_table('profiles_sent',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=100), nullable=False),
    sa.Column('session_pk', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.String(length=64), nullable=False),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ),
    sa.ForeignKeyConstraint(['replaces_id'], ['profiles_sent.id'], ),
    sa.ForeignKeyConstraint(['session_pk'], ['sessions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('profiles_sent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_profiles_sent_station_id'), ['station_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('profiles_sent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_profiles_sent_station_id'))

    op.drop_table('profiles_sent')
    with op.batch_alter_table('plan_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_files_plan_id'))

    op.drop_table('plan_files')
    op.drop_table('stations')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_scenario_id'))

    op.drop_table('sessions')
    with op.batch_alter_table('scenario_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scenario_files_scenario_id'))

    op.drop_table('scenario_files')
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plans_status'))
        batch_op.drop_index(batch_op.f('ix_plans_scenario_id'))

    op.drop_table('plans')
    with op.batch_alter_table('meter_values', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meter_values_scenario_id'))

    op.drop_table('meter_values')
    with op.batch_alter_table('dr_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dr_events_scenario_id'))

    op.drop_table('dr_events')
    op.drop_table('scenarios')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_at'))

    op.drop_table('audit')
    op.drop_table('api_tokens')

