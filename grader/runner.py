"""Run one grading notebook's cells (grader.driver) in a fresh process, inside an OS sandbox.

Isolation levels, best first (`isolation()` picks the best this machine allows):

- `bwrap`: bubblewrap. Its own mount, pid, network, ipc and uts namespaces; a read-only view of
  the system, the Python installation and the grader's packages, and nothing else of the places
  where a book, its answer key or a user's files live (/root, /home and the top directory that
  holds the book are empty); a private /tmp; one writable directory (the run's), deleted afterwards; run as an
  unprivileged uid (when the grader is root) without capabilities; it dies with the grader and
  nothing started inside survives it (pid namespace).
  As root, runs are forked from a warm server (grader.zygote, one per grader process, in one
  such sandbox with only the capabilities to build the next walls): each run gets new mount,
  pid, network, ipc and uts namespaces, a fresh /tmp holding only its own result stream, its
  memory cgroup and its own uid without capabilities, so runs share no more than two plain
  bwrap runs do, and a run costs a fork instead of a Python start and torch's import.
  GRADER_SERVER=off starts every run's own bwrap instead.
- `uid`: the grader is root but bwrap is unusable (some containers), and an unprivileged uid can
  run this Python (not so when it lives under /root): the run gets an unprivileged uid of its own (one per concurrent run) and the same resource limits; every process of that
  uid is killed afterwards. The learner's code can read what any user can read, and write where
  any user can write (e.g. /tmp), but not the grader's files, its output or other runs.
- `none`: a learner's own machine: the same limits, no boundary. Fine for self-checking; an
  instructor's grade can require a sandbox (`--require-sandbox`).

Whatever the level: resource limits (address space, CPU seconds per cell and in total, file
size, open files, processes), no new processes once the driver has started (grader.nospawn:
required at `bwrap` and `uid`, installed where possible at `none`), a clean environment, a
wall-clock backstop for the whole run, and one result stream (a JSON-lines file the run writes)
that the grader reads as bounded, validated data: it acts on nothing in it (no pid to kill, no
path to open). A run that hit the wall-clock backstop while the machine was busy is retried once
before it is recorded as `timeout` (on an idle machine the run itself is slow, e.g. it sleeps,
and a retry would only hold its slot longer).
"""
from __future__ import annotations

import atexit
import dataclasses
import fcntl
import functools
import importlib.util
import itertools
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import forbid, records, zygote
from grader.assemble import Plan, guard_source

RECORDS_LIMIT = 16 << 20  # bytes of result stream read from one run
LOG_LIMIT = 64 << 10
LEVELS = ("bwrap", "uid", "none")
INSIDE = zygote.GRADING  # the run's directory as the bwrap sandbox sees it
UIDS = range(61000, 61064)  # unprivileged uids for sandboxed runs (no account needed)
MASKED = ("/root", "/home", "/run", "/mnt", "/media", "/srv", "/opt", "/var/tmp")
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/var", "/sys", "/proc",
          "/dev", "/boot", "/nix")
CLEAN_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
RUN_FILES = ("records.jsonl",)  # the only file a bwrap sandbox shares with the grader


@dataclass(frozen=True)
class Limits:
    """What one grading run may use. CPU limits measure the learner's work; the wall-clock
    limits are generous backstops that a busy machine should never reach."""

    timeout: float = 900.0  # wall-clock seconds for the whole run (backstop)
    cell_timeout: float = 600.0  # wall-clock seconds per cell (backstop)
    cell_cpu: float = 60.0  # CPU-seconds per cell in the kernel
    total_cpu: int = 900  # CPU-seconds per process
    memory: int = 2 << 30  # bytes of address space per process
    output: int = 100_000  # characters of output kept per cell
    fsize: int = 256 << 20  # largest file a run may write
    tmp_size: int = 512 << 20  # bytes of the sandbox's private /tmp
    nofile: int = 512  # open files per process
    nproc: int = 256  # processes and threads of the sandbox's uid
    total_memory: int = 4 << 30  # bytes of memory for all of a run's processes (memory cgroup)


