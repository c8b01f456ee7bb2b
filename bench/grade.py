"""Benchmark the grader: one submission against a bare nbval run, and batch throughput.

    python bench/grade.py [--exercise 01_parameter] [--copies 20] [--jobs 2] [--repeat 1]

Prints figures only (no timed assertions): the wall time of a bare `pytest --nbval` of the
solution; of `python -m grader` on it with a fresh seed (torch's side computed in its own
sandbox beside the learner's) and again with that seed (torch's side from the grader's cache),
each with its ratio to bare nbval; then submissions per minute of `--batch` over `--copies`
submissions with `--jobs` workers (a fresh seed), and the isolation level the grades ran under;
then the CPU time the whole machine spent during that batch (sandboxed runs escape the grader's
own accounting; on an idle machine this is the batch's); last, the CPU time per submission of
the same batch counted at isolation `none` (every run its own Python, no warm server), which
hardly depends on the machine's load, and the throughput it allows on this machine's idle cores.
The grader's cache lives in a temporary directory for the benchmark. Figures depend on the
machine and its load; compare them only within one run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import suite  # noqa: E402
from grader import runner, verdict  # noqa: E402
from tools import notebooks, release  # noqa: E402


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def bare_nbval(notebook: Path, tmp: Path) -> float:
    """pytest --nbval on the notebook alone, with its own config (as nbval users run it)."""
    (tmp / "pytest.ini").write_text("[pytest]\n")
    return timed([sys.executable, "-m", "pytest", "-q", "-c", str(tmp / "pytest.ini"),
                  "--rootdir", str(tmp), "-p", "no:cacheprovider", "--nbval",
                  "--nbval-current-env", str(notebook)], tmp)


def grade(notebook: Path, tmp: Path, seed: int) -> float:
    return timed([sys.executable, "-m", "grader", "--seed", str(seed), str(notebook)], tmp)


def batch_command(folder: Path, jobs: int, csv: Path) -> list[str]:
    return [sys.executable, "-m", "grader", "--batch", str(folder), "--csv", str(csv), "--jobs",
            str(jobs)]


def batch(folder: Path, jobs: int, tmp: Path) -> tuple[float, float]:
    """Wall seconds of a batch, and the CPU-seconds the whole machine was busy meanwhile."""
    before = machine_cpu()
    seconds = timed(batch_command(folder, jobs, tmp / f"grades-{jobs}.csv"), tmp)
    return seconds, machine_cpu() - before


def machine_cpu() -> float:
    """CPU-seconds every core of this machine has spent busy since boot (/proc/stat): what
    sandboxed runs use too, though their processes escape the grader's accounting."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="01_parameter")
    parser.add_argument("--copies", type=int, default=20, help="submissions in the batch")
    parser.add_argument("--jobs", type=int, default=2, help="parallel workers of the batch")
    parser.add_argument("--repeat", type=int, default=1, help="runs per single-file figure")
    args = parser.parse_args()
    solution = ROOT / "solutions" / f"{args.exercise}.ipynb"
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as name:
        tmp = Path(name)
        os.environ["GRADER_CACHE"] = str(tmp / "cache")
        nb = tmp / solution.name
        shutil.copy(solution, nb)
        bare = [bare_nbval(nb, tmp) for _ in range(args.repeat)]
        seeds = [verdict.new_seed() for _ in range(args.repeat)]
        fresh = [grade(nb, tmp, seed) for seed in seeds]
        cached = [grade(nb, tmp, seed) for seed in seeds]
        b, g, c = (statistics.median(t) for t in (bare, fresh, cached))
        print(f"single submission ({args.exercise}, median of {args.repeat}, "
              f"isolation: {runner.isolation()}):")
        print(f"  bare pytest --nbval                      {b:6.1f} s")
        print(f"  python -m grader (fresh seed)            {g:6.1f} s   ratio {g / b:.2f}x")
        print(f"  python -m grader (torch's side cached)   {c:6.1f} s   ratio {c / b:.2f}x")

        folder = tmp / "batch"
        folder.mkdir()
        exercise = notebooks.dumps(release.exercise_of(notebooks.read(solution)))
        for i in range(args.copies):
            text = solution.read_text() if i % 2 == 0 else exercise
            (folder / f"learner{i:02d}.ipynb").write_text(text)
        print(f"batch of {args.copies} submissions (half solutions, half untouched exercises):")
        seconds, busy = batch(folder, args.jobs, tmp)
        print(f"  --jobs {args.jobs}   {seconds:6.1f} s   {60 * args.copies / seconds:5.1f} "
              f"submissions/min   {seconds / args.copies:5.1f} s per submission "
              f"({seconds / args.copies / b:.2f}x bare nbval)")
        print(f"  CPU time of the whole machine during that batch: {busy / args.copies:.2f} "
              f"CPU-s per submission (everything that ran: on an idle machine, the batch)")
        # CPU time does not depend on what else the machine runs; it is counted at level `none`
        # (a sandbox's processes are not the grader's waited-for descendants), fresh seed again
        with open(os.devnull, "w") as quiet:
            counted = suite.measure(batch_command(folder, args.jobs, tmp / "grades-cpu.csv"), tmp,
                                    env={**os.environ, "GRADER_ISOLATION": "none"}, out=quiet)
        per = counted.cpu_seconds / args.copies
        cores = os.cpu_count() or 1
        print(f"  CPU time, same batch at isolation none: {per:.2f} CPU-s per submission "
              f"(torch's side included): at most {60 * cores / per:.0f} submissions/min "
              f"on {cores} idle cores")


if __name__ == "__main__":
    main()
