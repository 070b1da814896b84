"""The command log on a real SQLite file: what a redelivered command gets, across restarts.

The router and the log are the real ones; a "restart" is a new log object on the same file
(what the next process opens). The end-to-end redelivery over a real broker after kill -9 is
in test_command_outages.py.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_agent.command_log import INTERRUPTED, CommandLog, identify
from edge_agent.commands import CommandRouter, IncomingCommand
from edge_agent.runtime import CommandRequest


class Gateway:
    """A router with a counting handler and the replies it sent."""

    def __init__(self, log: CommandLog | None, delay_s: float = 0.0) -> None:
        self.replies: list[tuple[str, dict[str, Any]]] = []
        self.calls: list[dict[str, Any]] = []
        self.router = CommandRouter("base", self._send)
        self.router.command_log = log
        self.delay_s = delay_s
        self.router.register("light", "pulse", self._pulse)

    async def _send(self, topic: str, body: Mapping[str, Any], corr: bytes | None) -> None:
        self.replies.append((topic, dict(body)))

    async def _pulse(self, request: CommandRequest) -> dict[str, Any]:
        self.calls.append(request.payload)
        await asyncio.sleep(self.delay_s)
        return {"pulsed": "on", "n": len(self.calls)}


def pulse(request_id: str | None = "r-1", circuit: str = "main",
          correlation: bytes | None = None) -> IncomingCommand:
    body: dict[str, Any] = {"seconds": 1}
    if request_id is not None:
        body["id"] = request_id
    return IncomingCommand(f"light/{circuit}/pulse", json.dumps(body).encode(),
                           response_topic="reply/x" if correlation else None,
                           correlation_data=correlation)


async def opened(path: Path, **kwargs: Any) -> CommandLog:
    log = CommandLog(path, **kwargs)
    await log.open()
    return log


async def test_a_command_done_before_a_restart_gets_its_stored_reply(tmp_path: Path) -> None:
    db = tmp_path / "commands.sqlite3"
    first = Gateway(await opened(db))
    await first.router.handle(pulse())
    assert first.router.command_log is not None
    await first.router.command_log.close()
    again = Gateway(await opened(db))  # the next process, the broker redelivers
    await again.router.handle(pulse())
    assert len(first.calls) == 1 and again.calls == [], "run twice"
    assert again.replies == first.replies
    assert first.replies[0][1]["ok"] is True and first.replies[0][1]["request_id"] == "r-1"


async def test_a_command_interrupted_by_a_crash_is_not_run_again(tmp_path: Path) -> None:
    db = tmp_path / "commands.sqlite3"
    crashed = await opened(db)
    key, names = identify("light/main/pulse", pulse().payload, None) or ("", {})
    assert await crashed.begin(key, names) is None  # started ... and the process died
    again = Gateway(await opened(db))
    await again.router.handle(pulse())
    await again.router.handle(pulse())  # and once more: the same answer
    assert again.calls == []
    for _, body in again.replies:
        assert body == {"ok": False, "error": INTERRUPTED, "command": "light/main/pulse",
                        "request_id": "r-1"}
    assert len(again.replies) == 2


async def test_the_same_command_twice_while_it_runs_runs_once(tmp_path: Path) -> None:
    gw = Gateway(await opened(tmp_path / "c.sqlite3"), delay_s=0.3)
    await asyncio.gather(gw.router.handle(pulse()), gw.router.handle(pulse()))
    assert len(gw.calls) == 1
    assert len(gw.replies) == 2 and gw.replies[0] == gw.replies[1]


async def test_what_identifies_a_command(tmp_path: Path) -> None:
    gw = Gateway(await opened(tmp_path / "c.sqlite3"))
    await gw.router.handle(pulse("r-1", "main"))
    await gw.router.handle(pulse("r-1", "side"))  # same id, another command
    await gw.router.handle(pulse("r-2", "main"))
    await gw.router.handle(pulse(None, correlation=b"\x01corr"))  # MQTT 5 correlation
    await gw.router.handle(pulse(None, correlation=b"\x01corr"))
    await gw.router.handle(pulse(None))  # nothing identifies it: runs every time
    await gw.router.handle(pulse(None))
    assert len(gw.calls) == 6, gw.calls  # 3 by id, 1 by correlation, 2 unidentified


async def test_entries_are_pruned_by_age_and_bounded(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite3"

    def rows() -> list[float]:
        with sqlite3.connect(db) as conn:
            return [t for (t,) in conn.execute("SELECT started_at FROM commands")]

    log = await opened(db, keep_s=3600, max_entries=1000)
    for i in range(80):
        key, names = identify("ping", json.dumps({"id": i}).encode(), None) or ("", {})
        assert await log.begin(key, names) is None
        await log.finish(key, {"ok": True})
    await log.close()
    with sqlite3.connect(db) as conn:  # five entries from long ago, as if kept since then
        conn.execute("UPDATE commands SET started_at = ? WHERE rowid IN "
                     "(SELECT rowid FROM commands ORDER BY started_at LIMIT 5)",
                     (time.time() - 7200,))
    await (await opened(db, keep_s=3600, max_entries=1000)).close()  # prunes at open
    assert len(rows()) == 75 and min(rows()) > time.time() - 3600
    newest = sorted(rows())[-50:]
    await (await opened(db, keep_s=3600, max_entries=50)).close()
    assert sorted(rows()) == newest  # bounded: the newest kept


async def test_an_unusable_log_does_not_stop_commands(tmp_path: Path) -> None:
    log = await opened(tmp_path / "c.sqlite3")
    await log.close()  # e.g. the database went away: begin() raises
    gw = Gateway(log)
    await gw.router.handle(pulse())
    await gw.router.handle(pulse())
    assert len(gw.calls) == 2 and all(body["ok"] for _, body in gw.replies)
