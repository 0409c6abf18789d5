"""quality: clear columns for intake figures, labeled test runs

Revision ID: 0004
Revises: 0003

Adds to ``conversations`` the field the bot is waiting for (``awaiting``: where an
abandoned conversation stopped) and the care team at the start (``care_team_id``),
both in clear so the quality figures never open sealed state; backfills the team
from the account. Adds ``test_runs`` (labeled evaluate / replay runs).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN on both backends (no table rebuild on SQLite, where other tables point here)
    op.add_column('conversations', sa.Column('awaiting', sa.String(length=32), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite has no ADD CONSTRAINT, but takes the reference inline in ADD COLUMN
        op.execute("ALTER TABLE conversations ADD COLUMN care_team_id VARCHAR(36) REFERENCES care_teams (id)")
    else:
        op.add_column('conversations', sa.Column('care_team_id', sa.String(length=36), nullable=True))
        op.create_foreign_key(op.f('fk_conversations_care_team_id_care_teams'), 'conversations', 'care_teams',
                              ['care_team_id'], ['id'])
    op.create_index('ix_conversations_clinic_created', 'conversations', ['clinic_id', 'created_at'], unique=False)
    # existing conversations: the team of the account that started them (awaiting stays unknown)
    op.execute(
        "UPDATE conversations SET care_team_id = "
        "(SELECT accounts.care_team_id FROM accounts WHERE accounts.id = conversations.account_id)"
    )
    op.create_table('test_runs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('clinic_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('file_name', sa.String(length=120), nullable=False),
    sa.Column('lexicon', sa.String(length=16), nullable=False),
    sa.Column('lexicon_version', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('summary_json', sa.Text(), nullable=False),
    sa.Column('results_enc', sa.Text(), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_test_runs_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['created_by'], ['accounts.id'], name=op.f('fk_test_runs_created_by_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_test_runs'))
    )
    op.create_index('ix_test_runs_clinic', 'test_runs', ['clinic_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_test_runs_clinic', table_name='test_runs')
    op.drop_table('test_runs')
    op.drop_index('ix_conversations_clinic_created', table_name='conversations')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('care_team_id')
        batch_op.drop_column('awaiting')
