"""``python -m tests.infra.no_clock_syscalls CMD...``: run CMD with adjtimex(2) and
clock_adjtime(2) failing with EPERM (a seccomp filter, as systemd's SystemCallFilter= sets up).

Clock detection asks the timesyncd flag file, then the kernel's NTP state. On a machine whose
kernel reports a synced clock, the "not known to be synced" path can only be shown by taking
the kernel's answer away: this is what a gateway whose unit filtered those calls would see.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06
# audit arch, adjtimex, clock_adjtime (asm/unistd.h of each)
ARCHES = {"x86_64": (0xC000003E, 159, 305), "aarch64": (0xC00000B7, 171, 266)}


def _filter() -> bytes:
    arch, adjtimex, clock_adjtime = ARCHES[platform.machine()]
    insns = [
        (BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (BPF_JEQ_K, 0, 3, arch),  # another ABI: allow (jump to ALLOW)
        (BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        (BPF_JEQ_K, 2, 0, adjtimex),
        (BPF_JEQ_K, 1, 0, clock_adjtime),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
    ]
    return b"".join(struct.pack("HBBI", *insn) for insn in insns)


def deny_clock_syscalls() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    program = _filter()
    buf = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


if __name__ == "__main__":
    deny_clock_syscalls()
    os.execvp(sys.argv[1], sys.argv[1:])