@dataclass
class CellResult:
    outcome: str  # passed, failed, skipped
    message: str = ""


@dataclass
class Run:
    """What came back from one grading notebook."""

    status: str  # ok, timeout, crashed
    cells: dict[int, CellResult] = field(default_factory=dict)  # code cell number -> result
    records: list[dict] = field(default_factory=list)
    bad_records: int = 0
    seconds: float = 0.0
    detail: str = ""
    isolation: str = "none"
    attempts: int = 1
    wall_timeout: bool = False


class SandboxUnavailable(RuntimeError):
    """--require-sandbox was given and this machine offers no isolation."""


# -- choosing the isolation level --------------------------------------------------------------

def cache_dir() -> Path | None:
    """Where the grader keeps torch's side of checks between runs ($GRADER_CACHE; `off` keeps
    none): a directory only the grader's user may enter, and masked in every sandbox."""
    asked = os.environ.get("GRADER_CACHE")
    if asked == "off":
        return None
    if asked:
        return Path(asked).absolute()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).absolute() / "nn-module-grader"


def package_roots() -> list[str]:
    """Directories whose code counts as pristine (the grader's packages and Python's)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).resolve().parent)}
    for name in ("purenn", "tools"):
        roots.add(str(package_dir(name)))
    return sorted(roots)


@functools.lru_cache(maxsize=None)
def package_dir(name: str) -> Path:
    """The directory of top-level package `name`, found without importing it (purenn imports
    torch, seconds the grader itself does not need)."""
    module = sys.modules.get(name)
    origin = module.__file__ if module is not None else importlib.util.find_spec(name).origin
    return Path(origin).resolve().parent


def _visible() -> list[str]:
    """What a sandbox must see of this machine besides the system: Python, the venv, packages."""
    paths = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)}
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    paths.update(package_roots())
    return sorted(p for p in paths if os.path.isdir(p))


@functools.lru_cache(maxsize=None)
def _bwrap_works() -> bool:
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    try:
        done = subprocess.run(_bwrap_prefix(exe, None, None, Limits()) + ["/bin/true"],
                              capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.lru_cache(maxsize=None)
def uid_works() -> bool:
    """True when the grader is root and an unprivileged uid can run this Python and its packages
    (not the case when Python lives in a directory only root may enter, e.g. under /root)."""
    if os.geteuid() != 0:
        return False
    try:
        done = subprocess.run([sys.executable, "-c", "import grader, IPython, torch"],
                              capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                              user=UIDS[0], group=UIDS[0], extra_groups=[], cwd="/")
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def isolation() -> str:
    """The best isolation level available here (GRADER_ISOLATION=uid|none asks for less)."""
    asked = os.environ.get("GRADER_ISOLATION", "")
    order = LEVELS[LEVELS.index(asked):] if asked in LEVELS else LEVELS
    for level in order:
        if level == "bwrap" and _bwrap_works():
            return level
        if level == "uid" and uid_works():
            return level
        if level == "none":
            return level
    return "none"


def require_sandbox() -> str:
    """The isolation level, or SandboxUnavailable when it is `none`."""
    level = isolation()
    if level == "none":
        raise SandboxUnavailable("no sandbox available (bubblewrap does not work here and the "
                                 "grader is not root); refusing to grade with --require-sandbox")
    return level


class _UidPool:
    """One unprivileged uid per concurrent run, across every grader process on this machine (so
    two graders never share a uid, and one run's clean-up cannot kill another's processes): a uid
    is taken by holding an exclusive lock on its own file, in a directory only root may write;
    the lock goes with the process that holds it, however that process ends."""

    def __init__(self) -> None:
        self.held: dict[int, int] = {}  # uid -> fd of its locked file
        self.lock = threading.Lock()

    def take(self) -> int:
        folder = _lock_folder()
        with self.lock:
            for uid in UIDS:
                if uid in self.held:
                    continue
                fd = os.open(folder / f"{uid}.lock",
                             os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                self.held[uid] = fd
                return uid
            raise RuntimeError("more concurrent grading runs than sandbox uids")

    def give(self, uid: int) -> None:
        with self.lock:
            fd = self.held.pop(uid, None)
        if fd is not None:
            os.close(fd)


def _lock_folder() -> Path:
    """A directory for the uid locks that only root can write (a sandboxed run at level `uid`
    may write /tmp, so a directory someone else made there is not used)."""
    for folder in (Path("/run/grader-uids"), Path(tempfile.gettempdir()) / "grader-uids"):
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022:
            return folder
    raise RuntimeError("no private directory for the sandbox uids' locks")


_uids = _UidPool()


# -- the command line --------------------------------------------------------------------------

def _bwrap_prefix(exe: str, out: Path | None, uid: int | None, limits: Limits,
                 extra: tuple[str, ...] = ()) -> list[str]:
    cmd = [exe, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
           "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        cmd.append("--unshare-user")  # unprivileged: a user namespace with the caller's uid
    cmd += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    keep = _visible()
    masked = {m for m in MASKED if os.path.isdir(m)}
    for path in keep:  # the top directory holding the book is masked too
        top = "/" + Path(path).parts[1] if len(Path(path).parts) > 1 else "/"
        if top not in (*SYSTEM, "/", "/tmp") and os.path.isdir(top):  # /tmp: already private
            masked.add(top)
    for path in sorted(masked):
        cmd += ["--perms", "0755", "--size", str(limits.tmp_size), "--tmpfs", path]
    cmd += ["--perms", "1777", "--size", str(limits.tmp_size), "--tmpfs", "/tmp"]
    made: set[str] = set()
    for path in keep:
        top = next((m for m in (*masked, "/tmp") if path == m or path.startswith(m + "/")), None)
        if top is None:
            continue
        for parent in reversed(Path(path).parents):  # traversable by the sandbox's uid
            if str(parent).startswith(top + "/") and str(parent) not in made:
                made.add(str(parent))
                cmd += ["--perms", "0755", "--dir", str(parent)]
        cmd += ["--ro-bind", path, path]
    cache = cache_dir()  # torch's side of the checks is never visible inside
    if cache is not None and cache.is_dir():
        real = os.path.realpath(cache)
        def under(roots): return any(real == r or real.startswith(r + "/") for r in roots)
        if not under(["/tmp"]) and (not under(masked) or under(keep)):
            cmd += ["--perms", "0700", "--size", "4096", "--tmpfs", real, "--remount-ro", real]
    for path in sorted(masked):
        cmd += ["--remount-ro", path]
    if out is not None:  # the run's directory: a tmpfs of its own size, so what the run writes
        cmd += ["--perms", "1777", "--size", str(limits.tmp_size), "--tmpfs", INSIDE]  # never
        for name in RUN_FILES:  # reaches the host's disk; only the result stream is shared
            cmd += ["--bind", str(out / name), f"{INSIDE}/{name}"]
        cmd += ["--chdir", INSIDE]
    cmd += [*extra, "--"]
    if uid is not None:
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        cmd += [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return cmd


_groups = itertools.count()


def _cgroup_base() -> tuple[Path, tuple[str, str]] | None:
    """This process's memory cgroup directory, and the files of its memory and swap limits."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            return Path("/sys/fs/cgroup") / path.lstrip("/"), ("memory.max", "memory.swap.max")
        if "memory" in controllers.split(","):
            return (Path("/sys/fs/cgroup/memory") / path.lstrip("/"),
                    ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"))
    return None


def memory_cgroup(limit: int) -> Path | None:
    """A new memory cgroup below this process's own, capped at `limit` bytes for all of its
    processes together, or None where this machine does not let the grader make one (then
    memory is limited per process only: RLIMIT_AS times the number of processes)."""
    found = _cgroup_base()
    if found is None:
        return None
    base, files = found
    group = base / f"grader-{os.getpid()}-{next(_groups)}"
    try:
        group.mkdir()
        (group / files[0]).write_text(str(limit))
    except OSError:
        remove_cgroup(group)
        return None
    try:  # no swapping around the limit, where swap is accounted
        (group / files[1]).write_text(str(limit if "memsw" in files[1] else 0))
    except OSError:
        pass
    return group


def remove_cgroup(group: Path | None) -> None:
    """Remove a run's cgroup once its processes are gone; never raises."""
    if group is None:
        return
    for _ in range(50):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def _join(group: Path, pid: int) -> None:
    """Move process `pid` (and the processes it starts later) into cgroup `group`."""
    try:
        (group / "cgroup.procs").write_text(str(pid))
    except OSError:
        pass


def _set_limits(limits: Limits, group: Path | None = None) -> None:
    """In the child, before exec: the limits every process of the run inherits."""
    if group is not None and os.geteuid() == 0:  # (at level uid: by the parent, see _join)
        _join(group, os.getpid())
    os.umask(0o077)
    zygote.limit(_per_process(limits), nproc=os.geteuid() == 0)  # as a user, NPROC would
    # count all of that user's processes


def _per_process(limits: Limits) -> dict:
    return {"memory": limits.memory, "total_cpu": limits.total_cpu, "fsize": limits.fsize,
            "nofile": limits.nofile, "nproc": limits.nproc}


# -- one run -----------------------------------------------------------------------------------

def run(plan: Plan, role: str, seed: int, limits: Limits, level: str | None = None,
        started: Sandbox | None = None) -> Run:
    """Grade-run `plan` as `role` ("learner" or "reference") with hidden-check seed `seed`, in
    `started` (a sandbox started ahead for this role and seed) or a new sandbox; a run stopped by
    the wall-clock backstop while the machine is busy is tried once more, in a fresh sandbox."""
    level = started.level if started is not None else level or isolation()
    result = _run_once(plan, role, seed, limits, level, started)
    if result.wall_timeout and busy():  # on an idle machine it was the run itself (it slept)
        again = _run_once(plan, role, seed, limits, level)
        again.attempts = 2
        return again
    return result


def run_learner(plan: Plan, seed: int, limits: Limits, level: str | None = None,
                started: Sandbox | None = None) -> Run:
    """Grade-run a learner's `plan`: one run per group of tasks (`task_groups`), each with the
    checks of its own tasks only (the others' check cells left empty, though every task's
    functions stay refused outside its checks: grader.forbid.seal), merged into one Run."""
    groups = task_groups(plan)
    if len(groups) == 1:
        return run(plan, "learner", seed, limits, level, started)
    runs = []
    for number, group in enumerate(groups):
        only = dataclasses.replace(plan, cells=[
            cell if cell.kind != "check" or cell.task in group
            else dataclasses.replace(cell, kind="skipped", source="") for cell in plan.cells])
        runs.append(run(only, "learner", seed, limits, level, started if number == 0 else None))
    return _merge(plan, groups, runs)


def task_groups(plan: Plan) -> list[list[str]]:
    """The tasks whose checks run in one learner kernel. During a check, torch's functions that
    plain Python calls for any answer (attribute access, assignment, deletion, `register_buffer`:
    grader.forbid.IMPLICIT) work but for the check's own task, so in one kernel the checks of
    other tasks could compute, ahead, torch's results for a task that rebuilds one of them. Such
    a task's checks therefore run in a kernel of their own, where no other task's check runs;
    the other tasks share one kernel, as their functions stay refused during every check."""
    alone = [t for t in plan.tasks if forbid.IMPLICIT.intersection(forbid.names(t))]
    rest = [t for t in plan.tasks if t not in alone]
    return [[t] for t in alone] + ([rest] if rest else []) or [[]]


def _merge(plan: Plan, groups: list[list[str]], runs: list[Run]) -> Run:
    """One Run of several, each kept for its own tasks: a check cell's outcome and records come
    from the run of its task; records of no check (hello, exit, refused statements, tampering
    outside a check) from every run, in order; the status is the first that is not ok."""
    owner = {task: number for number, group in enumerate(groups) for task in group}
    check_owner = {c.check: owner.get(c.task, 0) for c in plan.cells if c.kind == "check"}
    merged = Run("ok", isolation=runs[0].isolation)
    for index, cell in enumerate(plan.cells, start=1):
        found = runs[owner.get(cell.task, 0)].cells.get(index)
        if found is not None:
            merged.cells[index] = found
    for number, one in enumerate(runs):
        if 0 not in merged.cells and 0 in one.cells:  # the guard cell
            merged.cells[0] = one.cells[0]
        merged.records += [r for r in one.records if not isinstance(r.get("check"), int)
                           or check_owner.get(r["check"]) == number]
        merged.bad_records += one.bad_records
        merged.seconds += one.seconds
        merged.attempts = max(merged.attempts, one.attempts)
        merged.wall_timeout |= one.wall_timeout
        if merged.status == "ok" and one.status != "ok":
            merged.status, merged.detail = one.status, one.detail
    return merged


def busy() -> bool:
    """True when the machine has more runnable work than cores (load average over a minute), the
    case in which a run may hit the wall-clock backstop through no fault of its own."""
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1)
    except OSError:
        return True


