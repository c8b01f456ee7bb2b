"""Warm kernels: the test suite's Jupyter kernels, forked from a process that has imported torch.

A fresh kernel of this environment spends about 3.5 CPU-seconds before it runs a cell, 2.7 of
them importing torch, and `make test` starts one for every notebook nbval checks and every
notebook a test executes. With warm kernels on (the suite's plugin turns them on in each pytest
process), the first kernel a process asks for starts a server: a child process that imports
torch (with torch._dynamo, which a notebook's first optimizer imports: about 2 more
CPU-seconds), IPython and ipykernel, then waits on a Unix socket in a private folder. A kernel's command
is then this module's launcher,

    python -m tools.warmkernel -m ipykernel_launcher -f CONNECTION_FILE [kernel options]

which hands the server its standard streams, environment, working directory and arguments. The
server forks a child that takes them and becomes an ordinary ipykernel (`IPKernelApp`), which the
client reaches through the connection file as usual. Every name a notebook defines starts empty,
as in a fresh kernel; what the kernel shares with the server is the modules already imported (a
notebook's `import torch` finds it loaded) and the server's hash seed.

The launcher stays as the kernel's stand-in for the client that started it: it relays interrupts
and termination signals to the kernel and exits with the kernel's status. When the launcher
dies (a kernel manager's kill), the kernel sees its connection to the launcher close and exits at
once. When the server's parent dies, so does the server, and its kernels follow within a second
(ipykernel's own parent poller).

`BOOK_WARM_KERNELS=off` in the environment starts every kernel cold, as `python -m
ipykernel_launcher` (to compare the two, or to rule warm kernels out). Without a server to reach,
the launcher does the same.
"""
from __future__ import annotations

import atexit
import ctypes
import functools
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

SOCKET_VAR = "BOOK_WARM_KERNEL"  # in a kernel's environment: the server's socket
SWITCH_VAR = "BOOK_WARM_KERNELS"  # "off": every kernel starts cold
WARM_MODULES = ("torch", "torch._dynamo", "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel",
                "ipykernel.zmqshell")
RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
           signal.SIGUSR2)
MESSAGE_LIMIT = 1 << 20  # one message (the socket keeps message bounds, as grader.zygote's)
PR_SET_PDEATHSIG = 1

_enabled = False
_process: subprocess.Popen | None = None  # this process's server, once started


def server_pid() -> int | None:
    """The pid of this process's server, or None before its first warm kernel."""
    return _process.pid if _process is not None else None


def switched_off() -> bool:
    """True while BOOK_WARM_KERNELS=off is in this process's environment."""
    return os.environ.get(SWITCH_VAR, "").lower() == "off"


def enable() -> None:
    """Start this process's kernels warm from now on (while not switched off)."""
    global _enabled
    _enabled = True


def adapt(spec) -> None:
    """Turn the kernel spec of this environment's ipykernel into the warm launcher's, when on."""
    if not _enabled or switched_off() or spec.argv[1:3] != ["-m", "ipykernel_launcher"]:
        return
    spec.argv = [spec.argv[0], "-m", __name__, *spec.argv[1:]]
    spec.env = {**spec.env, SOCKET_VAR: _server()}


# --- the pytest process's side: one server per process ---------------------------------------

@functools.cache
def _server() -> str:
    """Start this process's server (once); return the path of its socket."""
    folder = tempfile.mkdtemp(prefix="warm-")
    path = os.path.join(folder, "s")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)  # launchers wait in the backlog while the server imports
    global _process
    server = _process = subprocess.Popen(
        [sys.executable, "-m", __name__, "--serve", str(listener.fileno())],
        pass_fds=(listener.fileno(),), stdin=subprocess.DEVNULL)
    listener.close()

    def stop():
        server.kill()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    return path


def _send(conn: socket.socket, message: dict, fds: tuple[int, ...] = ()) -> None:
    socket.send_fds(conn, [json.dumps(message).encode()], list(fds))


