"""A network namespace joined to the host by a veth pair, for real-network probe tests.

The pair gets a random /30 from 198.18.0.0/15 (RFC 2544: reserved for network testing, never
routed), so traffic only ever goes into the namespace the test made. Names are unique per
test run; everything is removed on exit, even when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import time
import uuid
from pathlib import Path

PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")


def netns_unavailable_reason() -> str | None:
    """Why netns tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root: network namespaces, veth pairs and iptables (run the suite as root)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (apt-get install iproute2 iptables)"
    return None


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


class Netns:
    """``with Netns() as ns:`` → ``ns.peer_ip`` answers inside namespace ``ns.name``."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.name = f"hs-{tag}"
        self.host_if = f"vh{tag}"  # interface names are limited to 15 characters
        self.peer_if = f"vn{tag}"
        base = (198 << 24) | (18 << 16) | (random.randrange(0, 2**17 // 4) * 4)
        self.subnet = f"{_ip(base)}/30"
        self.host_ip = _ip(base + 1)
        self.peer_ip = _ip(base + 2)

    def __enter__(self) -> Netns:
        try:
            # safety net: if the veth's own route ever goes away, packets for this /30 must
            # fail here instead of following the default route out of the machine
            run("ip", "route", "add", "unreachable", self.subnet, "metric", "4000")
            run("ip", "netns", "add", self.name)
            run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name",
                self.peer_if, "netns", self.name)
            run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            run("ip", "link", "set", self.host_if, "up")
            self.exec("ip", "addr", "add", f"{self.peer_ip}/30", "dev", self.peer_if)
            self.exec("ip", "link", "set", self.peer_if, "up")
            self.exec("ip", "link", "set", "lo", "up")
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def exec(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.name, *args, check=check)

    def exec_cmd(self, *args: str) -> list[str]:
        """The argv that runs ``args`` inside the namespace (for Popen)."""
        return ["ip", "netns", "exec", self.name, *args]

    def drop_incoming(self, probability: float) -> None:
        """Drop this share of packets arriving in the namespace, at random (no netem here)."""
        self.exec("iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random",
                  "--probability", f"{probability}", "-j", "DROP")

    def clear_rules(self) -> None:
        self.exec("iptables", "-F", "INPUT")

    def link(self, up: bool) -> None:
        """Take the namespace's end down (or up): the station goes silent, the host end
        loses carrier, and packets sent to it are lost on the wire as in a real outage."""
        self.exec("ip", "link", "set", self.peer_if, "up" if up else "down")
        if up:
            # forget the neighbour entry that failed during the outage, so the first packets
            # after the link is back are not lost to ARP's back-off
            self.wait_carrier()
            run("ip", "neigh", "flush", "dev", self.host_if)

    def wait_carrier(self, timeout: float = 30.0) -> None:
        carrier = Path(f"/sys/class/net/{self.host_if}/carrier")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if carrier.read_text().strip() == "1":
                    return
            time.sleep(0.02)
        raise TimeoutError(f"{self.host_if} has no carrier after {timeout} s")

    def cleanup(self) -> None:
        # deleting the host end removes the pair at once; netns deletion alone is lazy
        run("ip", "link", "del", self.host_if, check=False)
        run("ip", "netns", "del", self.name, check=False)
        run("ip", "route", "del", "unreachable", self.subnet, "metric", "4000", check=False)


def _ip(value: int) -> str:
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


class PingGroupRange:
    """Set the host's ``net.ipv4.ping_group_range`` (unprivileged ICMP) and restore it."""

    def __init__(self, value: str = "0 2147483647") -> None:
        self.value = value
        self.saved: str | None = None

    def __enter__(self) -> PingGroupRange:
        self.saved = PING_GROUP_RANGE.read_text().strip()
        PING_GROUP_RANGE.write_text(self.value)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            PING_GROUP_RANGE.write_text(self.saved.replace("\t", " "))
