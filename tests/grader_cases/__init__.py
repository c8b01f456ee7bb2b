"""Submissions for the grader tests, generated from the solutions (nothing is committed twice).

Every variant starts from a solution or its generated exercise and changes only what the case is
about, so the cases follow the solutions when they change and cover every later exercise.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat

from tools import notebooks, release

SOLUTIONS = notebooks.toc_notebooks("solutions")

# Tasks whose answer is right when it returns None need a wrong answer of their own here.
WRONG_ANSWERS: dict[str, str] = {}


def answer_cells(nb) -> list:
    return [c for c in nb.cells if notebooks.tagged(c, "answer")]


def task_of(cell) -> str:
    return cell.metadata["grade"]["task"]


def tasks(path: Path) -> dict[str, float]:
    """task -> max points of a solution (check and hidden-check cells)."""
    out: dict[str, float] = {}
    for cell in notebooks.read(path).cells:
        if notebooks.tagged(cell, "check") or notebooks.tagged(cell, "hidden-check"):
            out[task_of(cell)] = out.get(task_of(cell), 0) + cell.metadata["grade"]["points"]
    return out


def wrong(source: str, task: str) -> str:
    """The answer with its solution block replaced by a plausible wrong one."""
    body = WRONG_ANSWERS.get(task, "return None")
    return release.SOLUTION.sub(lambda m: m.group(1) + body, source)


def write(nb, path: Path) -> Path:
    for cell in nb.cells:
        if nb.nbformat_minor < 5:
            cell.pop("id", None)
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


def variants(solution: Path, folder: Path) -> dict[str, dict]:
    """file name -> {"tasks": expected points per task} for one solution's standard variants."""
    stem = solution.stem
    full = tasks(solution)
    cases = {}
    write(notebooks.read(solution), folder / f"{stem}__solution.ipynb")
    cases[f"{stem}__solution.ipynb"] = {"tasks": full}
    write(release.exercise_of(notebooks.read(solution)), folder / f"{stem}__exercise.ipynb")
    cases[f"{stem}__exercise.ipynb"] = {"tasks": {t: 0 for t in full}}
    for task in full:
        nb = copy.deepcopy(notebooks.read(solution))
        for cell in answer_cells(nb):
            if task_of(cell) == task:
                cell.source = wrong(cell.source, task)
        name = f"{stem}__wrong_{task}.ipynb"
        write(nb, folder / name)
        cases[name] = {"tasks": {t: 0 if t == task else p for t, p in full.items()}}
    return cases


def _with_answers(base: str, answers: dict[str, str], helpers: dict[str, str] | None = None):
    """Exercise 1 from `base` ("solution" or "exercise") with some answers and helper cells."""
    nb = notebooks.read(notebooks.ROOT / "solutions" / "01_parameter.ipynb")
    nb = copy.deepcopy(nb if base == "solution" else release.exercise_of(nb))
    cells = []
    for cell in nb.cells:
        if notebooks.tagged(cell, "answer"):
            task = task_of(cell)
            if helpers and task in helpers:
                cells.append(nbformat.v4.new_code_cell(helpers[task]))
            if task in answers:
                cell.source = answers[task]
        cells.append(cell)
    nb.cells = cells
    return nb


FAKE_COMPARE = '''
def compare(task, cases, yours, torch_ref, observe=lambda r: r, summary=False, forbid=()):
    cases = list(cases)
    if summary:
        print(f"\\u2713 all {len(cases)} randomized cases match torch")
    else:
        for label, _ in cases:
            print(f"\\u2713 {label}")
'''

STUB = "def {name}(*args):\n    return None"


