"""snapshot_sightings: every arrival of a snapshot, so two motion events with the same
picture both find it (the file table keeps one row per picture, first arrival only)

Revision ID: s001
Revises: f001
Create Date: 2026-12-01 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 's001'
down_revision = 'f001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('snapshot_sightings',
    sa.Column('gateway_key', sa.String(length=200), nullable=False),
    sa.Column('camera', sa.String(length=100), nullable=False),
    sa.Column('seen_at', sa.Float(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False))
    op.create_index('ix_snapshot_sightings_camera', 'snapshot_sightings',
                    ['gateway_key', 'camera', 'seen_at'])
    op.create_index('ix_snapshot_sightings_sha', 'snapshot_sightings', ['sha256'])
    # what is known of the past: each stored picture's first arrival
    op.execute("INSERT INTO snapshot_sightings (gateway_key, camera, seen_at, sha256) "
               "SELECT gateway_key, camera, stored_at, sha256 FROM snapshots")


def downgrade() -> None:
    op.drop_index('ix_snapshot_sightings_sha', table_name='snapshot_sightings')
    op.drop_index('ix_snapshot_sightings_camera', table_name='snapshot_sightings')
    op.drop_table('snapshot_sightings')
