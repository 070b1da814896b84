"""Alembic environment: run by ``control_room.store.db.migrate`` on an open connection
(``config.attributes["connection"]``), or by the ``alembic`` command with ``-x url=...``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import control_room.auth.schema  # noqa: F401  (the console's tables share the metadata)
from control_room.store.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or \
        config.get_main_option("sqlalchemy.url")
    engine = create_engine(str(url))
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