def _run_once(plan: Plan, role: str, seed: int, limits: Limits, level: str,
              started: Sandbox | None = None) -> Run:
    box = started if started is not None else Sandbox(role, seed, limits, level)
    return box.result(plan)


def _environment(home: str, tmp: str) -> dict[str, str]:
    """A run's environment, but for what differs per run (seed, result stream, nospawn)."""
    env = {k: os.environ[k] for k in CLEAN_ENV if k in os.environ}
    env.update(HOME=home, TMPDIR=tmp, PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYDEVD_DISABLE_FILE_VALIDATION="1",
               MPLBACKEND="Agg", MPLCONFIGDIR=f"{home}/.matplotlib", JUPYTER_PLATFORM_DIRS="1",
               PYTHONPATH=os.pathsep.join(dict.fromkeys(  # the driver imports this grader
                   str(package_dir(n).parent) for n in ("grader", "purenn", "tools"))))
    return env


def _reachable_temp() -> str | None:
    """A temporary directory whose every ancestor other users may enter (a run at level `uid`
    works in a directory inside it): the usual one, else /var/tmp or /dev/shm (some machines
    keep /tmp to root alone); None for the usual one."""
    def reachable(path: str) -> bool:
        return all(os.stat(p).st_mode & 0o001 for p in [path, *map(str, Path(path).parents)])
    for folder in (tempfile.gettempdir(), "/var/tmp", "/dev/shm"):
        try:
            if os.path.isdir(folder) and reachable(folder):
                return None if folder == tempfile.gettempdir() else folder
        except OSError:
            continue
    return None


