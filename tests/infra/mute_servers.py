"""Servers that misbehave the way broken cameras do, on loopback, for the error tests.

- ``SilentPort``: accepts TCP connections and never says a word (a hung RTSP service, or a
  port that is not RTSP).
- ``MuteRtsp``: a real RTSP conversation (OPTIONS, DESCRIBE with an H.264 SDP, SETUP over
  TCP interleaved, PLAY) answered correctly, then no video at all (a camera whose encoder is
  stuck, or a channel without a picture); with ``stall_at="SETUP"`` it answers DESCRIBE and
  then falls silent.
"""

from __future__ import annotations

import re
import socket
import threading

SDP = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=mute\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
       "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
       "a=fmtp:96 packetization-mode=1\r\na=control:track1\r\n")


class _Server:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> _Server:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self.sock.accept()[0]
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        """Say nothing."""

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._conns:
            conn.close()
        self.sock.close()


class SilentPort(_Server):
    pass


class MuteRtsp(_Server):
    def __init__(self, stall_at: str | None = None) -> None:
        super().__init__()
        self.stall_at = stall_at

    def handle(self, conn: socket.socket) -> None:
        buf = b""
        try:
            while not self._stop.is_set():
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    request = head.decode(errors="replace")
                    if self.stall_at and request.startswith(self.stall_at):
                        return  # silence from here on (the connection stays open)
                    conn.sendall(self._answer(request))
        except OSError:
            return

    def _answer(self, request: str) -> bytes:
        method = request.split(" ", 1)[0]
        cseq = re.search(r"CSeq:\s*(\d+)", request, re.I)
        lines = ["RTSP/1.0 200 OK", f"CSeq: {cseq.group(1) if cseq else 0}"]
        body = ""
        if method == "OPTIONS":
            lines.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")
        elif method == "DESCRIBE":
            body = SDP
            lines += ["Content-Type: application/sdp", f"Content-Base: rtsp://127.0.0.1:"
                      f"{self.port}/cam/"]
        elif method == "SETUP":
            lines += ["Transport: RTP/AVP/TCP;unicast;interleaved=0-1", "Session: 4711"]
        elif method == "PLAY":
            lines.append("Session: 4711")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
