"""Shared rig of the camera benchmarks: CPU windows, bare PyAV decoders, the agent process,
a paho subscriber timing motion starts, the RTSP server and broker (see camera.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.infra.agent_proc import AgentProcess, base_config, write_config  # noqa: E402
from tests.infra.broker import Broker  # noqa: E402
from tests.infra.rtsp_server import RtspServer  # noqa: E402

# Seconds of clip time measured per arm (short: the machine is shared; one crossing, 12-16 s,
# is inside it, so the share of moving frames is ~14 %, like the whole 60 s clip's 13 %).
WINDOW = (2.0, 26.0)
FPS_DEFAULT = 15

# Same decoder settings as the agent's camera (decode_threads 1, FFmpeg's default thread type),
# so (a) is the cost of decoding this stream the way the agent would, nothing else. argv: URL,
# skip_frame, then JSON of codec options, thread count and thread type (decoder option arms);
# skip_frame "DEMUX" reads the packets without decoding (the record stream's floor).
DECODE_ONLY = """
import json, sys, av
c = av.open(sys.argv[1], options={"rtsp_transport": "tcp", "analyzeduration": "500000"})
ctx = c.streams.video[0].codec_context
extra = json.loads(sys.argv[3])
ctx.thread_count = extra.get("threads", 1)
if "thread_type" in extra:
    ctx.thread_type = extra["thread_type"]
if extra.get("options"):
    ctx.options = extra["options"]
if sys.argv[2] == "DEMUX":
    for packet in c.demux(video=0):
        pass
ctx.skip_frame = sys.argv[2]
for frame in c.decode(video=0):
    pass
"""


def decode_only(server: RtspServer, skip_frame: str = "DEFAULT", mount: str = "/cam",
                extra: dict[str, Any] | None = None) -> float:
    """CPU s / min of video of a bare PyAV client decoding the stream (``NONKEY``: key frames;
    ``DEMUX``: no decoding at all); ``extra``: decoder options, threads, thread_type."""
    before = len(server.mount_clients[mount])
    dec = subprocess.Popen([sys.executable, "-c", DECODE_ONLY, server.url_for(mount),
                            skip_frame, json.dumps(extra or {})])
    try:
        return window_cpu(dec.pid, server, before, mount)
    finally:
        dec.kill()
        dec.wait()


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    total = t.user + t.system
    for child in proc.children(recursive=True):
        ct = child.cpu_times()
        total += ct.user + ct.system
    return float(total)


def window_cpu(pid: int, server: RtspServer, clients_before: int, mount: str = "/cam") -> float:
    """CPU seconds per minute of video over WINDOW of the newest client's stream."""
    proc = psutil.Process(pid)
    clients = server.mount_clients[mount]
    deadline = time.time() + 20
    while len(clients) <= clients_before and time.time() < deadline:
        time.sleep(0.02)
    t0 = clients[clients_before]
    time.sleep(max(0.0, t0 + WINDOW[0] - time.time()))
    c0 = cpu_s(proc)
    time.sleep(max(0.0, t0 + WINDOW[1] - time.time()))
    c1 = cpu_s(proc)
    return (c1 - c0) / (WINDOW[1] - WINDOW[0]) * 60


class Subscriber:
    """Records the arrival time of every motion start at the control room."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as paho

        self.starts: list[tuple[float, str]] = []
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("commune/+/+/camera/+/motion", qos=1)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        now = time.time()
        body = json.loads(msg.payload)
        if body.get("event") == "start":
            self.starts.append((now, msg.topic.split("/")[-2]))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def latencies(starts: list[tuple[float, str]], client_t0: dict[str, float],
              onsets: list[float], period: float) -> list[float]:
    out = []
    for arrival, cam in starts:
        clip_t = (arrival - client_t0[cam]) % period
        best = min((clip_t - o for o in onsets if clip_t - o >= -0.05), default=None)
        if best is not None and best < 3.0:
            out.append(best)
    return out


def camera_entries(server: RtspServer, decode: str | None, cams: int,
                   two_streams: bool, extra: dict[str, Any] | None = None
                   ) -> list[dict[str, Any]]:
    out = []
    for i in range(cams):
        cam: dict[str, Any] = {"id": f"c{i}", "status_interval_s": 30, **(extra or {})}
        if two_streams:
            cam["streams"] = {"detect": server.url_for("/sub"), "record": server.url}
        else:
            cam["url"] = server.url
        if decode:
            cam["decode"] = decode
        out.append(cam)
    return out


def run_agent(tmp: Path, broker: Broker, server: RtspServer, decode: str | None, cams: int,
              *, two_streams: bool = False, memory: list[dict[str, float]] | None = None,
              seconds: float = 40.0, extra: dict[str, Any] | None = None
              ) -> tuple[float, dict[str, float]]:
    """Run the agent on ``cams`` cameras: CPU s/min over WINDOW (or, with ``memory``, RSS/USS/
    PSS samples every 2 s for ``seconds``); also each camera's client start time (of the
    stream detection runs on) for the latency figures."""
    tag = "-".join(str(v) for v in (extra or {}).values())
    gw = f"bench-{decode}-{cams}-{'two' if two_streams else 'one'}{tag and '-' + tag}"
    cfg = base_config(tmp, broker.url, gateway=gw,
                      cameras=camera_entries(server, decode, cams, two_streams, extra))
    agent = AgentProcess(write_config(tmp / f"{gw}.yaml", cfg), tmp / f"{gw}.log").start()
    assert agent.proc is not None
    mount = "/sub" if two_streams else "/cam"
    clients = server.mount_clients[mount]
    before = len(clients)
    try:
        if memory is None:
            cpu = window_cpu(agent.proc.pid, server, before, mount)
        else:
            proc = psutil.Process(agent.proc.pid)
            end = time.time() + seconds
            while time.time() < end:
                info = proc.memory_full_info()
                memory.append({"rss": info.rss / 1048576, "uss": info.uss / 1048576,
                               "pss": info.pss / 1048576})
                time.sleep(2)
            cpu = 0.0
        t0 = {f"c{i}": clients[before + i] for i in range(cams) if len(clients) > before + i}
    finally:
        agent.stop()
    return cpu, t0


@contextmanager
def bench_rig(clip: Path, sub: Path | None = None
              ) -> Iterator[tuple[Path, Broker, RtspServer, Subscriber]]:
    """A temp dir, a private broker, the RTSP server on ``clip`` (and ``sub`` at ``/sub``)
    and an event subscriber."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        broker = Broker(tmp / "mq").start()
        server = RtspServer(clip, extra={"/sub": sub} if sub else None).start()
        subscriber = Subscriber(broker.port)
        try:
            yield tmp, broker, server, subscriber
        finally:
            subscriber.close()
            server.stop()
            broker.stop()