def tamper_cases(folder: Path) -> dict[str, dict]:
    """Exercise-1 submissions that tamper or misbehave, with the points each must get."""
    full = tasks(notebooks.ROOT / "solutions" / "01_parameter.ipynb")
    zero = {t: 0 for t in full}
    cases: dict[str, tuple] = {}

    nb = release.exercise_of(notebooks.read(notebooks.ROOT / "solutions" / "01_parameter.ipynb"))
    edited = copy.deepcopy(nb)  # checks rewritten to print the stored all-pass output
    for cell in edited.cells:
        if notebooks.tagged(cell, "check"):
            cell.source = "print(" + repr(cell.outputs[0]["text"]) + ", end='')"
    cases["edits_checks"] = (edited, zero, "ok")
    deleted = copy.deepcopy(nb)
    deleted.cells = [c for c in deleted.cells if not notebooks.tagged(c, "check")]
    cases["deletes_checks"] = (deleted, zero, "ok")

    # compare replaced through globals: prints exactly the all-pass output, reports nothing
    cases["fake_compare"] = (_with_answers("exercise", {}, {"1.1": FAKE_COMPARE}), zero, "ok")
    # the real compare, called with torch on both sides: every ✓ is genuine but measures torch
    swap = ("real_compare = compare\n\n"
            "def compare(task, cases, yours, torch_ref, **kw):\n"
            "    return real_compare(task, cases, torch_ref, torch_ref, **kw)")
    cases["torch_as_yours"] = (_with_answers("exercise", {}, {"1.1": swap}), zero, "ok")
    # the grader's module replaced in sys.modules
    modules = ("import sys, types\n"
               "fake = types.ModuleType('grader.checks')\n" + FAKE_COMPARE +
               "\nfake.compare = compare\nsys.modules['grader.checks'] = fake\n"
               "from grader.checks import compare")
    cases["replaces_grader_module"] = (_with_answers("exercise", {}, {"1.1": modules}), zero, "ok")
    # torch monkeypatched so that torch agrees with a wrong answer (1.3); 1.1 and 1.2 are right
    patch = ("def init_uniform_(tensor, bound):\n    return tensor\n\n"
             "nn.init.uniform_ = lambda tensor, a=0.0, b=1.0, generator=None: tensor")
    cases["monkeypatches_torch"] = (_with_answers("solution", {"1.3": patch}),
                                    {**full, "1.3": 0}, "ok")
    # the torch function being rebuilt, reached around the check's own guard
    calls = {"1.2": "clone_parameter = copy.deepcopy",
             "1.3": "_uniform = nn.init.uniform_\n\n"
                    "def init_uniform_(tensor, bound):\n    return _uniform(tensor, -bound, bound)"}
    cases["calls_torch"] = (_with_answers("solution", calls), {**full, "1.2": 0, "1.3": 0}, "ok")

    # misbehaving code: each costs its own task at most, and ends with a clear status
    exits = "def clone_parameter(param):\n    import sys\n    sys.exit(3)"
    cases["sys_exit"] = (_with_answers("solution", {"1.2": exits}), {**full, "1.2": 0}, "ok")
    dies = "def clone_parameter(param):\n    import os\n    os._exit(3)"
    cases["os_exit"] = (_with_answers("solution", {"1.2": dies}), {**full, "1.2": 0, "1.3": 0},
                        "crashed")
    loops = "def clone_parameter(param):\n    while True:\n        pass"
    cases["infinite_loop"] = (_with_answers("solution", {"1.2": loops}), {**full, "1.2": 0},
                              "timeout")
    bomb = "def clone_parameter(param):\n    return bytearray(1 << 40)"
    cases["memory_bomb"] = (_with_answers("solution", {"1.2": bomb}, {"1.2": "hog = [0] * (1 << 36)"}),
                            {**full, "1.2": 0}, "ok")
    flood = ("def clone_parameter(param):\n    print('x' * 10_000_000)\n"
             "    return copy.deepcopy(param)")
    cases["huge_output"] = (_with_answers("solution", {"1.2": flood},
                                          {"1.2": "print('y' * 50_000_000)"}),
                            {**full, "1.2": 0}, "ok")
    warns = ("import warnings\n\n"
             "def registration_kind(value):\n    warnings.warn('about to decide', UserWarning)\n"
             "    import sys\n    print('a note on stderr', file=sys.stderr)\n"
             "    return _kind(value)")
    helper = ("def _kind(value):\n    for cls, kind in [(nn.Parameter, 'parameter'), "
              "(nn.Buffer, 'buffer'), (nn.Module, 'module')]:\n"
              "        if isinstance(value, cls):\n            return kind\n    return 'attribute'")
    cases["warnings_and_helpers"] = (_with_answers("solution", {"1.1": warns}, {"1.1": helper}),
                                     full, "ok")

    # layout changes: answers found by task wherever they are
    moved = copy.deepcopy(notebooks.read(notebooks.ROOT / "solutions" / "01_parameter.ipynb"))
    answers = answer_cells(moved)
    moved.cells = [c for c in moved.cells if c not in answers and not notebooks.tagged(c, "hidden-check")]
    moved.cells = [c for c in moved.cells if not (notebooks.tagged(c, "check") and task_of(c) == "1.2")]
    moved.cells += [nbformat.v4.new_markdown_cell("My answers")] + answers[::-1]
    cases["moved_and_deleted_cells"] = (moved, full, "ok")
    missing = copy.deepcopy(notebooks.read(notebooks.ROOT / "solutions" / "01_parameter.ipynb"))
    missing.cells = [c for c in missing.cells
                     if not (notebooks.tagged(c, "answer") and task_of(c) == "1.2")]
    cases["missing_answer"] = (missing, {**full, "1.2": 0}, "ok")
    untagged = copy.deepcopy(notebooks.read(notebooks.ROOT / "solutions" / "01_parameter.ipynb"))
    for cell in answer_cells(untagged):
        if task_of(cell) == "1.3":
            cell.metadata = {}
    cases["answer_without_tag"] = (untagged, full, "ok")
    # an honest slip: the answer cell does not parse, so its function is never defined
    slip = "def clone_parameter(param):\n    return (copy.deepcopy(param)\n"
    cases["syntax_error_in_answer"] = (_with_answers("solution", {"1.2": slip}),
                                       {**full, "1.2": 0}, "ok")

    out = {}
    for name, (nb, points, status) in cases.items():
        write(nb, folder / f"01_parameter__{name}.ipynb")
        out[f"01_parameter__{name}.ipynb"] = {"tasks": points, "status": status}
    return out


def malformed(folder: Path) -> dict[str, str]:
    """file name -> the words its one-line error must contain."""
    files = {
        "not_json.ipynb": ("{ this is not json", "not JSON"),
        "a_list.ipynb": ("[1, 2, 3]", "not a notebook"),
        "old_format.ipynb": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "cells": [],
                                         "metadata": {}}), "unsupported nbformat 3"),
        "99_unknown.ipynb": (nbformat.writes(nbformat.v4.new_notebook()), "unknown exercise"),
    }
    nb = nbformat.v4.new_notebook(metadata={"exercise": "07_nothing"})
    files["renamed.ipynb"] = (nbformat.writes(nb), "unknown exercise '07_nothing'")
    for name, (text, _) in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return {name: words for name, (_, words) in files.items()}
