"""Run every benchmark and end with a one-line summary of the figures.

    python -m bench            set-up, fast tests, grading, purenn vs torch.nn   (make bench)
    python -m bench --quick    fast tests, grading, purenn vs torch.nn           (make bench-quick)

Parts: `bench.setup` (fresh clone: first `make book` with its new venv, rebuild, `make test`
with its peak live kernels and memory; several minutes), `bench.suite --fast` (`make test-fast`
in this checkout, measured the same way, its output in _build/bench-test-fast.log),
`bench/grade.py` (the grader against bare nbval, batch throughput; run as a script, its output
passed through) and `bench.modules` (the 1,000-module tree, in this process).
Each part can also be run alone. Nothing here asserts on a time.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRADE = ROOT / "bench" / "grade.py"


def heading(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def run_grade() -> str:
    """Run bench/grade.py, passing its output through; return its figures for the summary."""
    if not GRADE.exists():
        print("bench/grade.py is not there: skipped")
        return "grade not run"
    lines = []
    with subprocess.Popen([sys.executable, str(GRADE)], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    if proc.returncode != 0:
        print(f"bench/grade.py exited with {proc.returncode}")
        return "grade failed"
    text = "".join(lines)
    ratio = re.search(r"grader\s.*?ratio\s+([\d.]+)x", text)
    speedup = re.search(r"--jobs\s+2\b.*?speed-up\s+([\d.]+)x", text)
    parts = [f"grade {ratio.group(1)}x nbval" if ratio else "grade ?x nbval",
             f"2 jobs {speedup.group(1)}x" if speedup else "2 jobs ?x"]
    return ", ".join(parts)


def run_fast_tests() -> str:
    """`make test-fast` here, its output in a log; print and return its figures."""
    from bench import suite
    from bench.setup import clean_env

    log = ROOT / "_build" / "bench-test-fast.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as out:
        measured = suite.measure(["make", "--no-print-directory", "test-fast"], ROOT, clean_env(), out)
    status = "passed" if measured.returncode == 0 else f"FAILED ({measured.returncode}), see {log}"
    print(f"  make test-fast   {suite.describe(measured)}\n  {measured.last_line}   {status}")
    return f"test-fast {measured.seconds:.0f}s ({measured.cpu_seconds:.0f}s CPU, " \
           f"{measured.peak_kernels} kernels, {measured.peak_pss / 2**30:.1f} GiB PSS)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="skip the set-up part (fresh clone, make book twice, make test)")
    parser.add_argument("--no-fast-tests", action="store_true", help="skip the make test-fast part")
    parser.add_argument("--no-grade", action="store_true", help="skip the grading part")
    parser.add_argument("--repeat", type=int, default=7,
                        help="samples per operation and library in the purenn/torch part")
    args = parser.parse_args()
    start = time.perf_counter()
    figures = []

    if args.quick:
        figures.append("setup skipped")
    else:
        from bench import setup
        heading("set-up (fresh clone of HEAD)")
        figures.append(setup.summary(setup.run()))

    if args.no_fast_tests:
        figures.append("test-fast skipped")
    else:
        heading("fast tests (make test-fast, this checkout)")
        figures.append(run_fast_tests())

    if args.no_grade:
        figures.append("grade skipped")
    else:
        heading("grading (bench/grade.py)")
        figures.append(run_grade())

    from bench import modules  # imports torch: after the subprocess parts
    heading("purenn vs torch.nn, 1,000-module tree, one process")
    figures.append(modules.summary(modules.run(args.repeat)))

    print(f"\n(all parts: {time.perf_counter() - start:.0f} s)")
    print("bench: " + " | ".join(figures))


if __name__ == "__main__":
    main()
