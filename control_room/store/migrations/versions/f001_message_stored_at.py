"""messages: when each was stored and whether it was replayed (fleet benchmark latency)

Revision ID: f001
Revises: a002
Create Date: 2026-12-01 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'f001'
down_revision = 'a002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('stored_at', sa.Float(), nullable=True))
        batch.add_column(sa.Column('replayed', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('replayed')
        batch.drop_column('stored_at')
