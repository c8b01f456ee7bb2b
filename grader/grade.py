"""Grade submissions: build the plans, run the reference and learner kernels, judge."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools import notebooks

from grader import assemble, runner, verdict
from grader.assemble import Plan, Unusable
from grader.runner import Limits
from grader.verdict import Grade

SOLUTIONS = notebooks.ROOT / "solutions"


def prepare(path: Path, exercise: str | None = None,
            solutions: Path = SOLUTIONS) -> tuple[Plan, Plan]:
    """(learner plan, reference plan) of a submission; raises Unusable for unusable input."""
    submission = assemble.load(path)
    solution_path = assemble.exercise_of(submission, path, exercise, solutions)
    solution = notebooks.read(solution_path)
    name = solution_path.stem
    return assemble.plan(solution, submission, name), assemble.plan(solution, solution, name)


def reference(plan: Plan, seed: int, limits: Limits) -> dict:
    """torch's observations for every check of `plan`'s exercise, from a clean kernel."""
    run = runner.run(plan, "reference", seed, limits)
    return verdict.reference_table(plan, run, seed)


def grade_file(path: Path, exercise: str | None = None, seed: int | None = None,
               limits: Limits = Limits(), solutions: Path = SOLUTIONS) -> Grade:
    """Grade one submission; the reference and learner kernels run side by side."""
    learner, pristine = prepare(path, exercise, solutions)
    seed = verdict.new_seed() if seed is None else seed
    with ThreadPoolExecutor(2) as pool:
        expected = pool.submit(reference, pristine, seed, limits)
        run = pool.submit(runner.run, learner, "learner", seed, limits)
        table, result = expected.result(), run.result()
    return verdict.judge(learner, table, result, str(path), seed)
