"""Every pooled PostgreSQL connection keeps its last 100 prepared statements, and the
ingest's INSERT ... RETURNING of a batch was one statement per distinct row count, up to
8,000 parameters (about a megabyte each with asyncpg's codecs): a part of the room's RSS
growth in the fleet soak (issue 14; the main part was the judge's, test_judge_setwise).
The inserts are now paged (store/db.INSERT_PAGE_ROWS): whatever the batch sizes, no cached
statement is that big.
Real PostgreSQL; the cache looked at is SQLAlchemy's asyncpg adapter's own."""

from __future__ import annotations

import random

from sqlalchemy.ext.asyncio import AsyncEngine

from control_room.store.db import INSERT_PAGE_ROWS
from control_room.store.writer import write_batch
from tests.test_control_room_store import T0, db, health, msg

__all__ = ["db"]  # the fixture, imported for these tests


async def test_big_batches_leave_no_huge_statements_in_the_cache(db: AsyncEngine) -> None:
    if db.dialect.name != "postgresql":
        return  # SQLite: sqlite3's statement cache is not reachable from here
    rng = random.Random(7)
    seq: dict[str, int] = {}
    async with db.connect() as conn:  # one connection: its cache is the one filled
        for size in (1000, 999, 640, 333, 1):
            items = []
            for _ in range(size):
                gw = f"gw-{rng.randint(1, 400)}"
                seq[gw] = seq.get(gw, 0) + 1
                items.append(msg("health", health(seq[gw], T0 + 1), T0 + 1, gw=gw))
            async with conn.begin():
                result = await write_batch(conn, items, [], {}, 100)
            assert result.stored == size
        raw = await conn.get_raw_connection()
        cache = raw.dbapi_connection._prepared_statement_cache  # type: ignore[union-attr]
        params = sorted(sql.count("$") for sql in cache)
    # one messages row is 8 parameters; other statements' IN lists are one per gateway
    assert params, "no prepared statement cached: the check would prove nothing"
    assert params[-1] <= max(8 * INSERT_PAGE_ROWS, 400 + 10), params[-5:]
