"""Run one grading notebook under pytest + nbval in a fresh kernel, inside limits.

Each run gets its own temporary directory (the kernel's working directory is inside it), its own
pytest configuration (the project's pytest.ini is never read), a wall-clock limit for the whole
run and per cell, and a memory limit for pytest and the kernel. Whatever the notebook does, the
result is a `Run` with a status: ok, timeout or crashed.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader import records
from grader.assemble import Plan, guard_source

RECORDS_LIMIT = 64 << 20
LOG_LIMIT = 64 << 10


@dataclass(frozen=True)
class Limits:
    """What one grading run may use."""

    timeout: float = 300.0  # seconds for the whole run
    cell_timeout: float = 60.0  # seconds per cell
    memory: int = 2 << 30  # bytes of address space, for pytest and for the kernel
    output: int = 100_000  # characters of output kept per cell
    fsize: int = 256 << 20  # largest file the kernel may write

    def cpu(self) -> int:
        return int(self.timeout) + 30


@dataclass
class CellResult:
    outcome: str  # passed, failed, skipped
    message: str = ""


@dataclass
class Run:
    """What came back from one grading notebook."""

    status: str  # ok, timeout, crashed
    cells: dict[int, CellResult] = field(default_factory=dict)  # nbval "Cell n" -> result
    records: list[dict] = field(default_factory=list)
    bad_records: int = 0
    seconds: float = 0.0
    detail: str = ""


def package_roots() -> list[str]:
    """Directories whose code counts as pristine, and which learner code may not write to."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).resolve().parent)}
    roots.add(str(Path(__file__).resolve().parent.parent))  # the book: solutions, packages
    for name in ("purenn", "tools"):
        module = sys.modules.get(name) or __import__(name)
        roots.add(str(Path(module.__file__).parent))
    return sorted(roots)


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def run(plan: Plan, role: str, seed: int, limits: Limits, keep: Path | None = None) -> Run:
    """Grade-run `plan` as `role` ("learner" or "reference") with hidden-check seed `seed`."""
    tmp = Path(tempfile.mkdtemp(prefix=f"grader-{role}-"))
    work = tmp / "work"
    work.mkdir()
    record_path, report_path = tmp / "records.jsonl", tmp / "report.jsonl"
    config = {"role": role, "seed": seed, "records": str(record_path), "roots": package_roots(),
              "limits": {"memory": limits.memory, "cpu": limits.cpu(), "fsize": limits.fsize,
                         "output": limits.output}}
    notebook = work / "grading.ipynb"
    nbformat.write(plan.notebook(guard_source(plan, config)), str(notebook))
    (tmp / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GRADER_"))}
    env.update(GRADER_SEED=str(seed), GRADER_REPORT=str(report_path),
               GRADER_OUTPUT_LIMIT=str(limits.output), PYTHONDONTWRITEBYTECODE="1",
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    cmd = [sys.executable, "-m", "pytest", "-c", str(tmp / "pytest.ini"), "--rootdir", str(tmp),
           "-p", "no:cacheprovider", "-p", "nbval.plugin", "-p", "grader.nbval_plugin",
           "--nbval", "--nbval-current-env", f"--nbval-cell-timeout={limits.cell_timeout:g}",
           "-q", "--no-header", "-p", "no:warnings", str(notebook)]
    start = time.monotonic()
    timed_out = False
    with open(tmp / "pytest.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            resource.prlimit(proc.pid, resource.RLIMIT_AS, (limits.memory, limits.memory))
        except (ProcessLookupError, PermissionError, ValueError):
            pass
        try:
            proc.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            proc.wait()
    seconds = time.monotonic() - start
    result = _collect(tmp, record_path, report_path, proc.returncode, timed_out, seconds)
    if keep is not None:
        shutil.copytree(tmp, keep, dirs_exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return result


def _read(path: Path, limit: int) -> bytes:
    if not path.exists():
        return b""
    with open(path, "rb") as f:
        return f.read(limit)


def _collect(tmp: Path, record_path: Path, report_path: Path, code: int, timed_out: bool,
             seconds: float) -> Run:
    found, bad = records.loads(_read(record_path, RECORDS_LIMIT), RECORDS_LIMIT)
    report, _ = records.loads(_read(report_path, RECORDS_LIMIT), RECORDS_LIMIT)
    pids = {r.get("pid") for r in found if r.get("k") == "hello"}
    pids |= {r.get("kernel_pid") for r in report if "kernel_pid" in r}
    for pid in pids:
        if isinstance(pid, int) and pid > 1:
            _kill_group(pid)  # a kernel outliving its pytest (killed on timeout) ends here
    cells: dict[int, CellResult] = {}
    timeouts = any(item.get("timeout") for item in report)
    died = any(item.get("died") for item in report)
    for item in report:
        if "cell" in item:
            cell = int(item["cell"])
            if cell not in cells or cells[cell].outcome == "passed":
                cells[cell] = CellResult(str(item.get("outcome")), str(item.get("message", "")))
    log = _read(tmp / "pytest.log", LOG_LIMIT).decode(errors="replace")
    if timed_out:
        status, detail = "timeout", f"the whole run took longer than its limit ({seconds:.0f} s)"
    elif timeouts:
        status, detail = "timeout", "a cell took longer than its time limit"
    elif died or not pids:
        status, detail = "crashed", "the kernel died"
    elif code not in (0, 1):
        status, detail = "crashed", f"pytest exited with {code}: {log.strip().splitlines()[-1:]}"
    else:
        status, detail = "ok", ""
    return Run(status, cells, found, bad, seconds, detail)
