"""Is the event loop still turning while some awaited work runs? Count its ticks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class LoopTicks:
    count = 0


@asynccontextmanager
async def loop_ticks(period_s: float = 0.01) -> AsyncIterator[LoopTicks]:
    """``async with loop_ticks() as ticks: await work()`` — ``ticks.count`` says how often
    the loop woke a 10 ms sleeper meanwhile (0 or 1 when the work blocked the loop)."""
    ticks = LoopTicks()

    async def tick() -> None:
        while True:
            await asyncio.sleep(period_s)
            ticks.count += 1

    task = asyncio.create_task(tick())
    try:
        yield ticks
    finally:
        task.cancel()
