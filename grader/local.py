"""Grade without the answer key: the visible checks only, as the student kit does.

The kit has no `solutions/`, so there is no pristine solution to run in the reference kernel and
no hidden check to add back. The exercise notebook takes the solution's place: its check cells are
the pristine checks, and its reference kernel runs the stubs. A stub raises inside `compare`, which
catches it as the learner side's observation, so torch's side of every visible case is still
reported by a kernel that runs no learner code. The learner kernel and the verdict are the
instructor's. What such a grade leaves out is said in its `detail`.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools import notebooks

from grader import grade, runner, verdict
from grader.assemble import Plan, Unusable
from grader.runner import Limits, Run
from grader.verdict import Grade

EXERCISES = notebooks.ROOT / "exercises"
DETAIL = "visible checks only: no answer key here, the hidden checks run when your instructor grades"


def observations(plan: Plan, run: Run) -> dict:
    """torch's side of every visible case, from the kernel that ran the exercise's stubs."""
    table: dict[int, dict] = {}
    for rec in run.records:
        if rec.get("k") == "case" and isinstance(rec.get("check"), int):
            table.setdefault(rec["check"], {})[(rec.get("call"), rec.get("case"))] = rec
    missing = [c.check for c in plan.checks if c.check not in table]
    if run.status != "ok" or missing:
        raise verdict.ReferenceFailed(
            f"torch's side of {plan.exercise} could not be computed from the exercise "
            f"({run.detail or f'check(s) {missing} reported no case'})")
    return table


def grade_file(path: Path, exercise: str | None = None, seed: int | None = None,
               limits: Limits = Limits(), exercises: Path = EXERCISES) -> Grade:
    """Grade one submission against the visible checks of its exercise notebook."""
    seed = verdict.new_seed() if seed is None else seed
    try:
        learner, stubs = grade.prepare(path, exercise, exercises)
    except ValueError as err:  # a task without its answer cell: the stub has no solution block
        raise Unusable(f"{path}: {err}; keep every answer cell of the exercise") from None
    box = runner.Sandbox("learner", seed, limits)  # (after reading: bad input starts nothing)
    with ThreadPoolExecutor(2) as pool:
        expected = pool.submit(runner.run, stubs, "reference", seed, limits)
        run = pool.submit(runner.run_learner, learner, seed, limits, None, box)
        table, result = observations(stubs, expected.result()), run.result()
    graded = verdict.judge(learner, table, result, str(path), seed)
    graded.detail = "; ".join(filter(None, [graded.detail, DETAIL]))
    return graded
