"""The LCUS USB relay-board frame, sans-IO.

Switch command: 4 bytes ``A0 <channel> <state> <checksum>`` with channel 1..8, state 0/1 and
checksum = (0xA0 + channel + state) & 0xFF. Boards with a status read answer the query byte
``FF`` with text lines such as ``CH1: ON`` / ``CH2:OFF``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = 0xA0
STATUS_QUERY = b"\xff"
MAX_CHANNEL = 8
_STATUS_LINE = re.compile(rb"CH\s*(\d+)\s*:\s*(ON|OFF)", re.IGNORECASE)


class FrameError(ValueError):
    """Bytes that are not a valid LCUS frame."""


@dataclass(frozen=True, slots=True)
class SwitchFrame:
    channel: int
    state: bool


def checksum(channel: int, state: int) -> int:
    return (HEADER + channel + state) & 0xFF


def encode(channel: int, state: bool) -> bytes:
    if not 1 <= channel <= MAX_CHANNEL:
        raise FrameError(f"LCUS channel must be 1..{MAX_CHANNEL}, got {channel}")
    value = 1 if state else 0
    return bytes((HEADER, channel, value, checksum(channel, value)))


def decode(frame: bytes) -> SwitchFrame:
    if len(frame) != 4:
        raise FrameError(f"LCUS frame is 4 bytes, got {len(frame)}")
    header, channel, value, total = frame
    if header != HEADER:
        raise FrameError(f"LCUS frame starts with A0, got {header:02X}")
    if total != checksum(channel, value):
        raise FrameError(f"bad LCUS checksum {total:02X}, expected "
                         f"{checksum(channel, value):02X}")
    if not 1 <= channel <= MAX_CHANNEL or value not in (0, 1):
        raise FrameError(f"LCUS frame out of range: channel {channel}, state {value}")
    return SwitchFrame(channel, bool(value))


def encode_status(states: dict[int, bool]) -> bytes:
    return b"".join(f"CH{ch}: {'ON' if on else 'OFF'}\r\n".encode()
                    for ch, on in sorted(states.items()))


def parse_status(text: bytes) -> dict[int, bool]:
    """Channel states from a status answer (missing channels are simply absent)."""
    return {int(m.group(1)): m.group(2).upper() == b"ON" for m in _STATUS_LINE.finditer(text)}


class StreamDecoder:
    """Splits a byte stream into switch frames and status queries (for simulated boards).

    Garbage is skipped byte by byte until a valid frame lines up again, as a real board does.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.rejected = 0

    def feed(self, data: bytes) -> list[SwitchFrame | None]:
        """Returns decoded frames; ``None`` stands for a status query."""
        self._buf.extend(data)
        out: list[SwitchFrame | None] = []
        while self._buf:
            if self._buf[0] == STATUS_QUERY[0]:
                del self._buf[0]
                out.append(None)
                continue
            if self._buf[0] != HEADER:
                del self._buf[0]
                self.rejected += 1
                continue
            if len(self._buf) < 4:
                break
            try:
                out.append(decode(bytes(self._buf[:4])))
                del self._buf[:4]
            except FrameError:
                del self._buf[0]
                self.rejected += 1
        return out