_runs = itertools.count(1)
SERVER_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID")  # to build each run's walls


class Forked:
    """A run forked by the warm server (grader.zygote): what a Sandbox needs of a Popen."""

    def __init__(self, server: Server, number: int, stdin: int) -> None:
        self.server, self.number = server, number
        self.stdin = os.fdopen(stdin, "wb")
        self.returncode: int | None = None
        self.ended = threading.Event()

    def wait(self, timeout: float | None = None) -> int | None:
        if not self.ended.wait(timeout):
            raise subprocess.TimeoutExpired("grader.zygote", timeout or 0)
        return self.returncode

    def kill(self) -> None:
        self.server.send({"op": "kill", "id": self.number})


class Server:
    """The warm fork server of this grader process (grader.zygote in a bwrap sandbox of the
    same view as a plain run's): started on the first bwrap run as root, then kept, so a run
    costs a fork instead of a Python start and torch's import. It runs in a thread of its own
    (bwrap's --die-with-parent follows the thread that started it), which then reads the
    server's messages: trusted, since no learner code ever runs in the server itself."""

    def __init__(self, limits: Limits) -> None:
        self.spool = Path(tempfile.mkdtemp(prefix="grader-spool-"))
        self.lock = threading.Lock()
        self.runs: dict[int, Forked] = {}
        self.alive = self.failed = False
        self.proc: subprocess.Popen | None = None
        self.started = threading.Event()
        self.socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        threading.Thread(target=self._serve, args=(limits, theirs), daemon=True,
                         name="grader-zygote").start()
        self.started.wait(180)
        theirs.close()
        if not self.alive:
            self.failed = True
            self.close()

    def _serve(self, limits: Limits, theirs: socket.socket) -> None:
        try:
            extra = [x for cap in SERVER_CAPS for x in ("--cap-add", cap)]
            extra += ["--bind", str(self.spool), zygote.SPOOL]
            base = _cgroup_base()
            if base is not None and base[0].is_dir():
                extra += ["--bind", str(base[0]), zygote.CGROUPS]
            cmd = _bwrap_prefix(shutil.which("bwrap") or "bwrap", None, None, limits, tuple(extra))
            env = _environment("/tmp", "/tmp")
            env["GRADER_ZYGOTE_FD"] = str(theirs.fileno())
            with open(self.spool / "server.log", "wb") as log:
                self.proc = subprocess.Popen(cmd + [sys.executable, "-m", "grader.zygote"],
                                             env=env, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True,
                                             pass_fds=[theirs.fileno()], cwd="/")
            self.socket.settimeout(180)
            said = json.loads(self.socket.recv(zygote.MESSAGE_LIMIT) or b"{}")
            self.alive = said.get("op") == "ready"
            self.socket.settimeout(None)
        except (OSError, ValueError):
            self.alive = False
        finally:
            self.started.set()
        while self.alive:
            try:
                data = self.socket.recv(zygote.MESSAGE_LIMIT)
                message = json.loads(data) if data else None
            except (OSError, ValueError):
                message = None
            if message is None:
                break
            if message.get("op") == "exit":
                with self.lock:
                    run = self.runs.pop(message.get("id"), None)
                if run is not None:
                    run.returncode = int(message.get("code", -9))
                    run.ended.set()
        self.close()

    def start(self, number: int, uid: int, env: dict, limits: Limits, group: Path | None,
              log, stream: Path) -> Forked:
        """Fork run `number`: its stdin (the work) is the returned Forked's, its output `log`,
        its result stream the file `stream` (in the spool)."""
        read, write = os.pipe()
        run = Forked(self, number, write)
        order = {"op": "start", "id": number, "uid": uid, "env": env, "tmp_size": limits.tmp_size,
                 "stream": str(stream.relative_to(self.spool)),
                 "limits": _per_process(limits), "cgroup": group.name if group else None,
                 "keep": [p for p in _visible() if p.startswith("/tmp/")]}
        with self.lock:
            self.runs[number] = run
            try:
                socket.send_fds(self.socket, [json.dumps(order).encode()], [read, log.fileno()])
            except OSError:
                self.runs.pop(number, None)
                run.returncode = -9
                run.ended.set()
            finally:
                os.close(read)
        return run

    def send(self, message: dict) -> None:
        try:
            with self.lock:
                self.socket.send(json.dumps(message).encode())
        except OSError:
            pass

    def close(self) -> None:
        """Stop the server (and every run it forked); pending runs end as killed."""
        self.alive = False
        try:
            self.socket.shutdown(socket.SHUT_RDWR)  # (wakes the reading thread's recv)
        except OSError:
            pass
        try:
            self.socket.close()
        except OSError:
            pass
        proc = self.proc
        if proc is not None:  # it ends on its own once its socket closes (so its CPU time is
            try:  # counted as this process's children's), else it is killed
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    pass
        with self.lock:
            runs, self.runs = list(self.runs.values()), {}
        for run in runs:
            run.returncode = -9
            run.ended.set()
        _remove(self.spool)


