"""GPIO relay driver, tested at its libgpiod seam with a FAKE line request.

There is no kernel GPIO on this machine (no /dev/gpiochip*, no gpio-sim module), so the
``request_lines`` function is replaced by a fake that records what the driver asks
libgpiod for. The real ``gpiod`` enums and LineSettings are still used.
"""

from __future__ import annotations

from typing import Any

import pytest
from gpiod.line import Value

from drivers.relays.base import RelayError
from drivers.relays.gpio import GpioRelay, GpioRelayConfig


class FakeRequest:
    def __init__(self, offset: int, active_low: bool, initial: bool) -> None:
        self.offset, self.active_low = offset, active_low
        self.values = {offset: Value.ACTIVE if initial else Value.INACTIVE}
        self.released = False

    def set_value(self, line: int, value: Value) -> None:
        if self.released:
            raise ValueError("request released")
        self.values[line] = value

    def get_value(self, line: int) -> Value:
        return self.values[line]

    def release(self) -> None:
        self.released = True

    def physical_high(self) -> bool:
        """What the pin would do: libgpiod inverts for active-low lines."""
        return (self.values[self.offset] == Value.ACTIVE) != self.active_low


class FakeChip:
    def __init__(self, fail: bool = False) -> None:
        self.requests: list[FakeRequest] = []
        self.fail = fail

    def __call__(self, chip: str, offset: int, active_low: bool, initial: bool,
                 consumer: str) -> Any:
        if self.fail:
            raise OSError(f"[Errno 13] Permission denied: '{chip}'")
        request = FakeRequest(offset, active_low, initial)
        self.requests.append(request)
        return request


@pytest.mark.parametrize("active_low", [False, True])
async def test_set_read_close(active_low: bool) -> None:
    chip = FakeChip()
    relay = GpioRelay(GpioRelayConfig(driver="gpio", channel=17, active_low=active_low),
                      request_lines=chip)
    assert await relay.read(17) is None  # not claimed yet: cannot tell
    await relay.set(17, True)
    assert len(chip.requests) == 1  # requested once, at the wanted level (no glitch)
    req = chip.requests[0]
    assert req.active_low is active_low
    assert req.physical_high() is (not active_low)
    assert await relay.read(17) is True
    await relay.set(17, False)
    assert req.physical_high() is active_low
    assert await relay.read(17) is False
    await relay.close()
    assert req.released and req.values[17] == Value.INACTIVE  # release does not switch


async def test_permission_error_is_readable() -> None:
    relay = GpioRelay(GpioRelayConfig(driver="gpio", channel=4), request_lines=FakeChip(True))
    with pytest.raises(RelayError, match=r"GPIO /dev/gpiochip0 line 4: .*Permission denied"):
        await relay.set(4, True)


async def test_real_gpiod_without_chip_is_readable() -> None:
    """The real libgpiod call on a chip path that does not exist here."""
    relay = GpioRelay(GpioRelayConfig(driver="gpio", chip="/dev/gpiochip-missing", channel=4))
    with pytest.raises(RelayError, match="gpiochip-missing"):
        await relay.set(4, True)
