"""The control room's store: one code path over SQLite (WAL) and PostgreSQL
(SQLAlchemy 2 Core, async; Alembic migrations run at start)."""
