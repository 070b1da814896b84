"""`scripts/demo`, the README's first command, run as a user would (twice: its state is kept
between runs): the whole commune comes up, the control room hears every gateway, the operator
override goes through, and nothing is counted lost -- neither at the start (gateways that
published before the room had subscribed) nor across a restart (last messages sent while the
room was already stopping)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(400)


def _run(demo_dir: Path, seconds: int) -> str:
    env = {**os.environ, "DEMO_DIR": str(demo_dir)}
    done = subprocess.run([str(ROOT / "scripts" / "demo"), "--duration", str(seconds)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout + done.stderr  # (its progress lines go to stderr)


def test_the_demo_shows_a_whole_commune_and_loses_nothing_across_runs(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    first = _run(demo_dir, 30)
    assert "console (Vietnamese" in first and "gateway thon-bac running" in first, first[-2000:]
    _run(demo_dir, 30)  # the same state again: numbering goes on from the first run
    with sqlite3.connect(demo_dir / "control-room" / "control-room.db") as db:
        gateways = dict(db.execute("SELECT gateway_key, state FROM gateways").fetchall())
        losses = db.execute("SELECT gateway_key, first, last FROM seq_loss").fetchall()
        override = db.execute("SELECT count(*) FROM commands WHERE path LIKE "
                              "'%override%'").fetchone()[0]
    assert gateways == {"xuan-truong/demo-gw": "stopped", "thon-dong/gw-thon-dong": "stopped",
                        "thon-bac/gw-thon-bac": "stopped"}, gateways  # each 'stopped' heard
    assert losses == [], losses
    assert override >= 1
