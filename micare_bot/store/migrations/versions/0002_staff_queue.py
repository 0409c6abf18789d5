"""staff queue: staff roles, team membership and cover, staff sessions, request events,
the work columns of care_requests, provider-initiated patient messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:45:23.187220
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('patient_messages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('clinic_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('dependent_id', sa.String(length=36), nullable=True),
    sa.Column('author_id', sa.String(length=36), nullable=False),
    sa.Column('care_team_id', sa.String(length=36), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('body_enc', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('deliver_at', sa.DateTime(), nullable=False),
    sa.Column('client_action_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_patient_messages_account_id_accounts')),
    sa.ForeignKeyConstraint(['author_id'], ['accounts.id'], name=op.f('fk_patient_messages_author_id_accounts')),
    sa.ForeignKeyConstraint(['care_team_id'], ['care_teams.id'], name=op.f('fk_patient_messages_care_team_id_care_teams')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_patient_messages_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['dependent_id'], ['dependents.id'], name=op.f('fk_patient_messages_dependent_id_dependents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_messages'))
    )
    with op.batch_alter_table('patient_messages', schema=None) as batch_op:
        batch_op.create_index('ix_patient_messages_account', ['account_id', 'deliver_at'], unique=False)
        batch_op.create_index('uq_patient_messages_client_action', ['author_id', 'client_action_id'], unique=True)

    op.create_table('staff_members',
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('clinic_id', sa.String(length=36), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_staff_members_account_id_accounts')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_staff_members_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_staff_members'))
    )
    with op.batch_alter_table('staff_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_members_clinic_id'), ['clinic_id'], unique=False)

    op.create_table('staff_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_staff_sessions_account_id_accounts')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_staff_sessions'))
    )
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_sessions_account_id'), ['account_id'], unique=False)

    op.create_table('team_coverage',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('care_team_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('granted_by', sa.String(length=36), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_team_coverage_account_id_accounts')),
    sa.ForeignKeyConstraint(['care_team_id'], ['care_teams.id'], name=op.f('fk_team_coverage_care_team_id_care_teams')),
    sa.ForeignKeyConstraint(['granted_by'], ['accounts.id'], name=op.f('fk_team_coverage_granted_by_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_coverage'))
    )
    with op.batch_alter_table('team_coverage', schema=None) as batch_op:
        batch_op.create_index('ix_team_coverage_account', ['account_id', 'ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_coverage_care_team_id'), ['care_team_id'], unique=False)

    op.create_table('team_members',
    sa.Column('care_team_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_team_members_account_id_accounts')),
    sa.ForeignKeyConstraint(['care_team_id'], ['care_teams.id'], name=op.f('fk_team_members_care_team_id_care_teams')),
    sa.PrimaryKeyConstraint('care_team_id', 'account_id', name=op.f('pk_team_members'))
    )
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_members_account_id'), ['account_id'], unique=False)

    op.create_table('request_events',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.String(length=36), nullable=False),
    sa.Column('staff_id', sa.String(length=36), nullable=True),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('from_team_id', sa.String(length=36), nullable=True),
    sa.Column('to_team_id', sa.String(length=36), nullable=True),
    sa.Column('from_intent', sa.String(length=32), nullable=True),
    sa.Column('to_intent', sa.String(length=32), nullable=True),
    sa.Column('asked_fields', sa.Text(), nullable=True),
    sa.Column('reply_id', sa.String(length=36), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('client_action_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_request_events_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['request_id'], ['care_requests.id'], name=op.f('fk_request_events_request_id_care_requests')),
    sa.ForeignKeyConstraint(['staff_id'], ['accounts.id'], name=op.f('fk_request_events_staff_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_events'))
    )
    with op.batch_alter_table('request_events', schema=None) as batch_op:
        batch_op.create_index('ix_request_events_clinic', ['clinic_id', 'action', 'at'], unique=False)
        batch_op.create_index('ix_request_events_request', ['request_id', 'seq'], unique=False)
        batch_op.create_index('uq_request_events_client_action', ['request_id', 'client_action_id'], unique=True)

    with op.batch_alter_table('care_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('first_reply_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalation', sa.String(length=16), nullable=True))

    # staff enrolled before this revision: members of the team on their account, role to be
    # corrected with `micare-bot staff add` / the admin page (seed-demo sets the demo roles)
    op.execute(
        "INSERT INTO staff_members (account_id, clinic_id, role, created_at) "
        "SELECT id, clinic_id, 'nurse', created_at FROM accounts WHERE role = 'staff'"
    )
    op.execute(
        "INSERT INTO team_members (care_team_id, account_id, added_at) "
        "SELECT care_team_id, id, created_at FROM accounts WHERE role = 'staff' AND care_team_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('care_requests', schema=None) as batch_op:
        batch_op.drop_column('escalation')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('first_reply_at')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('assignee_id')

    with op.batch_alter_table('request_events', schema=None) as batch_op:
        batch_op.drop_index('uq_request_events_client_action')
        batch_op.drop_index('ix_request_events_request')
        batch_op.drop_index('ix_request_events_clinic')

    op.drop_table('request_events')
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_members_account_id'))

    op.drop_table('team_members')
    with op.batch_alter_table('team_coverage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_coverage_care_team_id'))
        batch_op.drop_index('ix_team_coverage_account')

    op.drop_table('team_coverage')
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_sessions_account_id'))

    op.drop_table('staff_sessions')
    with op.batch_alter_table('staff_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_members_clinic_id'))

    op.drop_table('staff_members')
    with op.batch_alter_table('patient_messages', schema=None) as batch_op:
        batch_op.drop_index('uq_patient_messages_client_action')
        batch_op.drop_index('ix_patient_messages_account')

    op.drop_table('patient_messages')
