"""Read a submission, find its exercise, and build the grading notebook from the pristine solution.

The grading notebook is the solution notebook with the learner's `answer` cells spliced in by
task (not by position) and every `check` and `hidden-check` cell taken from the solution. Rules:

- a learner cell tagged `answer` with `grade.task` T replaces the solution's answer cell(s) of T;
  several answer cells of one task are all kept, in the learner's order;
- an untagged learner code cell that defines the names of a task whose answer cell is missing
  (its metadata was lost) is taken as that task's answer;
- any other untagged learner code cell is a helper: it runs just before the next answer cell that
  follows it in the learner's notebook (helpers after the last answer are not run); a cell whose
  source equals a solution cell (setup, or an untouched copy of a check) is dropped;
- a task without an answer gets the exercise's stub (`raise NotImplementedError`), so it scores 0.
"""
from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tools import release

from grader.scan import Finding, scan

MAX_BYTES = 50 << 20  # a larger "notebook" is not a submission
NAME = re.compile(r"^\d\d_[A-Za-z0-9_]+$")


class Unusable(Exception):
    """Input that cannot be graded at all; the message is one line for stderr."""


def load(path: Path) -> nbformat.NotebookNode:
    """Read a submission, refusing anything that is not an nbformat-4 notebook."""
    if not path.exists():
        raise Unusable(f"{path}: no such file")
    if not path.is_file():
        raise Unusable(f"{path}: not a file")
    if path.stat().st_size > MAX_BYTES:
        raise Unusable(f"{path}: larger than {MAX_BYTES >> 20} MB, not a notebook")
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as err:
        raise Unusable(f"{path}: not JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        raise Unusable(f"{path}: not a notebook (JSON without 'cells' and 'nbformat')")
    if data["nbformat"] != 4:
        raise Unusable(f"{path}: unsupported nbformat {data['nbformat']!r} (need 4)")
    try:
        nb = nbformat.from_dict(data)
        with warnings.catch_warnings():  # old minor versions without cell ids are fine
            warnings.simplefilter("ignore")
            nbformat.validate(nb)
    except Exception as err:  # nbformat raises several types; all mean "not a valid notebook"
        raise Unusable(f"{path}: not a valid notebook ({str(err).splitlines()[0][:200]})") from None
    return nb


def exercise_of(nb: nbformat.NotebookNode, path: Path, override: str | None,
                solutions: Path) -> Path:
    """The solution notebook of the submission's exercise: `override` (--exercise) when given,
    whatever the submission says; else its metadata, else its file name."""
    name = override or nb.metadata.get("exercise")
    if not name and NAME.match(path.stem):
        name = path.stem
    if not name:
        raise Unusable(f"{path}: cannot tell which exercise this is (no 'exercise' metadata, "
                       "file name not NN_topic.ipynb; use --exercise)")
    solution = solutions / f"{name}.ipynb"
    if not isinstance(name, str) or not NAME.match(name) or not solution.exists():
        known = ", ".join(p.stem for p in sorted(solutions.glob("[0-9][0-9]_*.ipynb")))
        raise Unusable(f"{path}: unknown exercise {name!r} (known: {known})")
    return solution


def metadata_mismatch(nb: nbformat.NotebookNode, override: str | None) -> str | None:
    """The warning for a submission whose metadata names another exercise than --exercise."""
    said = nb.metadata.get("exercise")
    if override and said is not None and said != override:
        shown = str(said)[:60].encode("ascii", "backslashreplace").decode()
        return (f"the notebook's metadata names exercise {shown!r}; "
                f"graded as {override} (--exercise)")
    return None


@dataclass
class Cell:
    """One code cell of the grading notebook (the guard is cell 0, the n-th planned cell is cell n)."""

    kind: str  # guard, setup, answer, helper, check; skipped: a check left out of a learner run
    # whose tasks are others (grader.runner.run_learner)
    source: str
    task: str | None = None
    points: float = 0
    check: int | None = None  # ordinal among check cells
    hidden: bool = False
    stub: bool = False
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Plan:
    """The grading notebook of one submission, before its guard cell is written."""

    exercise: str
    cells: list[Cell]
    tasks: dict[str, float]  # task -> max points, in notebook order
    notes: dict[str, list[str]]  # task -> messages about how the submission was read
    answer_names: dict[str, list[str]]
    warnings: list[str] = field(default_factory=list)  # about the submission as a whole

    @property
    def checks(self) -> list[Cell]:
        return [c for c in self.cells if c.kind == "check"]


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _task(cell: nbformat.NotebookNode) -> str | None:
    grade = cell.get("metadata", {}).get("grade", {})
    task = grade.get("task") if isinstance(grade, dict) else None
    return str(task) if task is not None else None


def _source(cell: nbformat.NotebookNode) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def defined_names(source: str) -> list[str]:
    """Top-level functions, classes and assigned names of a cell."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def plan(solution: nbformat.NotebookNode, submission: nbformat.NotebookNode,
         exercise: str) -> Plan:
    """Splice the submission's answers into the solution (see the module docstring)."""
    code = [c for c in solution.cells if c.cell_type == "code"]
    answer_tasks = [t for c in code if "answer" in _tags(c) and (t := _task(c))]
    answer_names: dict[str, list[str]] = {}
    for cell in code:
        if "answer" in _tags(cell):
            answer_names.setdefault(_task(cell), []).extend(defined_names(_source(cell)))
    pristine = {_source(c).strip() for c in code if "answer" not in _tags(c)}
    notes: dict[str, list[str]] = {t: [] for t in answer_tasks}

    answers: dict[str, list[str]] = {}
    helpers: dict[str, list[str]] = {}
    pending: list[str] = []
    untagged: list[str] = []
    learner = [c for c in submission.cells if c.get("cell_type") == "code"]
    for cell in learner:  # tagged answers first, so a missing one can be found among the rest
        task = _task(cell)
        if "answer" in _tags(cell) and task in notes:
            answers.setdefault(task, []).append(_source(cell))
    for cell in learner:
        tags, source, task = _tags(cell), _source(cell), _task(cell)
        if "answer" in tags and task in notes:
            helpers.setdefault(task, []).extend(pending)
            pending = []
        elif "check" in tags or "hidden-check" in tags or source.strip() in pristine \
                or not source.strip():
            continue
        else:
            names = set(defined_names(source))
            missing = [t for t in answer_tasks if t not in answers and names
                       and names >= set(answer_names.get(t, [None]))]
            if missing:
                answers[missing[0]] = [source]
                notes[missing[0]].append("answer found in a cell without the `answer` tag")
                helpers.setdefault(missing[0], []).extend(pending)
                pending = []
            else:
                pending.append(source)
    if pending:
        untagged.extend(pending)

    cells: list[Cell] = []
    tasks: dict[str, float] = {}
    emitted: set[str] = set()
    for cell in code:
        tags, source, task = _tags(cell), _source(cell), _task(cell)
        if "answer" in tags:
            if task in emitted:
                continue
            emitted.add(task)
            cells += [Cell("helper", s, task, findings=scan(s)) for s in helpers.get(task, [])]
            if task in answers:
                cells += [Cell("answer", s, task, findings=scan(s)) for s in answers[task]]
            else:
                notes[task].append("no answer cell for this task in the submission")
                cells.append(Cell("answer", release.strip_answer(source, task), task, stub=True))
        elif "check" in tags or "hidden-check" in tags:
            points = float(cell.metadata.get("grade", {}).get("points", 0))
            ordinal = sum(c.kind == "check" for c in cells)
            tasks[task] = tasks.get(task, 0) + points
            cells.append(Cell("check", source, task, points, ordinal, "hidden-check" in tags))
        else:
            cells.append(Cell("setup", source))
    if untagged:
        last = answer_tasks[-1] if answer_tasks else None
        if last:
            notes[last].append(f"{len(untagged)} code cell(s) after your last answer were not run")
    for task in tasks:
        notes.setdefault(task, [])
    return Plan(exercise, cells, tasks, notes, answer_names)


def guard_source(plan: Plan, config: dict) -> str:
    """The first cell of the grading notebook: installs grader.sandbox before any learner code."""
    cells = [{"source": c.source, "kind": c.kind, "check": c.check, "task": c.task}
             for c in plan.cells]
    config = {**config, "cells": cells, "answer_names": plan.answer_names}
    return ("import grader.sandbox\n"
            f"grader.sandbox.install(__import__('json').loads({json.dumps(config)!r}))\n"
            "del grader")
