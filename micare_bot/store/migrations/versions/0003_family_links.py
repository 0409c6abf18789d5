"""family links: providers, proxy-link status on dependent_links, account notices

Links that exist before this migration were made at in-person enrollment, where
staff saw the parent and the child: they become ``accepted`` links of source
``enrollment``, routed to the parent's care team.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 06:55:00
"""
import uuid

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('providers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('clinic_id', sa.String(length=36), nullable=False),
    sa.Column('care_team_id', sa.String(length=36), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['care_team_id'], ['care_teams.id'], name=op.f('fk_providers_care_team_id_care_teams')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_providers_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_providers')),
    sa.UniqueConstraint('clinic_id', 'slug', name=op.f('uq_providers_clinic_id_slug'))
    )
    op.create_table('account_notices',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('body_enc', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_notices_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_notices'))
    )
    with op.batch_alter_table('account_notices', schema=None) as batch_op:
        batch_op.create_index('ix_account_notices_account', ['account_id', 'created_at'], unique=False)

    with op.batch_alter_table('dependent_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('provider_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('care_team_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('created_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('requested_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('ended_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('end_reason', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('end_note_enc', sa.Text(), nullable=True))

    # links made at in-person enrollment: accepted, routed to the parent's own team
    bind = op.get_bind()
    links = sa.table('dependent_links', sa.column('dependent_id'), sa.column('account_id'), sa.column('id'),
                     sa.column('status'), sa.column('source'), sa.column('care_team_id'), sa.column('created_at'))
    accounts = sa.table('accounts', sa.column('id'), sa.column('care_team_id'))
    dependents = sa.table('dependents', sa.column('id'), sa.column('created_at'))
    rows = bind.execute(
        sa.select(links.c.dependent_id, links.c.account_id, accounts.c.care_team_id, dependents.c.created_at)
        .join(accounts, accounts.c.id == links.c.account_id)
        .join(dependents, dependents.c.id == links.c.dependent_id)
    ).all()
    for dep_id, acc_id, team_id, created in rows:
        bind.execute(
            links.update().where(links.c.dependent_id == dep_id, links.c.account_id == acc_id)
            .values(id=str(uuid.uuid4()), status='accepted', source='enrollment', care_team_id=team_id,
                    created_at=created)
        )

    with op.batch_alter_table('dependent_links', schema=None) as batch_op:
        batch_op.alter_column('id', existing_type=sa.String(length=36), nullable=False)
        batch_op.alter_column('status', existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column('source', existing_type=sa.String(length=16), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_dependent_links_id'), ['id'])
        batch_op.create_index('ix_dependent_links_team', ['care_team_id', 'status'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_dependent_links_provider_id_providers'), 'providers',
                                    ['provider_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_dependent_links_care_team_id_care_teams'), 'care_teams',
                                    ['care_team_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_dependent_links_decided_by_accounts'), 'accounts',
                                    ['decided_by'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('dependent_links', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_dependent_links_decided_by_accounts'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_dependent_links_care_team_id_care_teams'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_dependent_links_provider_id_providers'), type_='foreignkey')
        batch_op.drop_index('ix_dependent_links_team')
        batch_op.drop_constraint(batch_op.f('uq_dependent_links_id'), type_='unique')
        for column in ('end_note_enc', 'end_reason', 'ended_at', 'decided_by', 'decided_at', 'requested_at',
                       'created_at', 'care_team_id', 'provider_id', 'source', 'status', 'id'):
            batch_op.drop_column(column)
    with op.batch_alter_table('account_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_account_notices_account')
    op.drop_table('account_notices')
    op.drop_table('providers')
