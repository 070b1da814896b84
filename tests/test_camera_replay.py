"""``edge-agent camera replay``: the detector on a recording, with a camera's settings.

Real parts: the CLI as a subprocess on a labelled tuning clip; its frame lines are compared
with the scoring harness's run of the agent's own source and analysis (``run_source``), so
the tool shows exactly what the agent would decide.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.infra import street_sets
from tests.infra.adaptive_scoring import run_source
from tests.infra.agent_proc import base_config, write_config
from tests.infra.clip_lock import COLD_CLIPS_TIMEOUT_S
from tests.infra.recorded import garbage, without_key_frames
from tests.infra.rtsp_server import RtspServer

pytestmark = pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)  # may build the clip


@pytest.fixture(scope="module")
def clip(artifacts_dir: Path) -> Path:
    return street_sets.make_street_clip(street_sets.TUNING["t-ir-two"],
                                        artifacts_dir / "camera-clips")


def _replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_agent", "camera", "replay", *args],
                          capture_output=True, text=True, timeout=300)


def test_frames_and_events_are_the_agents(clip: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames.jsonl"
    done = _replay(str(clip), "--decode", "all", "--frames", str(frames))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in frames.read_text().splitlines()]
    agent = run_source(clip, "all").run.results
    assert [(x["t"], x["motion"]) for x in lines] == [(round(r.ts, 3), r.motion) for r in agent]
    boxes = [[[round(v, 4) for v in b.box] for b in r.blobs] if r.motion else [] for r in agent]
    assert [x["boxes"] for x in lines] == boxes
    starts = [line for line in done.stdout.splitlines() if " start " in line]
    ends = [line for line in done.stdout.splitlines() if " end " in line]
    # the first walker enters at 2.53 s; the event starts at the frame before he was seen
    assert len(starts) == len(ends) == 1 and "from    2.40 s" in starts[0], done.stdout
    moving = sum(x["motion"] for x in lines)
    assert f"90 frames analysed, {moving} with motion, 1 event;" in done.stdout


def test_a_cameras_masks_apply_and_a_wrong_camera_is_one_line(clip: Path,
                                                              tmp_path: Path) -> None:
    whole = [[0, 0], [1, 0], [1, 1], [0, 1]]
    cfg = base_config(tmp_path, "mqtt://127.0.0.1:1", cameras=[
        {"id": "lane", "url": "rtsp://127.0.0.1:1/x", "masks": [whole]}])
    path = write_config(tmp_path / "agent.yaml", cfg)
    masked = _replay(str(clip), "--config", str(path), "--decode", "all")
    assert masked.returncode == 0, masked.stderr
    assert "camera 'lane'" in masked.stdout and ", 0 events;" in masked.stdout, masked.stdout
    wrong = _replay(str(clip), "--config", str(path), "--camera", "gate")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == f"error: no camera 'gate' in {path} (cameras: lane)"


def test_a_stream_that_does_not_open_is_reported_in_one_line() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = _replay(f"rtsp://viewer:secret@127.0.0.1:{port}/cam")
    assert done.returncode == 1
    last = done.stdout.strip().splitlines()[-1]
    assert "0 frames analysed" in last and "Connection refused" in last, done.stdout
    assert "secret" not in done.stdout + done.stderr


def test_a_source_without_a_picture_says_why_in_one_line_and_fails(clip: Path) -> None:
    """Packets but never a key frame (a camera joined mid-GOP that never sends one), served
    by the real RTSP server: the replay used to stay silent until Ctrl-C. Now it says why
    after ``no_picture_s`` (10 s) and exits 1; a file without key frames at its end (it
    used to exit 0); garbage in words, not as FFmpeg's "avcodec_send_packet()" and errno."""
    cut = without_key_frames(clip)
    server = RtspServer(cut).start()
    try:
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "edge_agent", "camera", "replay",
                               server.url, "--decode", "all"],
                              capture_output=True, text=True, timeout=60)
        took = time.monotonic() - began
    finally:
        server.stop()
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert "0 frames analysed" in last and ("stopped: no picture decoded in 10 s: the stream "
                                            "sends no key frame") in last, done.stdout
    assert 10 <= took < 30, took  # bounded: the wait, the connect, the interpreter's start
    assert "Traceback" not in done.stderr, done.stderr
    file = _replay(str(cut), "--decode", "all")
    assert file.returncode == 1, file.stdout + file.stderr
    assert "stopped: no picture decoded: the file has no key frame (" in file.stdout, file.stdout
    junk = _replay(str(garbage(clip)), "--decode", "all")
    assert junk.returncode == 1, junk.stdout + junk.stderr
    assert "stopped: cannot decode the h264 stream: Invalid data found when processing " \
        "input (corrupt data or an unsupported profile?)" in junk.stdout, junk.stdout


def test_seconds_in_adaptive_mode_ends_at_the_end_with_the_motion_inside(
        clip: Path, tmp_path: Path) -> None:
    """``--seconds 3`` on a file in adaptive mode (real time, key frames every 2 s): nothing
    after 3 s is analysed or reported (it used to stop at the next analysed frame, the key
    frame at 4 s, and report it), and the walker entering at 2.53 s is still found."""
    frames = tmp_path / "frames.jsonl"
    done = _replay(str(clip), "--decode", "adaptive", "--seconds", "3", "--frames", str(frames))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in frames.read_text().splitlines()]
    assert max(x["t"] for x in lines) <= 3.0, lines
    assert any(x["motion"] and x["t"] >= 2.5 for x in lines), lines
    assert "done: 2.9 s of video" in done.stdout and ", 1 event;" in done.stdout, done.stdout


def test_a_config_whose_secret_files_cannot_be_read_still_replays(clip: Path,
                                                                  tmp_path: Path) -> None:
    """A technician without access to the service's credentials (root-only, or systemd's
    credentials directory) replays with the camera's settings: replay uses no secret."""
    missing = str(tmp_path / "no-such-credential")
    whole = [[0, 0], [1, 0], [1, 1], [0, 1]]
    cfg = base_config(tmp_path, "mqtt://127.0.0.1:1", mqtt={"username": "agent",
                                                            "password_file": missing},
                      cameras=[{"id": "lane", "url": "rtsp://127.0.0.1:1/x", "username": "x",
                                "password_file": missing, "masks": [whole]}])
    path = write_config(tmp_path / "agent.yaml", cfg)
    done = _replay(str(clip), "--config", str(path), "--decode", "all", "--seconds", "1")
    assert done.returncode == 0, done.stderr
    assert "camera 'lane'" in done.stdout and ", 0 events;" in done.stdout, done.stdout


def test_the_burnt_in_clock_is_found_said_and_makes_no_event(artifacts_dir: Path) -> None:
    osd = street_sets.make_street_clip(street_sets.TUNING_OSD["t-osd-still-night"],
                                       artifacts_dir / "camera-clips")
    found = _replay(str(osd), "--decode", "all", "--overlay", "auto")
    assert found.returncode == 0, found.stderr
    said = [line for line in found.stdout.splitlines() if "overlay (burnt-in text" in line]
    # the clock top-left and the camera's name top-right, found after the first second
    assert len(said) == 1 and "top-left" in said[0] and "top-right" in said[0], found.stdout
    assert float(said[0].split()[0]) <= 1.5, said
    done = found.stdout.strip().splitlines()[-1]
    assert ", 0 events;" in done and "(overlay " in done and "detector " in done, done
    off = _replay(str(osd), "--decode", "all")  # the default: overlay off
    assert "overlay (burnt-in" not in off.stdout and ", 1 event;" in off.stdout, off.stdout