_servers: dict[int, Server] = {}
_servers_lock = threading.Lock()


def _server(limits: Limits) -> Server | None:
    """The warm server for runs with these limits' sandbox size, started on first use; None
    where it cannot start (the run then starts its own Python) or GRADER_SERVER=off."""
    if os.environ.get("GRADER_SERVER") == "off":
        return None
    with _servers_lock:
        server = _servers.get(limits.tmp_size)
        if server is not None and server.failed:
            return None  # it could not start here: no second try
        if server is None or not server.alive:  # (one that died is replaced)
            server = _servers[limits.tmp_size] = Server(limits)
        return server if server.alive else None


@atexit.register
def _close_servers() -> None:
    with _servers_lock:
        servers = list(_servers.values())
    for server in servers:
        server.close()


class Sandbox:
    """One grading run's sandbox, started before its work is known: the driver inside
    (grader.driver) imports torch and IPython while the grader reads the submission (or while
    the previous submission of a batch runs), then runs the cells it is sent. Used once:
    `result` sends the work, waits, collects and removes everything; `close` (also called by
    `result`) ends a sandbox that will get no work. Neither raises on clean-up."""

    def __init__(self, role: str, seed: int, limits: Limits = Limits(),
                 level: str | None = None) -> None:
        self.role, self.seed, self.limits = role, seed, limits
        self.level = level or isolation()
        self.uid = _uids.take() if os.geteuid() == 0 and self.level in ("bwrap", "uid") else None
        self.server = _server(limits) if self.level == "bwrap" and self.uid is not None else None
        if self.server is not None:  # a run's directory in the server's spool
            self.number = next(_runs)
            self.host = self.server.spool / str(self.number)
            self.host.mkdir(mode=0o700)
        else:
            self.host = Path(tempfile.mkdtemp(prefix=f"grader-{role}-", dir=(
                _reachable_temp() if self.level == "uid" and self.uid is not None else None)))
        self.out = self.host / "run"
        self.group: Path | None = None
        self.proc: subprocess.Popen | Forked | None = None
        self.closed = False
        try:
            self._spawn()
        except BaseException:
            self.close()
            raise

    @property
    def stream(self) -> Path:
        """The result stream's path as the sandbox sees it."""
        return (Path(INSIDE) if self.level == "bwrap" else self.out) / "records.jsonl"

    def _spawn(self) -> None:
        out, level, uid, limits = self.out, self.level, self.uid, self.limits
        out.mkdir()
        for name in ("tmp", "home"):
            (out / name).mkdir()
        (out / "records.jsonl").write_bytes(b"")
        if uid is not None:
            os.chmod(self.host, 0o711)
            for path in [out, *out.iterdir()]:
                os.chown(path, uid, uid)
        home = "/tmp" if level == "bwrap" else str(out / "home")
        env = _environment(home, "/tmp" if level == "bwrap" else str(out / "tmp"))
        env.update(GRADER_SEED=str(self.seed), GRADER_REPORT=str(self.stream),
                   GRADER_NOSPAWN="required" if level != "none" else "try")
        self.group = memory_cgroup(limits.total_memory) if level != "none" else None
        if self.server is not None:
            with open(self.host / "driver.log", "wb") as log:
                self.proc = self.server.start(self.number, uid, env, limits, self.group, log,
                                              out / "records.jsonl")
            return
        cmd = [sys.executable, "-m", "grader.driver"]
        user: dict = {}
        if level == "bwrap":
            cmd = _bwrap_prefix(shutil.which("bwrap") or "bwrap", out, uid, limits) + cmd
        elif level == "uid" and uid is not None:
            user = {"user": uid, "group": uid, "extra_groups": []}
        with open(self.host / "driver.log", "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=out, env=env, stdin=subprocess.PIPE, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=functools.partial(_set_limits, limits,
                                                                      self.group), **user)
        if self.group is not None and user:  # the child had dropped root before it could join;
            _join(self.group, self.proc.pid)  # it has only just started Python, and forked nothing

    def work(self, plan: Plan) -> bytes:
        """What the driver is sent: the grading notebook's cells, the guard first."""
        limits = self.limits
        config = {"role": self.role, "seed": self.seed, "records": str(self.stream),
                  "roots": package_roots(),
                  "limits": {"memory": limits.memory, "cpu": limits.total_cpu,
                             "cell_cpu": limits.cell_cpu, "fsize": limits.fsize,
                             "output": limits.output}}
        cells = [guard_source(plan, config)] + [c.source for c in plan.cells]
        learners = [n for n, c in enumerate(plan.cells, 1) if c.kind in ("answer", "helper")]
        return json.dumps({"cells": cells, "cell_timeout": limits.cell_timeout,
                           "one_by_one": learners}).encode()

    def result(self, plan: Plan) -> Run:
        """Run `plan` in this sandbox and collect what came back."""
        assert self.proc is not None and not self.closed, "a sandbox runs one plan, once"
        start = time.monotonic()
        timed_out = False
        try:
            try:
                self.proc.stdin.write(self.work(plan))
                self.proc.stdin.close()
            except OSError:  # it died while starting: collected below as crashed
                pass
            try:
                self.proc.wait(timeout=self.limits.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            self._stop()
            seconds = time.monotonic() - start
            result = _collect(self.host, self.out / "records.jsonl", self.proc.returncode,
                              timed_out, seconds)
            result.isolation = self.level
            return result
        finally:
            self.close()

    def _stop(self) -> None:
        """Kill whatever the run left behind (bwrap: everything in its pid namespace)."""
        if isinstance(self.proc, Forked):
            self.proc.kill()
        elif self.proc is not None:
            _kill_group(self.proc.pid)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        if self.level == "uid" and self.uid is not None:
            _kill_uid(self.uid)
        remove_cgroup(self.group)
        self.group = None

    def close(self) -> None:
        """End the sandbox and remove its files; never raises, may be called again."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.proc is not None and self.proc.stdin is not None:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
            self._stop()
        finally:
            _remove(self.host)
            if self.uid is not None:
                _uids.give(self.uid)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def processes_of(uid: int) -> list[int]:
    """The live pids whose real uid is `uid`."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/status", "rb") as f:
                    uids = next(line for line in f if line.startswith(b"Uid:")).split()
                if int(uids[1]) == uid:
                    found.append(int(entry.name))
            except (OSError, StopIteration, ValueError, IndexError):
                continue
    return found


