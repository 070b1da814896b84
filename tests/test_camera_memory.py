"""Releasing import-time library pages (``edge_agent.cameras.memory``) in a fresh process that
imports what a camera imports: read-only file pages leave the resident set, written pages are
never touched, the code still runs afterwards (its pages come back from the files), and it
happens once and can be turned off.

The pages measured are those of a file this test maps itself: the kernel skips pages another
process maps too (the agent's libraries are shared with any other process of this venv, e.g.
the pytest process that imported OpenCV), so only a private mapping gives a figure that does
not depend on what else runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, mmap, os, sys
import numpy as np, av, cv2
from edge_agent.cameras import memory

def rss_kb(path):
    total, inside = 0, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                inside = line.rstrip().endswith(path)
            elif inside and head[0] == "Rss:":
                total += int(head[1])
    return total

ro_path, rw_path = sys.argv[1], sys.argv[2]
with open(ro_path, "wb") as fh:
    fh.write(os.urandom(16 << 20))
with open(rw_path, "wb") as fh:
    fh.write(bytes(4 << 20))
ro = mmap.mmap(os.open(ro_path, os.O_RDONLY), 0, prot=mmap.PROT_READ)
rw = mmap.mmap(os.open(rw_path, os.O_RDWR), 0)
rw[:] = b"x" * len(rw)  # written, not yet on disk: exists only in memory
touched = sum(ro[i] for i in range(0, len(ro), 4096))  # fault every page in
before = (rss_kb(ro_path), rss_kb(rw_path))
released = memory.release_library_pages()
after = (rss_kb(ro_path), rss_kb(rw_path))
again = memory.release_library_pages()
intact = rw[:] == b"x" * len(rw) and touched == sum(ro[i] for i in range(0, len(ro), 4096))
# The released code runs again: an OpenCV filter, a JPEG, an H.264 encoder and decoder.
img = cv2.GaussianBlur(np.full((90, 160), 128, np.uint8), (5, 5), 0)
ok, jpeg = cv2.imencode(".jpg", img)
enc = av.CodecContext.create("libx264", "w")
enc.width, enc.height, enc.pix_fmt = 160, 96, "yuv420p"
frame = av.VideoFrame.from_ndarray(np.zeros((96, 160, 3), np.uint8), format="rgb24")
packets = list(enc.encode(frame.reformat(format="yuv420p"))) + list(enc.encode(None))
dec = av.CodecContext.create("h264", "r")
frames = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
print(json.dumps({"before": before, "after": after, "released": released, "again": again,
                  "intact": intact, "jpeg": bool(ok) and len(jpeg) > 100,
                  "decoded": len(frames)}))
"""


def probe(**env: str) -> dict[str, object]:
    # The files live on the worktree's disk: pages of a tmpfs /tmp could only go to swap.
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=artifacts) as tmpdir:
        tmp = Path(tmpdir)
        out = subprocess.run([sys.executable, "-c", PROBE, str(tmp / "ro.bin"),
                              str(tmp / "rw.bin")], cwd=ROOT, capture_output=True, text=True,
                             timeout=120, env={**os.environ, **env}, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_read_only_file_pages_are_released_once_and_the_code_still_runs() -> None:
    r = probe()
    (ro_before, rw_before), (ro_after, rw_after) = r["before"], r["after"]  # type: ignore[misc]
    assert isinstance(r["released"], int) and r["released"] > 50, r  # every library mapping
    assert ro_before > 15000 and ro_after < 1000, r  # 16 MB resident -> gone
    assert rw_after == rw_before > 4000, r  # written pages: untouched
    assert r["intact"], r
    assert r["again"] is None, r  # once per process
    assert r["jpeg"] and r["decoded"] == 1, r


def test_keep_pages_turns_it_off() -> None:
    r = probe(EDGE_AGENT_KEEP_PAGES="1")
    assert r["released"] is None, r
    assert r["after"] == r["before"], r