def _receive(conn: socket.socket, nfds: int = 0) -> tuple[dict | None, list[int]]:
    """One message (None at end of stream) and the descriptors that came with it."""
    data, fds, flags, _ = socket.recv_fds(conn, MESSAGE_LIMIT, nfds)
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        raise ValueError("warm kernel: a message longer than the limit")
    return (json.loads(data) if data else None), fds


# --- the launcher: the kernel process the client sees ----------------------------------------

def _cold(argv: list[str]) -> None:
    os.environ.pop(SOCKET_VAR, None)
    os.execv(sys.executable, [sys.executable, *argv])


def launch(argv: list[str]) -> None:
    """Run `python ARGV` (an ipykernel) forked from the server, or cold without one."""
    path = os.environ.get(SOCKET_VAR)
    if not path:
        _cold(argv)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(path)
    except OSError:
        _cold(argv)
    env = {k: v for k, v in os.environ.items() if k != SOCKET_VAR}
    _send(conn, {"argv": argv, "env": env, "cwd": os.getcwd()}, (0, 1, 2))
    started, _ = _receive(conn)
    if started is None:
        sys.exit("warm kernel: the server closed the connection before starting the kernel")
    pid = started["pid"]

    def relay(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in RELAYED:
        signal.signal(signum, relay)
    ended, _ = _receive(conn)
    status = ended["status"] if ended else 1
    sys.exit(status if status >= 0 else 128 - status)


# --- the server ------------------------------------------------------------------------------

def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getppid()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request
        os._exit(1)


def serve(listen_fd: int) -> None:
    """Import the warm modules, then fork a kernel for every launcher that connects."""
    _die_with_parent()
    if sys.path and sys.path[0] == os.getcwd():
        del sys.path[0]  # `-m` put the server's directory first; a kernel starts without it
    listener = socket.socket(fileno=listen_fd)
    for name in WARM_MODULES:
        __import__(name)
    waker_r, waker_w = os.pipe()
    os.set_blocking(waker_w, False)
    signal.set_wakeup_fd(waker_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    kernels: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(waker_r, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                try:
                    request, fds = _receive(conn, 3)
                except (OSError, ValueError):
                    conn.close()
                    continue
                if request is None or len(fds) != 3:
                    for fd in fds:
                        os.close(fd)
                    conn.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    os.close(waker_r)
                    os.close(waker_w)
                    listener.close()
                    for other in kernels.values():
                        other.close()
                    _become_kernel(conn, request, fds)  # never returns
                for fd in fds:
                    os.close(fd)
                kernels[pid] = conn
                try:
                    _send(conn, {"pid": pid})
                except OSError:
                    pass
            else:
                os.read(waker_r, 4096)
                _reap(kernels)


def _reap(kernels: dict[int, socket.socket]) -> None:
    while kernels:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = kernels.pop(pid, None)
        if conn is not None:
            try:
                _send(conn, {"status": os.waitstatus_to_exitcode(status)})
            except OSError:
                pass
            conn.close()


def _become_kernel(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: take the launcher's streams, environment and directory; run
    ipykernel."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, *RELAYED):
            signal.signal(signum, signal.SIG_DFL)
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import threading

        def watch():  # the launcher is gone (killed): so is its kernel
            try:
                while conn.recv(4096):
                    pass
            finally:
                os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
        argv = request["argv"]
        if argv[:2] != ["-m", "ipykernel_launcher"]:
            raise ValueError(f"warm kernel: not an ipykernel command: {argv[:2]}")
        # the two settings IPKernelApp reads from the environment when it is imported: the
        # parent it polls, and the interrupt handle
        handles = [f"--IPKernelApp.parent_handle={int(os.environ.get('JPY_PARENT_PID') or 0)}",
                   f"--IPKernelApp.interrupt={int(os.environ.get('JPY_INTERRUPT_EVENT') or 0)}"]
        sys.argv = ["ipykernel_launcher", *handles, *argv[2:]]  # the shell puts the cwd on sys.path
        from ipykernel import kernelapp
        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
    else:
        launch(sys.argv[1:])
