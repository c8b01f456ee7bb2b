"""grader.nospawn: after `install()`, no thread of the process can start a process; threads,
torch and files keep working. Each test installs the filter in a fresh Python of its own."""
from __future__ import annotations

import subprocess
import sys

import pytest

from grader import nospawn
from tools import notebooks

pytestmark = pytest.mark.skipif(not nospawn.supported(), reason="no seccomp filter for this machine")

PROBE = r'''
import ctypes, os, subprocess, sys, threading
import multiprocessing, torch
from grader import nospawn

ready, go, seen = threading.Event(), threading.Event(), []
def early():  # a thread started before the filter: it gets the filter too
    ready.set(); go.wait()
    try:
        os.posix_spawn("/bin/true", ["true"], {})
        seen.append("early thread spawned")
    except OSError:
        seen.append("early thread refused")
t = threading.Thread(target=early); t.start(); ready.wait()
nospawn.install()
go.set(); t.join()
def reaped(pid):
    if pid == 0:  # a forked or cloned child: leave at once
        os._exit(0)
    if pid < 0:
        return False
    os.waitpid(pid, 0)
    return True

def spawned():
    p = multiprocessing.get_context("spawn").Process(target=int)
    p.start(); p.join()
    return True

tries = {
    "fork": lambda: reaped(os.fork()),
    "subprocess": lambda: subprocess.run(["/bin/true"]).returncode == 0,
    "posix_spawn": lambda: reaped(os.posix_spawn("/bin/true", ["true"], {})),
    "spawn": spawned,
    "raw clone": lambda:  # clone(SIGCHLD): a fork
        reaped(ctypes.CDLL(None, use_errno=True).syscall(nospawn._arch()["clone"], 17, 0, 0, 0, 0)),
}
for name, attempt in tries.items():
    try:
        seen.append(f"{name} started a process" if attempt() else f"{name} refused")
    except OSError:
        seen.append(f"{name} refused")
out = []
worker = threading.Thread(target=lambda: out.append(float((torch.ones(64, 64) @ torch.ones(64, 64)).sum())))
worker.start(); worker.join()
seen.append(f"thread computed {out}")
print("\n".join(seen))
'''


def _probe(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=notebooks.ROOT, timeout=120)


def test_no_thread_can_start_a_process_after_install():
    done = _probe(PROBE)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == ["early thread refused", "fork refused", "subprocess refused",
                     "posix_spawn refused", "spawn refused", "raw clone refused",
                     "thread computed [262144.0]"], done.stdout


def test_without_the_filter_the_same_probe_starts_processes():
    """The probe can tell: with `install` a no-op, every attempt starts a process."""
    done = _probe(PROBE.replace("nospawn.install()", "pass"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "early thread spawned", "fork started a process", "subprocess started a process",
        "posix_spawn started a process", "spawn started a process", "raw clone started a process",
        "thread computed [262144.0]"], done.stdout + done.stderr


def test_the_program_refuses_every_other_abi():
    for arch in nospawn.ARCHES.values():
        ins = nospawn.program(arch)
        assert ins[0] == (nospawn.LD_ABS_W, 0, 0, nospawn.ARCH)
        assert ins[1][3] == arch["audit"] and ins[2][0] == nospawn.RET_K
        assert ins[2][3] == nospawn.RET_ERRNO | 1  # EPERM for a foreign ABI


@pytest.mark.parametrize("policy, ends", [("required", True), ("try", False)])
def test_a_machine_that_refuses_the_filter_ends_a_sandboxed_run(monkeypatch, capsys, policy, ends):
    from grader import driver

    def refused():
        raise OSError(1, "seccomp(SECCOMP_SET_MODE_FILTER): Operation not permitted")

    def leave(status):
        raise SystemExit(status)

    monkeypatch.setattr(nospawn, "install", refused)
    monkeypatch.setattr(driver.os, "_exit", leave)
    monkeypatch.setenv("GRADER_NOSPAWN", policy)
    if ends:
        with pytest.raises(SystemExit) as stop:
            driver._no_new_processes()
        assert stop.value.code == 4
        assert capsys.readouterr().err == (
            "cannot forbid new processes: [Errno 1] seccomp(SECCOMP_SET_MODE_FILTER): "
            "Operation not permitted\n")
    else:
        driver._no_new_processes()  # a learner's own machine grades on without it


def test_sandboxed_levels_require_the_filter(monkeypatch):
    from grader import runner

    seen = {}

    class Stop(Exception):
        pass

    def popen(cmd, env, **kwargs):
        seen[env["GRADER_NOSPAWN"]] = True
        raise Stop

    monkeypatch.setattr(runner.subprocess, "Popen", popen)
    for level in ("none", "uid"):
        with pytest.raises(Stop):
            runner.Sandbox("learner", 1, level=level)
    assert seen == {"try": True, "required": True}
