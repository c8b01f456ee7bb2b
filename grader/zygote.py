"""A warm fork server for sandboxed grading runs: torch is imported once, each run is a fork.

    python -m grader.zygote        (inside bwrap, started by grader.runner; never by hand)

Starting a grading run's Python and importing torch costs about 1.8 CPU-seconds, most of a
grade's cost. At isolation level `bwrap` with a root grader, grader.runner therefore starts this
server once per grader process, inside one bubblewrap sandbox of the same read-only view as a
plain run's, and keeps only the capabilities it needs to build the next walls: CAP_SYS_ADMIN
(namespaces, mounts), CAP_SETUID and CAP_SETGID. It imports torch and builds the IPython shell
(grader.driver.prepare), imports torch._dynamo (which a run's first optimizer would import, about
2 CPU-seconds in every run of exercises 5 and 6), runs no cell, and then, for each run the grader asks for, forks:

- the first child joins the run's memory cgroup, enters new mount, pid, network, ipc and uts
  namespaces, mounts a fresh size-capped /tmp (hiding the server's own /tmp, the spool of every
  run's result stream and the cgroup directory), binds the run's result stream alone into it at
  the path a plain run has (and, read-only, the grader's packages when the book lives under
  /tmp), and forks the run's process;
- that process is pid 1 of its own pid namespace (it sees no other process, and when it ends
  everything it started ends), mounts its own /proc, starts a new session, drops to the run's
  unprivileged uid with no capability, no new privileges and the run's resource limits, dies
  with its parent, and then serves the run as grader.driver does: the work arrives on stdin.

So two runs share nothing but the read-only system (not a uid, a process, a file, a socket or
the loopback device), as two plain bwrap runs do; what differs is that they start as copies of
one process that has imported torch and run no learner code. The server acts only on messages
from the grader (length-limited JSON on a socket only the grader holds): `start` with the run's
stdin and log as file descriptors, and `kill`. It answers `ready` once, then `exit` with each
run's exit code. It ends, with every run, when the grader closes the socket or dies.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import signal
import socket
import sys
from typing import Any

# <sched.h>, <sys/mount.h>, <sys/prctl.h>
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
MESSAGE_LIMIT = 1 << 16
SPOOL = "/tmp/spool"  # where the server sees every run's directory (bound by grader.runner)
CGROUPS = "/tmp/cgroups"  # where it sees the grader's memory cgroup (bound when there is one)
GRADING = "/tmp/grading"  # the run's directory, as a plain bwrap run has it
STREAM = "records.jsonl"

_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args: Any) -> None:
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def _mount(source: str | None, target: str, kind: str | None, flags: int,
           data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _call("mount", enc(source), enc(target), enc(kind), ctypes.c_ulong(flags), enc(data))


def limit(limits: dict, nproc: bool = True) -> None:
    """Set a run's resource limits on this process (`limits`: grader.runner.Limits' memory,
    total_cpu, fsize, nofile and nproc; `nproc` False where RLIMIT_NPROC would count the
    processes of a user's own uid rather than a sandbox uid's)."""
    pairs = [(resource.RLIMIT_AS, limits["memory"]), (resource.RLIMIT_CPU, limits["total_cpu"]),
             (resource.RLIMIT_FSIZE, limits["fsize"]), (resource.RLIMIT_NOFILE, limits["nofile"]),
             (resource.RLIMIT_CORE, 0)]
    if nproc:
        pairs.append((resource.RLIMIT_NPROC, limits["nproc"]))
    for kind, value in pairs:
        resource.setrlimit(kind, (value, value))


def _walls(order: dict) -> None:
    """In the first child, still root: the run's cgroup, namespaces and filesystem."""
    group = order.get("cgroup")
    if group:  # a memory cap for all of the run's processes (they are forked from this one)
        try:
            with open(os.path.join(CGROUPS, os.path.basename(group), "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            pass  # as for a plain run: the per-process limits still hold
    _call("unshare", CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the server
    stream = os.open(os.path.join(SPOOL, order["stream"]),
                     os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    kept = [(str(path), os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
            for path in order.get("keep", ())]  # the packages a book under /tmp has
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={int(order['tmp_size'])},mode=1777")  # hides the spool and the cgroups
    for path, fd in kept:  # bound again, read-only, as a plain run has them
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.close(fd)
    os.mkdir(GRADING)
    os.chmod(GRADING, 0o1777)
    os.close(os.open(os.path.join(GRADING, STREAM), os.O_CREAT | os.O_WRONLY, 0o600))
    _mount(f"/proc/self/fd/{stream}", os.path.join(GRADING, STREAM), None, MS_BIND)
    os.close(stream)


def _become(order: dict) -> None:
    """In the run's process (pid 1 of its namespace): its /proc, session, uid and limits."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.setsid()
    uid = int(order["uid"])
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from here on no capability is left
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # (the uid change cleared it)
    _call("prctl", PR_SET_DUMPABLE, 1, 0, 0, 0)  # its /proc/self is its own, as after an exec
    os.umask(0o077)
    limit(order["limits"])
    os.chdir(GRADING)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in order["env"].items()})


def _child(order: dict, fds: list[int], shell: Any) -> None:
    """The first child: never returns."""
    code = 5
    try:
        stdin, log = fds
        os.dup2(stdin, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's socket, other runs' pipes
        _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the server
        _walls(order)
        signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                _become(order)
                from grader import driver
                driver.serve(shell)
            except BaseException as err:  # noqa: BLE001  recorded as a run that did not start
                print(f"the run could not start: {type(err).__name__}: {err}", file=sys.stderr,
                      flush=True)
            os._exit(5)
        os.close(0)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])  # `kill` (SIGTERM) kills the
        # run's pid 1, and with it its namespace, whatever the run did to its parent-death signal
    except BaseException as err:  # noqa: BLE001
        print(f"the run's sandbox could not be made: {type(err).__name__}: {err}",
              file=sys.stderr, flush=True)
    os._exit(code & 0xFF if code >= 0 else 128 - code)


def _send(control: socket.socket, message: dict) -> None:
    control.send(json.dumps(message).encode())


def serve(control: socket.socket) -> None:
    from grader import driver
    shell = driver.prepare()
    import torch._dynamo  # noqa: F401  (a run's first optimizer imports it, about 2 CPU-seconds:
    # here once, not in every run forked from here)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    runs: dict[int, int] = {}  # pid -> run id
    _send(control, {"op": "ready"})
    while True:
        ready = select.select([control, wake_r], [], [])[0]
        if wake_r in ready:
            while True:
                try:
                    if not os.read(wake_r, 512):
                        break
                except BlockingIOError:
                    break
        while runs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in runs:
                _send(control, {"op": "exit", "id": runs.pop(pid),
                                "code": os.waitstatus_to_exitcode(status)})
        if control not in ready:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(control, MESSAGE_LIMIT, 2)
        except OSError:
            data, fds = b"", []
        if not data:
            break  # the grader is gone: so is every run (they die with this process)
        try:
            order = json.loads(data)
            if order["op"] == "start" and len(fds) == 2:
                try:
                    pid = os.fork()
                except OSError:  # the run ends before it starts, rather than never
                    _send(control, {"op": "exit", "id": int(order["id"]), "code": -1})
                    raise
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    _child(order, fds, shell)
                runs[pid] = int(order["id"])
            elif order["op"] == "kill":
                for pid, number in runs.items():
                    if number == order["id"]:
                        os.kill(pid, signal.SIGTERM)
        except (ValueError, KeyError, TypeError, OSError) as err:
            print(f"zygote: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        finally:
            for fd in fds:
                os.close(fd)
    for pid in runs:
        os.kill(pid, signal.SIGKILL)


def main() -> None:
    control = socket.socket(fileno=int(os.environ.pop("GRADER_ZYGOTE_FD")))
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    serve(control)
    os._exit(0)


if __name__ == "__main__":
    main()
