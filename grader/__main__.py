"""Command line of the autograder.

    python -m grader SUBMISSION.ipynb [--format json] [--exercise NN_topic] [--require-sandbox]
    python -m grader --batch DIR --csv grades.csv [--jobs N] [--require-sandbox]

Exit status: 0 when a grade was produced (whatever the score), 2 for unusable input or, with
--require-sandbox, no sandbox on this machine (one line on stderr), 1 when the exercise itself is
broken (its solution fails in the clean kernel).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import batch, grade, report
from grader.assemble import Unusable
from grader.runner import Limits, SandboxUnavailable, require_sandbox
from grader.verdict import ReferenceFailed


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grader",
                                description="Grade exercise notebooks against real torch.")
    p.add_argument("submission", nargs="?", type=Path, help="the notebook to grade")
    p.add_argument("--exercise", help="exercise name, e.g. 01_parameter (default: from the notebook)")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="json: Gradescope's results.json on stdout")
    p.add_argument("--batch", type=Path, metavar="DIR", help="grade every notebook under DIR")
    p.add_argument("--csv", type=Path, metavar="FILE", help="with --batch: write the gradebook here")
    p.add_argument("--jobs", type=int, default=2, help="with --batch: parallel kernels (default 2)")
    p.add_argument("--seed", type=int, help="seed of the hidden checks (default: a fresh one)")
    p.add_argument("--timeout", type=float, default=Limits.timeout,
                   help="seconds for one submission (default %(default)g)")
    p.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout,
                   help="wall-clock seconds for one cell, a backstop (default %(default)g)")
    p.add_argument("--cell-cpu", type=float, default=Limits.cell_cpu,
                   help="CPU-seconds for one cell of learner code (default %(default)g)")
    p.add_argument("--require-sandbox", action="store_true",
                   help="refuse to grade (exit 2) where learner code cannot be isolated")
    p.add_argument("--memory", type=int, default=Limits.memory >> 20,
                   help="MiB of address space per process (default %(default)d)")
    p.add_argument("--solutions", type=Path, default=grade.SOLUTIONS, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    limits = Limits(timeout=args.timeout, cell_timeout=args.cell_timeout,
                    cell_cpu=args.cell_cpu, memory=args.memory << 20)
    try:
        if args.require_sandbox:
            require_sandbox()
        if args.batch is not None:
            if args.submission is not None or args.csv is None:
                raise Unusable("usage: python -m grader --batch DIR --csv FILE [--jobs N]")
            if not args.batch.is_dir():
                raise Unusable(f"{args.batch}: not a directory")
            grades = batch.grade_folder(args.batch, args.jobs, args.seed, limits, args.solutions)
            with open(args.csv, "w", newline="", encoding="utf-8") as out:
                report.write_csv(grades, out)
            counts = {s: sum(g.status == s for g in grades) for s in ("ok", "timeout", "crashed", "invalid")}
            print(f"{len(grades)} submissions graded into {args.csv}: "
                  + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
            return 0
        if args.submission is None:
            raise Unusable("usage: python -m grader SUBMISSION.ipynb (or --batch DIR --csv FILE)")
        result = grade.grade_file(args.submission, args.exercise, args.seed, limits, args.solutions,
                                  args.require_sandbox)
    except (Unusable, SandboxUnavailable) as err:
        print(f"grader: {err}", file=sys.stderr)
        return 2
    except ReferenceFailed as err:
        print(f"grader: {err}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(report.dumps_json(result))
    else:
        print(report.table(result))
        print(f"isolation: {result.isolation}" + "".join(f"\nwarning: {w}" for w in result.warnings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