def _kill_uid(uid: int) -> None:
    """SIGKILL every process whose real uid is `uid` (one run's own uid), until none is left."""
    for _ in range(50):
        found = processes_of(uid)
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


def _remove(path: Path) -> None:
    """Delete a run's directory whatever the run did to it; never raises."""
    def retry(function, name, exc_info):  # a directory the run made unreadable
        try:
            os.chmod(os.path.dirname(name), 0o700)
            os.chmod(name, 0o700)
            function(name)
        except OSError:
            pass
    try:
        shutil.rmtree(path, onerror=retry)
    except OSError:
        pass


def read_regular(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of `path`, only if it is a regular file (no link, FIFO, device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _collect(host: Path, stream: Path, code: int | None, timed_out: bool, seconds: float) -> Run:
    found, bad = records.loads(read_regular(stream, RECORDS_LIMIT), RECORDS_LIMIT)
    cells: dict[int, CellResult] = {}
    cell_timeouts = cpu = finished = False
    for item in found:
        if item["k"] == "ran":
            cell_timeouts |= item["timeout"]
            cell = item["cell"]
            if cell not in cells or cells[cell].outcome == "passed":
                cells[cell] = CellResult(item["outcome"], item["message"])
        elif item["k"] == "limit":
            cpu = True
        elif item["k"] == "exit":
            finished = True
    started = any(r["k"] == "hello" for r in found)
    log = read_regular(host / "driver.log", LOG_LIMIT).decode(errors="replace")
    wall = False
    if timed_out:
        status, detail, wall = "timeout", f"the whole run took longer than its limit ({seconds:.0f} s)", True
    elif cell_timeouts:
        status, detail, wall = "timeout", "a cell took longer than its wall-clock limit", True
    elif cpu:
        status, detail = "timeout", "a cell used more than its CPU-time limit"
    elif not started:
        last = log.strip().splitlines()[-1:]
        status, detail = "crashed", "the kernel did not start" + (f": {last[0][:300]}" if last else "")
    elif not finished or code != 0:
        status, detail = "crashed", "the kernel died (the code exited the process or was killed)"
    else:
        status, detail = "ok", ""
    return Run(status, cells, found, bad, seconds, detail, wall_timeout=wall)
