"""End to end: the real agent process, real GStreamer RTSP servers, the real broker."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.clips import load_truth, make_clip
from tests.infra.mqtt_client import ControlRoom, Received
from tests.infra.recorded import without_key_frames
from tests.infra.rtsp_server import RtspServer

pytestmark = pytest.mark.timeout(120)
READ_TIMEOUT_S = 4
NOTICE_MARGIN_S = 1.5  # status publish + scheduling on a loaded 2-core machine


@pytest.fixture(scope="module")
def moving_clip(artifacts_dir: Path) -> Path:
    return make_clip("moving", artifacts_dir / "camera-clips")


def _camera(cam_id: str, url: str, **extra: Any) -> dict[str, Any]:
    cam: dict[str, Any] = {"id": cam_id, "url": url, "status_interval_s": 1,
                           "read_timeout_s": READ_TIMEOUT_S, "reconnect_min_s": 0.5,
                           "reconnect_max_s": 2}
    cam.update(extra)
    return cam


def _agent(tmp: Path, broker: Broker, gw: str, cameras: list[dict[str, Any]],
           health_s: float = 60, fast_reconnect: bool = True) -> AgentProcess:
    cfg = base_config(tmp, broker.url, gateway=gw, cameras=cameras,
                      health={"interval_s": health_s}, fast_reconnect=fast_reconnect)
    return AgentProcess(write_config(tmp / f"{gw}.yaml", cfg), tmp / f"{gw}.log").start()


def _is(topic_end: str, **fields: Any) -> Any:
    def pred(m: Received) -> bool:
        if not m.topic.endswith(topic_end):
            return False
        body = m.json()
        return all(body.get(k) == v for k, v in fields.items())
    return pred


def _wall(m: Received) -> float:
    from datetime import datetime

    return datetime.fromisoformat(m.json()["ts"].replace("Z", "+00:00")).timestamp()


def test_motion_events_over_rtsp_arrive_with_the_right_timing(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, moving_clip: Path) -> None:
    server = RtspServer(moving_clip).start()
    gw = "gw-cam-events"
    agent = _agent(tmp_path, broker, gw, [_camera(
        "gate", server.url, decode="all", motion={"end_s": 1.0},
        clips={"enabled": True, "pre_s": 1, "post_s": 1},
        zones=[{"name": "road", "polygon": [[0, 0.4], [1, 0.4], [1, 0.8], [0, 0.8]]}])],
        health_s=2)
    try:
        motion = f"{gw}/camera/gate/motion"
        events = control_room.wait_for(lambda m: m.topic.endswith(motion) and
                                       m.json()["event"] in ("start", "end"), 25, count=3)
        t0 = server.client_times[0]
        start1, end1, start2 = (e.json() | {"at": _wall(e) - t0} for e in events[:3])
        truth = load_truth(moving_clip)
        assert start1["event"] == "start" and end1["event"] == "end" and \
            start2["event"] == "start"
        # object 1 is visible 3.2-7.8 s, object 2 from 10.2 s (clip time from the first frame)
        assert 3.2 <= start1["at"] <= 4.2, start1
        assert 7.8 + 1.0 <= end1["at"] <= 7.8 + 2.2, end1
        assert 10.2 <= start2["at"] <= 11.2, start2
        assert start1["event_id"] == end1["event_id"] != start2["event_id"]
        assert end1["zones"] == ["road"] and 3.5 <= end1["duration_s"] <= 5.0
        box = start1["boxes"][0]
        gt = truth["boxes"][33][0]  # type: ignore[index]
        assert all(0 <= v <= 1 for v in box) and abs(box[1] - gt[1]) < 0.1
        assert start1["snapshot"].startswith("gate/") and start1["snapshot"].endswith(".jpg")
        snap = control_room.wait_for(lambda m: m.topic.endswith(f"{gw}/camera/gate/snapshot"))
        assert snap[0].payload[:2] == b"\xff\xd8"  # JPEG
        saved = tmp_path / f"data-{gw}" / "media" / start1["snapshot"]
        assert saved.read_bytes()[:2] == b"\xff\xd8"
        # the event's clip: the camera's own H.264 packets from the key frame before the
        # pre-capture to the post-capture (closed ~1 s after the end, before start2 arrives)
        assert end1["clip"] == start1["clip"] and start1["clip"].endswith(".mp4")
        import av

        with av.open(str(tmp_path / f"data-{gw}" / "media" / start1["clip"])) as clip:
            frames = sum(1 for p in clip.demux(video=0) if p.size)
            assert clip.streams.video[0].codec_context.name == "h264"
        assert 55 <= frames <= 85, frames  # ~2.0 s (key frame) to ~9.8 s at 10 fps
        reply = control_room.command(f"commune/testsite/{gw}", "camera/gate/snapshot")
        assert reply["ok"] and reply["bytes"] > 1000
        bad = control_room.command(f"commune/testsite/{gw}", "camera/nope/snapshot")
        assert not bad["ok"] and "unknown camera" in bad["error"]
        # the periodic health message carries a one-line summary per camera
        health = control_room.wait_for(lambda m: m.topic.endswith(f"{gw}/health") and
                                       m.json().get("cameras", {}).get("per_camera", {})
                                       .get("gate", {}).get("events", 0) >= 2, 10
                                       )[0].json()["cameras"]
        assert health["online"] == 1 and health["total"] == 1
        gate = health["per_camera"]["gate"]
        assert gate["state"] == "online" and gate["fps_decoded"] > 5
    finally:
        agent.stop()
        server.stop()


def test_hung_killed_and_restarted_camera_without_delaying_the_others(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, moving_clip: Path) -> None:
    hung, healthy = RtspServer(moving_clip).start(), RtspServer(moving_clip).start()
    gw = "gw-cam-outage"
    secret_url = hung.url.replace("rtsp://", "rtsp://admin:Pa55word@")
    agent = _agent(tmp_path, broker, gw, [_camera("a", secret_url, decode="keyframes"),
                                          _camera("b", healthy.url, decode="keyframes")])
    base = f"commune/testsite/{gw}"
    servers = [hung, healthy]
    try:
        for cam in ("a", "b"):
            control_room.wait_for(_is(f"{gw}/camera/{cam}/status", state="online"), 15)
        t_hang = time.time()
        n = len(control_room.messages)
        hung.hang()
        assert control_room.command(base, "ping")["ok"]
        t_ping = time.time()
        offline = control_room.wait_for(lambda m: control_room.messages.index(m) >= n and
                                        _is(f"{gw}/camera/a/status", state="offline")(m), 12)
        t_offline = _wall(offline[0])
        print(f"hung camera offline after {t_offline - t_hang:.1f} s")
        # docs/cameras.md: offline "within the read timeout" (read_timeout_s 4 here), plus
        # NOTICE_MARGIN_S for publishing the status on a loaded machine
        assert t_offline - t_hang < READ_TIMEOUT_S + NOTICE_MARGIN_S
        # The event loop stayed responsive: the command was answered while camera a's read
        # was still hanging (before its read timeout declared it offline).
        assert t_ping < t_offline, (t_ping - t_hang, t_offline - t_hang)
        # b kept reporting through the hang (a is hung until resume() below): reports before
        # a was declared offline, and several in all; no fixed window to count in.
        b_reports = control_room.wait_for(
            lambda m: control_room.messages.index(m) >= n and
            m.topic.endswith(f"{gw}/camera/b/status"), 20, count=4)
        b_times = [_wall(m) for m in b_reports]
        assert any(t_hang < t < t_offline for t in b_times), (b_times, t_hang, t_offline)
        assert all(m.json()["state"] == "online" for m in b_reports)
        hung.resume()
        n = len(control_room.messages)
        control_room.wait_for(lambda m: control_room.messages.index(m) >= n and
                              _is(f"{gw}/camera/a/status", state="online")(m), 20)
        port = hung.port
        t_kill = time.time()
        hung.stop()
        n = len(control_room.messages)
        dead = control_room.wait_for(lambda m: control_room.messages.index(m) >= n and
                                     _is(f"{gw}/camera/a/status", state="offline")(m), 12)
        print(f"killed camera offline after {_wall(dead[0]) - t_kill:.1f} s")
        assert _wall(dead[0]) - t_kill < READ_TIMEOUT_S + NOTICE_MARGIN_S
        time.sleep(3)  # stays down a while: several reconnect attempts fail
        restarted = RtspServer(moving_clip, port=port).start()
        servers.append(restarted)
        t_back = time.time()
        n = len(control_room.messages)
        back = control_room.wait_for(lambda m: control_room.messages.index(m) >= n and
                                     _is(f"{gw}/camera/a/status", state="online")(m), 10)
        print(f"restarted camera online after {_wall(back[0]) - t_back:.1f} s")
        assert _wall(back[0]) - t_back < 5
        assert back[0].json()["reconnects_last_hour"] >= 2
        everything = b"".join(m.payload for m in control_room.messages) + \
            agent.log().encode()
        assert b"Pa55word" not in everything
    finally:
        agent.stop()
        for server in servers:
            server.stop()


def test_adaptive_mode_skips_decoding_while_still_and_catches_motion(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, moving_clip: Path) -> None:
    server = RtspServer(moving_clip).start()
    gw = "gw-cam-adaptive"
    agent = _agent(tmp_path, broker, gw, [_camera("gate", server.url, decode="adaptive")])
    try:
        start = control_room.wait_for(_is(f"{gw}/camera/gate/motion", event="start"), 20)
        t0 = server.client_times[0]
        onset = _wall(start[0]) - t0
        # object enters at 3.2 s, still scene before; key frames every 2 s (4.0 s next)
        assert 3.2 <= onset <= 5.5, onset  # caught at the 4.0 s key frame (next is 6.0 s)
        control_room.wait_for(_is(f"{gw}/camera/gate/motion", event="update"), 10)
        # The statuses of the whole moving window below (the update alone may come before it
        # ends: with the look-back the event starts, and updates, a GOP earlier).
        control_room.wait_for(lambda m: _is(f"{gw}/camera/gate/status")(m) and
                              _wall(m) - t0 > 7.5, 10)
        statuses = [(_wall(m) - t0, m.json()) for m in control_room.messages
                    if m.topic.endswith(f"{gw}/camera/gate/status")]
        print("adaptive status (clip time, in, decoded, analysed, packets, decoded total):",
              [(round(t, 1), s["fps_in"], s["fps_decoded"], s["fps_analysed"],
                s["packets_total"], s["decoded_total"]) for t, s in statuses])
        still = [s for t, s in statuses if 0.4 <= t <= 3.9 and s["state"] == "online"]
        packets = still[-1]["packets_total"] - still[0]["packets_total"]
        decoded = still[-1]["decoded_total"] - still[0]["decoded_total"]
        assert packets >= 15 and decoded <= 3, (packets, decoded)  # key frames (+ catch-up)
        moving = [s for t, s in statuses if 5.0 <= t <= 7.5]
        assert moving and max(s["fps_decoded"] for s in moving) >= 8, moving
        assert all(s["fps_in"] >= 8 for s in moving)
    finally:
        agent.stop()
        server.stop()


def test_a_camera_that_comes_online_shows_its_rates_within_seconds(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, moving_clip: Path) -> None:
    """Not "online, 0 / 0 / 0 fps" until the periodic status 30 s later: a technician
    reads that as a broken camera."""
    server = RtspServer(moving_clip).start()
    gw = "gw-cam-rates"
    agent = _agent(tmp_path, broker, gw, [_camera("gate", server.url, decode="all",
                                                  status_interval_s=30)])
    try:
        online = control_room.wait_for(_is(f"{gw}/camera/gate/status", state="online"), 20)
        rated = control_room.wait_for(
            lambda m: _is(f"{gw}/camera/gate/status", state="online")(m) and
            m.json()["fps_in"] > 0, 10)
        body = rated[0].json()
        after = _wall(rated[0]) - _wall(online[0])
        print(f"first rates {after:.1f} s after online: {body['fps_in']} in, "
              f"{body['fps_decoded']} decoded, {body['fps_analysed']} analysed")
        assert after <= 2.0 + NOTICE_MARGIN_S, after  # FIRST_RATES_AFTER_S + publishing
        # measured over the connected time only: the clip's 10 fps, not diluted by the
        # seconds before the camera answered
        assert body["fps_in"] >= 7 and body["fps_decoded"] >= 7, body
        assert body["fps_analysed"] > 0, body
    finally:
        agent.stop()
        server.stop()


def test_a_stream_without_key_frames_is_offline_with_the_reason(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, moving_clip: Path) -> None:
    """Packets but no picture (every key frame cut out): the camera's status said "offline,
    connecting (first attempt not finished yet)" for ever. Now, after ``no_picture_s``, it
    says why, the log too, and the agent keeps trying (a new session may start at one)."""
    server = RtspServer(without_key_frames(moving_clip)).start()
    gw = "gw-cam-nokeys"
    agent = _agent(tmp_path, broker, gw, [_camera("gate", server.url, decode="adaptive",
                                                  no_picture_s=3)])
    try:
        told = control_room.wait_for(
            lambda m: _is(f"{gw}/camera/gate/status", state="offline")(m) and
            "no key frame" in (m.json()["last_error"] or ""), 30)
        body = told[0].json()
        assert body["last_error"].startswith(
            "no picture decoded in 3 s: the stream sends no key frame ("), body
        assert body["packets_total"] > 0 and body["decoded_total"] == 0, body
        assert len(server.client_times) >= 1
        wait_for_log = time.monotonic() + 10
        while "no key frame" not in agent.log() and time.monotonic() < wait_for_log:
            time.sleep(0.2)
        assert "camera gate: no picture decoded in 3 s: the stream sends no key frame" in \
            agent.log(), agent.log()[-3000:]
        # it tries again, and says so again (a reconnect, not a give-up)
        deadline = time.monotonic() + 20
        while len(server.client_times) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(server.client_times) >= 2, server.client_times
    finally:
        agent.stop()
        server.stop()
    assert "Traceback" not in agent.log()


def test_an_event_cut_at_max_event_s_starts_the_next_with_its_own_snapshot(
        broker: Broker, control_room: ControlRoom, tmp_path: Path) -> None:
    """A box that never stops moving (a looped file): the event is cut at max_event_s and
    the next starts at once. That start went out with no snapshot (and no clip), and the
    camera counted no new event."""
    import subprocess

    clip = tmp_path / "endless.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=black:s=320x240:r=10[bg];color=c=white:s=40x40:r=10[box];"
                    "[bg][box]overlay=x='mod(t*50,280)':y=100", "-t", "12", "-c:v", "libx264",
                    "-threads", "1", "-g", "10", "-bf", "0", "-pix_fmt", "yuv420p", str(clip)],
                   check=True, timeout=60)
    gw = "gw-cam-cut"
    agent = _agent(tmp_path, broker, gw, [_camera("gate", str(clip), decode="all",
                                                  motion={"max_event_s": 5})], health_s=2)
    try:
        motion = f"{gw}/camera/gate/motion"
        first, cut, second = (m.json() for m in control_room.wait_for(
            lambda m: m.topic.endswith(motion) and m.json()["event"] in ("start", "end"),
            30, count=3)[:3])
        assert (first["event"], cut["event"], second["event"]) == ("start", "end", "start")
        assert first["event_id"] == cut["event_id"] != second["event_id"]
        assert 4.5 <= cut["duration_s"] <= 5.5, cut
        assert second["snapshot"] and second["snapshot"].endswith(".jpg"), second
        assert (tmp_path / f"data-{gw}" / "media" / second["snapshot"]).read_bytes()[:2] == \
            b"\xff\xd8"
        # counted: the camera's health line says two events (wait_for raises otherwise)
        control_room.wait_for(lambda m: m.topic.endswith(f"{gw}/health") and
                              m.json().get("cameras", {}).get("per_camera", {})
                              .get("gate", {}).get("events", 0) >= 2, 15)
    finally:
        agent.stop()


def test_tiny_media_quota_deletes_oldest_and_agent_keeps_running(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, moving_clip: Path) -> None:
    gw = "gw-cam-quota"
    media = tmp_path / f"data-{gw}" / "media" / "gate" / "2026-11-01"
    media.mkdir(parents=True)
    now = time.time()
    for i in range(30):  # 30 x 20 kB = 600 kB of older media, quota 0.2 MB
        path = media / f"old{i:02d}.jpg"
        path.write_bytes(b"\xff\xd8" + b"x" * 20_000)
        os.utime(path, (now - 3600 + i, now - 3600 + i))
    agent = _agent(tmp_path, broker, gw, [_camera(
        "gate", str(moving_clip), decode="all", media={"quota_mb": 0.2, "min_free_mb": 0},
        clips={"enabled": True, "pre_s": 1, "post_s": 1})])
    try:
        control_room.wait_for(_is(f"{gw}/camera/gate/status", state="online"), 15)
        start = control_room.wait_for(_is(f"{gw}/camera/gate/motion", event="start"), 15)
        assert start[0].json()["snapshot"]
        reply = control_room.command(f"commune/testsite/{gw}", "camera/gate/snapshot")
        assert reply["ok"]
        left = sorted(p.name for p in media.glob("*.jpg"))
        assert "old00.jpg" not in left and "old29.jpg" in left
        total = sum(p.stat().st_size for p in (media.parent).rglob("*") if p.is_file())
        assert total <= 0.2 * 1024 * 1024 + 300_000  # quota (+ the clip being written)
        assert agent.proc is not None and agent.proc.poll() is None
        health = control_room.command(f"commune/testsite/{gw}", "ping")
        assert health["ok"]
    finally:
        agent.stop()
    event = start[0].json()  # the documented fields of a motion start, with real values
    assert event["camera"] == "gate" and event["event_id"] and event["started_at"], event
    assert event["boxes"] and all(0.0 <= v <= 1.0 for box in event["boxes"] for v in box)
    assert 0.0 < event["score"] <= event["peak_score"] <= 1.0, event
    assert event["snapshot"].startswith("gate/") and event["snapshot"].endswith(".jpg")


def test_disarm_command_outlives_a_restart(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, moving_clip: Path) -> None:
    """A camera disarmed for maintenance must not re-arm itself at the next power cut."""
    gw = "gw-cam-arming"
    # a gateway's reconnect settings, for the camera and for MQTT (not the fast test ones)
    cameras = [{k: v for k, v in _camera("gate", str(moving_clip), decode="keyframes").items()
                if k not in ("reconnect_min_s", "reconnect_max_s")}]
    status = f"{gw}/camera/gate/status"
    agent = _agent(tmp_path, broker, gw, cameras, fast_reconnect=False)
    try:
        control_room.wait_for(_is(status, state="online"), 20)
        reply = control_room.command(f"commune/testsite/{gw}", "camera/gate/disarm")
        assert reply["ok"] and reply["armed"] is False and reply["until"] is None, reply
        control_room.wait_for(_is(status, state="disarmed"), 10)
    finally:
        assert agent.stop() == 0
    seen_before = {id(m) for m in control_room.messages}
    restarted_at = time.time()
    agent = _agent(tmp_path, broker, gw, cameras, fast_reconnect=False)  # same data dir

    def from_new_process(m: Received) -> bool:  # not a late message of the old one
        return id(m) not in seen_before and _is(status, connected=True)(m) and \
            _wall(m) > restarted_at and m.json()["packets_total"] < 200

    try:
        fresh = control_room.wait_for(from_new_process, 20)[0].json()
        assert fresh["state"] == "disarmed" and fresh["armed"] is False, fresh
        reply = control_room.command(f"commune/testsite/{gw}", "camera/gate/arm")
        assert reply["ok"] and reply["armed"] is True
        control_room.wait_for(lambda m: id(m) not in seen_before and
                              _is(status, state="online")(m), 10)
    finally:
        assert agent.stop() == 0
