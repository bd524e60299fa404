"""Runs a command with socket() limited to the address families of a systemd
unit's RestrictAddressFamilies= line, the way systemd applies it: a seccomp
filter under which socket(2) of any other family fails with EAFNOSUPPORT
(socketpair and inherited sockets are untouched, as in systemd). Used where
systemd cannot run the daemon itself (no systemd as PID 1: systemd-run has no
manager to talk to).

usage: restrict_families.py UNIT [--drop FAMILY]... -- COMMAND [ARG]...
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
import struct
import sys
from typing import List

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
AUDIT_ARCH_X86_64 = 0xC000003E
NR_SOCKET_X86_64 = 41
# classic BPF opcodes
LD_W_ABS = 0x20   # BPF_LD | BPF_W | BPF_ABS
JEQ_K = 0x15      # BPF_JMP | BPF_JEQ | BPF_K
RET_K = 0x06      # BPF_RET | BPF_K


def unit_families(unit: str) -> List[str]:
    """The families of the unit's last RestrictAddressFamilies= line (an allow list)."""
    fams: List[str] = []
    with open(unit) as f:
        for line in f:
            if line.startswith("RestrictAddressFamilies="):
                fams = line.split("=", 1)[1].split()
    if not fams or fams[0].startswith("~"):
        raise SystemExit(f"{unit}: no RestrictAddressFamilies= allow list")
    return fams


def socket_filter(families: List[int]) -> bytes:
    """socket(family, …) with a family outside `families` -> EAFNOSUPPORT."""
    prog = []

    def op(code: int, jt: int, jf: int, k: int) -> None:
        prog.append(struct.pack("HBBI", code, jt, jf, k))

    n = len(families)
    op(LD_W_ABS, 0, 0, 4)                               # seccomp_data.arch
    op(JEQ_K, 1, 0, AUDIT_ARCH_X86_64)
    op(RET_K, 0, 0, SECCOMP_RET_ALLOW)                  # (the unit kills other arches anyway)
    op(LD_W_ABS, 0, 0, 0)                               # seccomp_data.nr
    op(JEQ_K, 1, 0, NR_SOCKET_X86_64)
    op(RET_K, 0, 0, SECCOMP_RET_ALLOW)
    op(LD_W_ABS, 0, 0, 16)                              # args[0], low 32 bits: the family
    for i, fam in enumerate(families):
        op(JEQ_K, n - i, 0, fam)                        # -> the final ALLOW
    op(RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EAFNOSUPPORT)
    op(RET_K, 0, 0, SECCOMP_RET_ALLOW)
    return b"".join(prog)


def install(families: List[int]) -> None:
    if platform.machine() != "x86_64":
        raise SystemExit("restrict_families.py: x86_64 only")
    code = socket_filter(families)
    buf = ctypes.create_string_buffer(code, len(code))

    class fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = fprog(len(code) // 8, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def main(argv: List[str]) -> None:
    if "--" not in argv or len(argv) < 4:
        raise SystemExit(__doc__)
    sep = argv.index("--")
    opts, cmd = argv[1:sep], argv[sep + 1:]
    unit, drop = opts[0], set()
    for i, o in enumerate(opts[1:]):
        if o == "--drop":
            drop.add(opts[i + 2])
    names = [f for f in unit_families(unit) if f not in drop]
    install([int(getattr(socket, n)) for n in names])
    # The filter is in force: a family outside the list is refused here too.
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
        raise SystemExit("restrict_families.py: the filter did not refuse AF_PACKET")
    except OSError as e:
        if e.errno != errno.EAFNOSUPPORT:
            raise
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv)
