"""No new processes: a seccomp filter the grading driver installs on itself before any cell runs.

A task's torch functions are gated inside the grading process (grader.forbid), but a *new*
process has its own, ungated torch: a learner's answer that starts one (multiprocessing's
`spawn`, `_posixsubprocess`, `os.posix_spawn`, a raw `clone` through ctypes) could hand it the
check's inputs and return torch's results. Python cannot stop that reliably (there are many ways
to start a process, and learner code shares the interpreter), so the kernel does: after
`install()`, every thread of the process gets `EPERM` from `fork`, `vfork`, `execve`,
`execveat` and from `clone` without `CLONE_THREAD`; `clone3` (whose flags a filter cannot
read) gets `ENOSYS`, so the C library creates threads with `clone` instead. Threads keep
working (torch's, the learner's); syscalls of another ABI (x32, i386) are refused outright.
Threads the process starts later inherit the filter, and nothing removes it.

Linux on x86-64 and AArch64 only; `supported()` says whether this machine can install it.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

# <linux/audit.h>, <asm/unistd.h>: per architecture, the filter's arch tag, the seccomp syscall
# and the process-creating syscalls (AArch64 has no fork, vfork or x32 ABI)
ARCHES = {
    "x86_64": {"audit": 0xC000003E, "seccomp": 317, "clone": 56, "clone3": 435,
               "refused": (57, 58, 59, 322)},  # fork, vfork, execve, execveat
    "aarch64": {"audit": 0xC00000B7, "seccomp": 277, "clone": 220, "clone3": 435,
                "refused": (221, 281)},  # execve, execveat
}
X32_BIT = 0x40000000  # x86-64's x32 ABI sets this bit in the syscall number
CLONE_THREAD = 0x00010000
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
# BPF opcodes (<linux/filter.h>): load a word, jump on ==, >=, &, return
LD_ABS_W = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06
# offsets in struct seccomp_data: nr, arch, instruction pointer, args[6]
NR, ARCH, ARG0 = 0, 4, 16


def _arch() -> dict | None:
    return ARCHES.get(platform.machine()) if os.uname().sysname == "Linux" else None


def supported() -> bool:
    """True on the machines this filter is written for (Linux on x86-64 or AArch64)."""
    return _arch() is not None


def program(arch: dict) -> list[tuple[int, int, int, int]]:
    """The filter as BPF instructions: (code, jump if true, jump if false, k); a jump counts
    instructions from the one after it."""
    deny, nosys = RET_ERRNO | errno.EPERM, RET_ERRNO | errno.ENOSYS
    checks = [(JGE_K, "deny", X32_BIT), (JEQ_K, "clone", arch["clone"]),
              (JEQ_K, "nosys", arch["clone3"])] + [(JEQ_K, "deny", nr) for nr in arch["refused"]]
    after = len(checks)  # the checks are followed by: allow, deny, nosys, clone's flag test
    where = {"deny": after + 1, "nosys": after + 2, "clone": after + 3}
    return ([(LD_ABS_W, 0, 0, ARCH), (JEQ_K, 1, 0, arch["audit"]), (RET_K, 0, 0, deny),
             (LD_ABS_W, 0, 0, NR)]
            + [(code, where[to] - i - 1, 0, k) for i, (code, to, k) in enumerate(checks)]
            + [(RET_K, 0, 0, RET_ALLOW), (RET_K, 0, 0, deny), (RET_K, 0, 0, nosys),
               (LD_ABS_W, 0, 0, ARG0), (JSET_K, 0, 1, CLONE_THREAD),
               (RET_K, 0, 0, RET_ALLOW), (RET_K, 0, 0, deny)])


def install() -> None:
    """Forbid new processes for every thread of this process, now and for good. Raises OSError
    where the kernel refuses the filter, RuntimeError on an unsupported machine."""
    arch = _arch()
    if arch is None:
        raise RuntimeError(f"no seccomp filter for {os.uname().sysname} on {platform.machine()}")
    code = b"".join(struct.pack("=HBBI", *ins) for ins in program(arch))
    buffer = ctypes.create_string_buffer(code, len(code))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Program(len(code) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")
    done = libc.syscall(ctypes.c_long(arch["seccomp"]), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                        ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(prog))
    if done != 0:
        err = ctypes.get_errno() if done < 0 else errno.EBUSY  # > 0: a thread that could not sync
        raise OSError(err, f"seccomp(SECCOMP_SET_MODE_FILTER): {os.strerror(err)}")
