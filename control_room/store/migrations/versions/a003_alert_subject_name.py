"""alerts: the subject's name for people ("Cổng làng" for camera cong-lang)

Revision ID: a003
Revises: s001
Create Date: 2026-12-02 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'a003'
down_revision = 's001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('subject_name', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_column('subject_name')
