"""Grade a folder of submissions in parallel workers, with a progress bar on stderr.

One seed is drawn for the whole batch, so torch's side of every check runs once per exercise
(in a clean kernel) and all submissions face the same hidden cases. Each submission then runs in
its own kernel; an unusable, crashing or hanging one gets its own row and never stops the batch.
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import IO

from grader import grade, runner, verdict
from grader.assemble import Unusable
from grader.runner import Limits
from grader.verdict import Grade


def submissions(folder: Path) -> list[Path]:
    """Every notebook under `folder`, in name order (checkpoints skipped)."""
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


class Progress:
    """A one-line progress bar redrawn in place on a terminal, one line per file otherwise."""

    def __init__(self, total: int, out: IO[str] = sys.stderr, width: int = 30) -> None:
        self.total, self.done, self.out, self.width = total, 0, out, width
        self.start = time.monotonic()
        self.tty = out.isatty()

    def step(self, name: str, status: str) -> None:
        self.done += 1
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        line = (f"[{bar}] {self.done}/{self.total} {time.monotonic() - self.start:5.1f}s "
                f"{name} ({status})")
        if self.tty:
            self.out.write("\r\x1b[K" + line + ("\n" if self.done == self.total else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()


def grade_folder(folder: Path, jobs: int = 2, seed: int | None = None,
                 limits: Limits = Limits(), solutions: Path = grade.SOLUTIONS,
                 progress: IO[str] | None = sys.stderr) -> list[Grade]:
    """Grade every notebook in `folder`; one Grade per file, in file order."""
    paths = submissions(folder)
    seed = verdict.new_seed() if seed is None else seed
    bar = Progress(len(paths), progress) if progress is not None else None
    results: dict[Path, Grade] = {}
    plans = {}
    for path in paths:
        try:
            plans[path] = grade.prepare(path, None, solutions)
        except Unusable as err:
            results[path] = verdict.invalid(str(path), str(err))
            if bar:
                bar.step(path.name, "invalid")
    tables: dict[str, dict] = {}
    with ThreadPoolExecutor(max(jobs, 1)) as pool:
        pristine = {learner.exercise: ref for learner, ref in plans.values()}
        futures = {pool.submit(grade.reference, plan, seed, limits): name
                   for name, plan in pristine.items()}
        broken: dict[str, str] = {}
        for future in as_completed(futures):
            try:
                tables[futures[future]] = future.result()
            except verdict.ReferenceFailed as err:  # that exercise is broken, not its learners
                broken[futures[future]] = f"grader error: {err}"
        for path, (learner, _) in plans.items():
            if learner.exercise in broken:
                results[path] = Grade(str(path), learner.exercise, "crashed", [], 0.0, seed,
                                      broken[learner.exercise])
                if bar:
                    bar.step(path.name, "crashed")
        futures = {pool.submit(runner.run, learner, "learner", seed, limits): path
                   for path, (learner, _) in plans.items() if learner.exercise not in broken}
        for future in as_completed(futures):
            path = futures[future]
            learner = plans[path][0]
            try:
                results[path] = verdict.judge(learner, tables[learner.exercise], future.result(),
                                              str(path), seed)
            except Exception as err:  # one submission's surprise must not stop the others
                results[path] = Grade(str(path), learner.exercise, "crashed", [], 0.0, seed,
                                      f"grader error: {type(err).__name__}: {err}")
            if bar:
                bar.step(path.name, results[path].status)
    return [results[p] for p in paths]
