"""Command line of the autograder.

    python -m grader SUBMISSION.ipynb [--format json] [--exercise NN_topic] [--seed N] [--require-sandbox]
    python -m grader --batch DIR --csv grades.csv [--feedback DIR] [--jobs N] [--seed N] [--require-sandbox]
    python -m grader SUBMISSION.ipynb --visible-only   # the student kit: no answer key

Exit status: 0 when a grade was produced (whatever the score), 2 for unusable input or, with
--require-sandbox, no sandbox on this machine (one line on stderr), 1 when the exercise itself is
broken (its solution fails in the clean kernel).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import tools  # noqa: E402,F401  (first: it makes nbformat cheap to import, see its docstring)
from grader import batch, grade, local, report  # noqa: E402
from grader.assemble import Unusable  # noqa: E402
from grader.runner import Limits, SandboxUnavailable, require_sandbox  # noqa: E402
from grader.verdict import ReferenceFailed  # noqa: E402


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
    p.add_argument("--feedback", type=Path, metavar="DIR",
                   help="with --batch: write one feedback file per submission into DIR")
    p.add_argument("--results", type=Path, metavar="FILE",
                   help="write Gradescope's results.json to FILE, also for unusable input")
    p.add_argument("--visible-only", action="store_true",
                   help="grade the visible checks of exercises/ (no answer key needed)")
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
            grades = batch.write_batch(args.batch, args.csv, args.feedback, jobs=args.jobs,
                                       seed=args.seed, limits=limits, solutions=args.solutions,
                                       exercise=args.exercise)
            counts = {s: sum(g.status == s for g in grades) for s in ("ok", "timeout", "crashed", "invalid")}
            print(f"{len(grades)} submissions graded into {args.csv}: "
                  + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
            return 0
        if args.submission is None:
            raise Unusable("usage: python -m grader SUBMISSION.ipynb (or --batch DIR --csv FILE)")
        if args.visible_only:
            result = local.grade_file(args.submission, args.exercise, args.seed, limits)
        elif not args.solutions.is_dir():
            raise Unusable(f"no answer key here ({args.solutions.name}/ is missing): "
                           "grade with --visible-only")
        else:
            result = grade.grade_file(args.submission, args.exercise, args.seed, limits,
                                      args.solutions, args.require_sandbox)
    except (Unusable, SandboxUnavailable) as err:
        print(f"grader: {report.printable(str(err))}", file=sys.stderr)
        if args.results is not None:
            args.results.write_text(json.dumps(report.unusable(str(err)), indent=2,
                                               ensure_ascii=False), encoding="utf-8")
        return 2
    except ReferenceFailed as err:
        print(f"grader: {err}", file=sys.stderr)
        if args.results is not None:  # the details stay in the instructors' log
            args.results.write_text(json.dumps(report.unusable(
                "the exercise failed in the autograder, not your submission; your instructor "
                "can see why in the autograder's output"), indent=2), encoding="utf-8")
        return 1
    if args.results is not None:
        args.results.write_text(report.dumps_json(result), encoding="utf-8")
    print(report.dumps_json(result) if args.format == "json" else report.table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
