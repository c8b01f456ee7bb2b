"""Grade a folder of submissions in parallel workers, with a progress bar on stderr.

One seed is drawn for the whole batch (or given with --seed, to replay one), so torch's side of
every check runs once per exercise (in a clean sandbox, or not at all when the grader's cache
holds it) and all submissions face the same hidden cases. Each submission runs in its own
sandbox, queued as soon as its file is read (it does not wait for the other files to be read, nor
for torch's side); an unusable, crashing or hanging one gets its
own row and never stops the batch. Every grade goes to the sinks (a CSV gradebook, a feedback
folder) the moment it is known, so a batch that dies midway leaves every finished row on disk.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import IO

from grader import grade, report, runner, verdict
from grader.assemble import Unusable
from grader.runner import Limits
from grader.verdict import Grade

Sink = Callable[[Grade], None]


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
                f"{report.printable(name)} ({status})")
        if self.tty:
            self.out.write("\r\x1b[K" + line + ("\n" if self.done == self.total else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()


def grade_folder(folder: Path, jobs: int = 2, seed: int | None = None,
                 limits: Limits = Limits(), solutions: Path = grade.SOLUTIONS,
                 progress: IO[str] | None = sys.stderr, exercise: str | None = None,
                 start: Callable[[list[str]], Sink] | None = None) -> list[Grade]:
    """Grade every notebook in `folder`; one Grade per file, in file order.

    Files are named relative to `folder`. `exercise` pins the exercise of every submission.
    `start(tasks)` is called once every submission has been read, with the task columns of the
    batch, and returns the sink that receives each grade as soon as it is known.
    """
    paths = submissions(folder)
    names = {p: str(p.relative_to(folder)) for p in paths}
    seed = verdict.new_seed() if seed is None else seed
    bar = Progress(len(paths), progress) if progress is not None else None
    results: dict[Path, Grade] = {}
    plans = {}
    references: dict[str, Future] = {}
    futures: dict[Future, Path] = {}
    with ThreadPoolExecutor(max(jobs, 1)) as pool:  # a run starts as soon as its file is read
        for path in paths:
            try:
                plans[path] = learner, pristine = grade.prepare(path, exercise, solutions)
            except Unusable as err:
                reason = str(err).replace(str(path), names[path], 1)
                results[path] = verdict.invalid(names[path], reason)
                results[path].seed = seed
                continue
            if learner.exercise not in references:  # torch's side first, learners right behind
                references[learner.exercise] = pool.submit(grade.reference, pristine, seed, limits)
            futures[pool.submit(runner.run_learner, learner, seed, limits)] = path
        tasks = sorted({(learner.exercise, t) for learner, _ in plans.values()
                        for t in learner.tasks},
                       key=lambda et: (et[0], report.task_order(et[1])))
        sink = start(list(dict.fromkeys(t for _, t in tasks))) if start else None

        def done(path: Path, result: Grade) -> None:
            results[path] = result
            if sink:
                sink(result)
            if bar:
                bar.step(names[path], result.status)

        for path in list(results):
            done(path, results[path])
        for future in as_completed(futures):
            path = futures[future]
            learner = plans[path][0]
            try:
                table = references[learner.exercise].result()
            except verdict.ReferenceFailed as err:  # that exercise is broken, not its learners
                done(path, Grade(names[path], learner.exercise, "crashed", [], 0.0, seed,
                                 f"grader error: {err}"))
                continue
            try:
                result = verdict.judge(learner, table, future.result(), names[path], seed)
            except Exception as err:  # one submission's surprise must not stop the others
                result = Grade(names[path], learner.exercise, "crashed", [], 0.0, seed,
                               f"grader error: {type(err).__name__}: {err}")
            done(path, result)
    return [results[p] for p in paths]


def write_batch(folder: Path, csv_path: Path, feedback: Path | None = None, **options) -> list[Grade]:
    """Grade `folder` into a CSV gradebook (and a feedback file per submission).

    Rows are appended and flushed in the order grades become known; once the whole batch is
    graded, the gradebook is rewritten in file order (a new file moved into place), so an
    interrupted batch keeps its finished rows and a finished one reads in name order.
    """
    if feedback is not None:
        feedback.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    names: dict[int, str] = {}
    with open(csv_path, "w", newline="", encoding="utf-8") as out:
        def start(tasks: list[str]) -> Sink:
            columns.extend(tasks)
            book = report.Gradebook(out, tasks)

            def sink(result: Grade) -> None:
                name = ""
                if feedback is not None:
                    name = report.feedback_name(result.file)
                    (feedback / name).write_text(report.feedback(result), encoding="utf-8")
                names[id(result)] = name
                book.add(result, name)
            return sink

        grades = grade_folder(folder, start=start, **options)
    ordered = csv_path.with_name(csv_path.name + ".sorting")
    with open(ordered, "w", newline="", encoding="utf-8") as out:
        book = report.Gradebook(out, columns)
        for result in grades:
            book.add(result, names.get(id(result), ""))
    os.replace(ordered, csv_path)
    return grades
