"""A real RTSP server (Debian GStreamer) serving H.264 clips in a loop, for tests.

Run as a script by Debian's ``/usr/bin/python3`` (python3-gi lives there, not in the venv):
the clip's access units are demuxed once (``qtdemux ! h264parse ! appsink``) and pushed into
``appsrc`` with rising timestamps, looping; every client starts at frame 0 so the ground truth
lines up. Several mounts can serve several clips (a camera's main and sub-stream: two clips
rendered from the same frames at two sizes). It prints ``PORT n`` once listening and
``CLIENT <wall time> <mount>`` when a client's first frame is pushed. ``RtspServer`` below
drives it from the tests (start, kill, SIGSTOP = hung).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

# A camera with a microphone sends G.711 A-law beside the picture (Hikvision's default).
AUDIO = "audiotestsrc is-live=true wave=pink-noise ! alawenc ! rtppcmapay name=pay1 pt=8"


def _launch(codec: str, audio: bool) -> str:
    """``codec``: h264 or h265; the clip's access units are pushed into ``src``."""
    return (f"( appsrc name=src is-live=true format=time caps=video/x-{codec},"
            f"stream-format=byte-stream,alignment=au ! {codec}parse ! "
            f"rtp{codec}pay name=pay0 pt=96 config-interval=-1 {AUDIO if audio else ''} )")


Unit = tuple[bytes, bool, int]  # access unit, key frame, ns from decoding it to showing it


def _access_units(Gst: Any, clip: str, codec: str) -> tuple[list[Unit], int]:
    demux = Gst.parse_launch(
        f'filesrc location="{clip}" ! qtdemux ! {codec}parse ! '
        f"video/x-{codec},stream-format=byte-stream,alignment=au ! appsink name=sink sync=false")
    sink = demux.get_by_name("sink")
    demux.set_state(Gst.State.PLAYING)
    units: list[Unit] = []
    frame_ns = 0
    while True:
        sample = sink.emit("try-pull-sample", 5 * Gst.SECOND)
        if sample is None:
            break
        buf = sample.get_buffer()
        if not frame_ns and buf.duration != Gst.CLOCK_TIME_NONE:
            frame_ns = buf.duration
        # B-frames: shown later than decoded (0 without them)
        shown_after = buf.pts - buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else 0
        units.append((buf.extract_dup(0, buf.get_size()),
                      not buf.has_flags(Gst.BufferFlags.DELTA_UNIT), shown_after))
    demux.set_state(Gst.State.NULL)
    return units, frame_ns or Gst.SECOND // 10


def _serve(mounts: dict[str, str], port: int, audio: bool) -> None:  # /usr/bin/python3
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    for mount, spec in mounts.items():
        codec, clip = spec.split(":", 1)
        units, frame_ns = _access_units(Gst, clip, codec)

        def need_data(src: object, _length: int, state: dict[str, Any]) -> None:
            i, units, frame_ns = state["i"], state["units"], state["frame_ns"]
            if i == 0:
                print(f"CLIENT {time.time():.4f} {state['mount']}", flush=True)
            data, key, shown_after = units[i % len(units)]
            out = Gst.Buffer.new_wrapped(data)
            out.dts = i * frame_ns
            out.pts = out.dts + shown_after
            out.duration = frame_ns
            if not key:
                out.set_flags(Gst.BufferFlags.DELTA_UNIT)
            state["i"] = i + 1
            src.emit("push-buffer", out)  # type: ignore[attr-defined]

        def configure(_factory: object, media: object, units: list[Unit] = units,
                      frame_ns: int = frame_ns, mount: str = mount) -> None:
            src = media.get_element().get_child_by_name("src")  # type: ignore[attr-defined]
            src.connect("need-data", need_data, {"i": 0, "units": units,
                                                 "frame_ns": frame_ns, "mount": mount})

        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(_launch(codec, audio))
        factory.set_shared(False)
        factory.connect("media-configure", configure)
        server.get_mount_points().add_factory(mount, factory)
    server.attach(None)
    print(f"PORT {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


class RtspServer:
    """Start/stop/hang the GStreamer RTSP server subprocess serving ``clip`` at ``/cam`` and
    ``extra`` clips at their own mounts (e.g. a camera's sub-stream: ``{"/sub": clip}``);
    H.264 or H.265 clips, with a G.711 audio track beside each picture when ``audio``."""

    def __init__(self, clip: Path, port: int = 0, extra: dict[str, Path] | None = None,
                 audio: bool = False) -> None:
        self.clip = clip
        self.port = port
        self.audio = audio
        self.mounts = {"/cam": clip, **(extra or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.client_times: list[float] = []  # first frame pushed to a client of /cam
        self.mount_clients: dict[str, list[float]] = {m: [] for m in self.mounts}

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def url_for(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}{mount}"

    def start(self) -> RtspServer:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
        mounts = [f"{m}={_codec(c)}:{c}" for m, c in self.mounts.items()]
        self.proc = subprocess.Popen(["/usr/bin/python3", __file__, str(self.port),
                                      "audio" if self.audio else "-", *mounts],
                                     stdout=subprocess.PIPE, text=True,
                                     stderr=subprocess.DEVNULL, env=env)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
                threading.Thread(target=self._lines, daemon=True).start()
                return self
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("RTSP server did not start")

    def _lines(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("CLIENT "):
                _, at, mount = line.split()
                self.mount_clients.setdefault(mount, []).append(float(at))
                if mount == "/cam":
                    self.client_times.append(float(at))

    def hang(self) -> None:
        """SIGSTOP: sockets stay open, no data flows (a hung camera)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None


def _codec(clip: Path) -> str:
    import av  # the venv's (this module also runs under Debian's python3, without PyAV)

    with av.open(str(clip)) as container:
        name = container.streams.video[0].codec_context.name
    return {"h264": "h264", "hevc": "h265"}[name]


if __name__ == "__main__":
    _serve(dict(arg.split("=", 1) for arg in sys.argv[3:]), int(sys.argv[1]),
           sys.argv[2] == "audio")
