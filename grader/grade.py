"""Grade submissions: build the plans, run the reference and learner kernels, judge."""
from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools import notebooks

from grader import assemble, runner, verdict
from grader.assemble import Plan
from grader.runner import Limits
from grader.verdict import Grade

SOLUTIONS = notebooks.ROOT / "solutions"

_tables: dict[tuple, dict] = {}  # (exercise, digest of its grading notebook, seed) -> table
_tables_lock = threading.Lock()


def prepare(path: Path, exercise: str | None = None,
            solutions: Path = SOLUTIONS) -> tuple[Plan, Plan]:
    """(learner plan, reference plan) of a submission; raises Unusable for unusable input.
    With `exercise` given, the submission is graded as that exercise whatever its metadata
    says, and a mismatch is noted in the learner plan's warnings."""
    submission = assemble.load(path)
    solution_path = assemble.exercise_of(submission, path, exercise, solutions)
    solution = notebooks.read(solution_path)
    name = solution_path.stem
    learner = assemble.plan(solution, submission, name)
    warning = assemble.metadata_mismatch(submission, exercise)
    if warning:
        learner.warnings.append(warning)
    return learner, assemble.plan(solution, solution, name)


def reference(plan: Plan, seed: int, limits: Limits) -> dict:
    """torch's observations for every check of `plan`'s exercise, from a kernel that runs no
    learner code; computed once per exercise, solution and seed in this process."""
    digest = hashlib.sha256("\0".join(c.source for c in plan.cells).encode()).hexdigest()
    key = (plan.exercise, digest, seed)
    with _tables_lock:
        if key in _tables:
            return _tables[key]
    run = runner.run(plan, "reference", seed, limits)
    table = verdict.reference_table(plan, run, seed)
    with _tables_lock:
        _tables[key] = table
    return table


def grade_file(path: Path, exercise: str | None = None, seed: int | None = None,
               limits: Limits = Limits(), solutions: Path = SOLUTIONS,
               require_sandbox: bool = False) -> Grade:
    """Grade one submission; the reference and learner kernels run side by side."""
    level = runner.require_sandbox() if require_sandbox else runner.isolation()
    learner, pristine = prepare(path, exercise, solutions)
    seed = verdict.new_seed() if seed is None else seed
    with ThreadPoolExecutor(2) as pool:
        expected = pool.submit(reference, pristine, seed, limits)
        run = pool.submit(runner.run, learner, "learner", seed, limits, None, level)
        table, result = expected.result(), run.result()
    return verdict.judge(learner, table, result, str(path), seed, learner.warnings)
