"""LCUS relay board: frame codec (sans-IO) and the driver against a simulated board on a
real pty (the driver uses pyserial on the pty's slave path, exactly as on /dev/ttyUSB0)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.relays import lcus_frame
from drivers.relays.base import RelayError
from drivers.relays.lcus import LcusRelay, LcusRelayConfig
from tests.infra.loop_probe import loop_ticks
from tests.infra.relay_boards import LcusBoard


def test_frame_examples() -> None:
    assert lcus_frame.encode(1, True) == bytes.fromhex("A00101A2")
    assert lcus_frame.encode(1, False) == bytes.fromhex("A00100A1")
    assert lcus_frame.encode(8, True) == bytes.fromhex("A00801A9")
    with pytest.raises(lcus_frame.FrameError, match="checksum"):
        lcus_frame.decode(bytes.fromhex("A00101A3"))
    with pytest.raises(lcus_frame.FrameError, match="channel"):
        lcus_frame.encode(9, True)
    assert lcus_frame.parse_status(b"CH1: ON\r\nCH2:OFF\r\nch3 : on\r\n") == \
        {1: True, 2: False, 3: True}


@given(ch=st.integers(1, 8), state=st.booleans(), junk=st.binary(max_size=6))
def test_stream_decoder_resyncs_after_garbage(ch: int, state: bool, junk: bytes) -> None:
    junk = bytes(b for b in junk if b not in (0xA0, 0xFF))
    decoder = lcus_frame.StreamDecoder()
    frame = lcus_frame.encode(ch, state)
    out = decoder.feed(junk + frame[:2]) + decoder.feed(frame[2:])
    assert out == [lcus_frame.SwitchFrame(ch, state)]


@pytest.fixture
def board() -> Iterator[LcusBoard]:
    b = LcusBoard(channels=4)
    yield b
    b.close()


async def test_switch_and_read_back(board: LcusBoard) -> None:
    relay = LcusRelay(LcusRelayConfig(driver="lcus", port=board.port, channel=2, readback=True,
                                      timeout_s=1.0))
    await relay.set(2, True)
    assert board.states[2] is True and board.states[1] is False
    assert await relay.read(2) is True
    await relay.set(2, False)
    assert await relay.read(2) is False
    assert [(f.channel, f.state) for f in board.frames] == [(2, True), (2, False)]
    await relay.close()
    assert board.states[2] is False  # closing sends nothing


async def test_board_not_answering_is_a_clear_error(board: LcusBoard) -> None:
    board.answers_status = False
    relay = LcusRelay(LcusRelayConfig(driver="lcus", port=board.port, channel=1, readback=True,
                                      timeout_s=0.3))
    with pytest.raises(RelayError, match="did not answer the status query"):
        await relay.set(1, True)
    board.answers_status = True  # powered again: the next try works
    await relay.set(1, True)
    assert await relay.read(1) is True


async def test_unplugged_port_is_a_clear_error_and_retried(tmp_path: os.PathLike[str],
                                                           board: LcusBoard) -> None:
    link = f"{tmp_path}/ttyUSB0"
    relay = LcusRelay(LcusRelayConfig(driver="lcus", port=link, channel=1))
    with pytest.raises(RelayError, match=r"cannot open relay board .*ttyUSB0: No such file"):
        await relay.set(1, True)
    os.symlink(board.port, link)  # plugged in
    await relay.set(1, True)
    # No read-back on this board: wait for the simulated MCU to have taken the frame.
    for _ in range(1000):  # poll, up to ~20 s
        if board.states[1]:
            break
        await asyncio.sleep(0.02)
    assert board.states[1] is True
    await relay.close()


async def test_close_during_a_hung_set_does_not_block_the_loop(board: LcusBoard) -> None:
    """The caller gave up on a set whose thread still waits for a silent board: close() has
    to wait for that thread (the port is in use), but off the event loop."""
    board.answers_status = False
    relay = LcusRelay(LcusRelayConfig(driver="lcus", port=board.port, channel=1, readback=True,
                                      timeout_s=0.8))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(relay.set(1, True), 0.1)  # its thread keeps the lock ~0.8 s
    async with loop_ticks() as ticks:
        await relay.close()
    # A close blocking the loop on the lock would let the ticker run at most once.
    assert ticks.count >= 5
