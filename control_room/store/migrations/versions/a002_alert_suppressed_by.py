"""alerts: which gateway condition keeps a firing alert suppressed

Revision ID: a002
Revises: c001
Create Date: 2026-12-01 11:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'a002'
down_revision = 'c001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('suppressed_by', sa.String(length=400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_column('suppressed_by')
