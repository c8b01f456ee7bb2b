"""Run the test suite and print its duration, peak number of live kernels and peak memory.

    python -m bench.suite [--fast] [--jobs N] [--interval 0.5] [-- PYTEST ARGS...]
    python -m bench.suite --per-file tests/test_kits.py chapters ...

Runs `make test` (or `make test-fast` under --fast) in this checkout and samples every process
descending from it: Jupyter kernels (processes running `ipykernel_launcher`) are counted, and the
resident memory (RSS) of the whole tree is summed; the CPU time of the tree (user + system) is a
figure that hardly depends on how busy the machine is: on N idle cores the run cannot take less
than CPU time / N. It is the larger of two sums, each of which misses something: the CPU time of
every process that was waited for (getrusage; a process whose parent exits first is reaped by
init instead, as Chromium's renderers are: in one probe getrusage saw 14 of at least 40
CPU-seconds), and the last CPU time sampled of each process seen in the tree (which misses what
processes shorter than a sample used). The memory figure is the peak of
the tree's summed PSS (proportional set size: a page that k processes share counts 1/k in each,
so the sum is what the tree holds), read every fourth sample, because reading it costs far more
than RSS; summed RSS, which counts a shared page (the torch libraries every kernel maps) once per
process, is printed beside it as an upper bound. `bench.setup` measures `make test` in a fresh
clone the same way. Figures only: nothing
here asserts on a time, and they depend on what else the machine is doing.

--per-file measures each given test file or folder alone instead (`pytest -n 0`, one at a time),
one line each: where the suite's CPU time goes. Each line includes pytest's own start (importing
torch, nbval and the plugins, a few CPU-seconds), which `make test` pays once per worker.
"""
from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

ROOT = Path(__file__).resolve().parent.parent
KERNEL_MARK = "ipykernel_launcher"
GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)


@dataclass
class Measure:
    returncode: int | str  # "timeout" when the command ran past its limit
    seconds: float
    peak_kernels: int
    peak_rss: int  # bytes, summed over the process tree
    peak_pss: int  # bytes, summed over the process tree (sampled less often)
    cpu_seconds: float  # user + system time of the process tree (the larger of the two sums)
    last_line: str  # the last non-empty line of output (pytest's summary)


def sample(root: psutil.Process, pss: bool = False,
           cpu: dict | None = None) -> tuple[int, int, int]:
    """(kernels alive, summed RSS, summed PSS or 0 unless `pss`) of `root` and every process
    below it, in bytes; `cpu`, when given, gets each process's own CPU time so far, by
    (pid, start time)."""
    try:
        procs = [root, *root.children(recursive=True)]
    except GONE:
        return 0, 0, 0
    kernels = rss = shared = 0
    for proc in procs:
        try:
            rss += proc.memory_info().rss
            kernels += any(KERNEL_MARK in part for part in proc.cmdline())
            shared += proc.memory_full_info().pss if pss else 0
            if cpu is not None:
                times = proc.cpu_times()
                cpu[proc.pid, proc.create_time()] = times.user + times.system
        except GONE:
            continue
    return kernels, rss, shared


def measure(cmd: list[str], cwd: Path, env: dict | None = None, out: IO[str] | None = None,
            timeout: float | None = None, interval: float = 0.5) -> Measure:
    """Run `cmd`, writing its output to `out` (default: this stdout), sampling its process tree."""
    peak = [0, 0, 0]
    cpu_seen: dict = {}
    last = ""
    done, fired = threading.Event(), threading.Event()
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    root = psutil.Process(proc.pid)

    def watch():
        count = 0
        while not done.is_set():
            # PSS costs ~1 ms a process: every fourth sample
            kernels, rss, pss = sample(root, pss=count % 4 == 0, cpu=cpu_seen)
            peak[:] = max(peak[0], kernels), max(peak[1], rss), max(peak[2], pss)
            count += 1
            done.wait(interval)

    def stop(*_):
        fired.set()
        os.killpg(proc.pid, signal.SIGTERM)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    timer = threading.Timer(timeout, stop) if timeout else None
    if timer:
        timer.start()
    try:
        for line in proc.stdout:
            (out or sys.stdout).write(line)
            (out or sys.stdout).flush()
            if line.strip():
                last = line.strip()
        proc.wait()
    except KeyboardInterrupt:
        stop()
        raise
    finally:
        done.set()
        watcher.join()
        if timer:
            timer.cancel()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu = max(waited, sum(cpu_seen.values()))
    return Measure("timeout" if fired.is_set() else proc.returncode, time.monotonic() - start,
                   peak[0], peak[1], peak[2], cpu, last.strip("= "))


def describe(m: Measure) -> str:
    """One line: wall time, peak kernels, peak memory."""
    return (f"{m.seconds:.0f} s wall, {m.cpu_seconds:.0f} s CPU, peak {m.peak_kernels} live kernels, "
            f"peak memory {m.peak_pss / 2**30:.2f} GiB (PSS of the process tree, summed; "
            f"summed RSS {m.peak_rss / 2**30:.2f} GiB)")


def per_file(paths: list[str], interval: float) -> int:
    """Measure `pytest -n 0 PATH` for each path; print one line each; 1 when any run failed."""
    if not paths:
        print("bench.suite: --per-file needs test files or folders", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        cmd = [sys.executable, "-m", "pytest", "-n", "0", "-q", path]
        with open(os.devnull, "w", encoding="utf-8") as quiet:
            m = measure(cmd, ROOT, out=quiet, interval=interval)
        failed += m.returncode != 0
        print(f"bench: {path}: {describe(m)}, {m.last_line}", flush=True)
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="make test-fast instead of make test")
    parser.add_argument("--jobs", type=int, help="TEST_JOBS for make (default: the Makefile's)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--per-file", action="store_true",
                        help="measure each test file or folder given (instead of pytest options) alone")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest options (after --)")
    args = parser.parse_args()
    if args.per_file:
        sys.exit(per_file(args.pytest_args, args.interval))
    target = "test-fast" if args.fast else "test"
    cmd = ["make", "--no-print-directory", target]
    if args.jobs:
        cmd.append(f"TEST_JOBS={args.jobs}")
    if args.pytest_args:
        cmd.append("PYTEST_ARGS=" + " ".join(args.pytest_args))
    print("$ " + " ".join(cmd), flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    m = measure(cmd, ROOT, env=env, interval=args.interval)
    status = "passed" if m.returncode == 0 else f"exit {m.returncode}"
    print(f"  make {target}: {m.last_line}")
    print(f"bench: {target} {describe(m)}, {status}")
    sys.exit(0 if m.returncode == 0 else 1)


if __name__ == "__main__":
    main()
