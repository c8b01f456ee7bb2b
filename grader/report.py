"""Show grades: a table for people, Gradescope's results.json, a CSV gradebook, feedback files.

Names and messages can hold anything a file system or a learner's code can produce (newlines,
ANSI escape sequences, bytes that are not UTF-8); everything shown here goes through `printable`
first, so no control character reaches a terminal, a CSV cell or a feedback file.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import shlex
import unicodedata
from collections.abc import Iterable
from typing import IO

from grader.verdict import Grade

WIDTH = 240  # longest message shown in the table
ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
COLUMNS = ("file", "exercise", "status")
TRAILER = ("total", "max", "seed", "isolation", "seconds", "feedback", "detail")


def printable(text: str) -> str:
    """`text` with control and format characters escaped and undecodable bytes as \\xNN.

    File names that are not UTF-8 reach Python as lone surrogates (surrogateescape); each
    becomes the \\xNN of its byte. A backslash is doubled, so the escaped form is unambiguous.
    """
    out = []
    for char in text:
        code = ord(char)
        if char in ESCAPES:
            out.append(ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def isolation(grade: Grade) -> str:
    """How the learner's code was isolated: bwrap, uid or none."""
    return str(getattr(grade, "isolation", "none"))


def _num(value: float) -> str:
    return f"{value:g}"


def _short(message: str) -> str:
    return message if len(message) <= WIDTH else message[:WIDTH - 3] + "..."


def _rows(rows: list[tuple[str, str, str, str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3] for row in rows]


def table(grade: Grade) -> str:
    """A plain-text table: task, points/max, status, and why points were lost."""
    if not grade.exercise:  # nothing ran: say why, in one line
        return f"{printable(grade.file)}: not graded ({grade.status}: {printable(grade.detail)})"
    lines = [f"{printable(grade.file)}: exercise {grade.exercise}, hidden-check seed {grade.seed}, "
             f"isolation {isolation(grade)}"]
    rows = [("task", "points", "status", "first difference / error")]
    for task in grade.tasks:
        rows.append((task.task, f"{_num(task.points)}/{_num(task.max_points)}", task.status,
                     printable(_short(task.message))))
    lines += _rows(rows)
    status = grade.status + (f": {printable(grade.detail)}" if grade.detail else "")
    lines.append(f"total {_num(grade.points)}/{_num(grade.max_points)}  "
                 f"({status}; {grade.seconds:.1f} s)")
    lines += [f"warning: {printable(w)}" for w in getattr(grade, "warnings", [])]
    return "\n".join(line.rstrip() for line in lines)


def visible_table(grade: Grade) -> str:
    """The table a student may see before grades are published: visible checks only."""
    lines = [f"exercise {grade.exercise}: visible checks"]
    rows = [("task", "points", "status", "first difference / error")]
    hidden = 0.0
    for task in grade.tasks:
        shown = [c for c in task.checks if not c.hidden]
        hidden += sum(c.max_points for c in task.checks if c.hidden)
        if not shown:
            continue
        got, top = sum(c.points for c in shown), sum(c.max_points for c in shown)
        failed = [c.message for c in shown if not c.passed and c.message]
        status = "passed" if got >= top else "partial" if got > 0 else "failed"
        rows.append((task.task, f"{_num(got)}/{_num(top)}", status,
                     printable(_short(failed[0])) if failed else ""))
    lines += _rows(rows)
    if grade.status != "ok":
        lines.append(f"the run ended early: {grade.status}")
    if hidden:
        lines.append(f"hidden checks ({_num(hidden)} points): results shown once grades are published")
    return "\n".join(line.rstrip() for line in lines)


def gradescope(grade: Grade) -> dict:
    """Gradescope's results.json: one test per check cell; hidden checks show after publishing.

    The top-level `output` and the visible tests are what a student sees at once, so they come
    from the visible checks only; everything about a hidden check is in its own test, whose
    visibility is `after_published`. The seed and the isolation level go to `extra_data`.
    """
    tests = []
    for task in grade.tasks:
        for n, check in enumerate(task.checks, 1):
            kind = "hidden check" if check.hidden else "check"
            tests.append({
                "name": f"Task {task.task}, {kind} {n}",
                "score": check.points,
                "max_score": check.max_points,
                "status": "passed" if check.passed else "failed",
                "output": printable(check.message) or "\u2713 all cases match torch",
                "visibility": "after_published" if check.hidden else "visible",
            })
    return {"score": grade.points, "execution_time": round(grade.seconds, 3),
            "output": visible_table(grade), "stdout_visibility": "hidden",
            "extra_data": {"exercise": grade.exercise, "status": grade.status,
                           "seed": grade.seed, "isolation": isolation(grade)},
            "tests": tests}


def unusable(reason: str) -> dict:
    """results.json for a submission that could not be graded at all."""
    return {"score": 0, "output": f"Not graded: {printable(reason)}",
            "stdout_visibility": "hidden", "tests": []}


def dumps_json(grade: Grade) -> str:
    return json.dumps(gradescope(grade), indent=2, ensure_ascii=False)


def feedback_name(file: str) -> str:
    """A safe, unique file name for the feedback of submission `file` (a relative path)."""
    safe = UNSAFE.sub("_", file.replace("/", "__")).strip("._") or "submission"
    if safe != file:
        safe += "-" + hashlib.sha256(file.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return safe + ".txt"


def feedback(grade: Grade) -> str:
    """What a student can be sent: the table, then every check with its first difference."""
    if not grade.exercise:
        return table(grade) + "\n"
    lines = [table(grade), "", f"isolation of your code while it ran: {isolation(grade)}",
             "replay this grade: python -m grader "
             f"{shlex.quote(printable(grade.file))} --exercise {grade.exercise} --seed {grade.seed}",
             "", "every check:"]
    for task in grade.tasks:
        for n, check in enumerate(task.checks, 1):
            kind = "hidden check" if check.hidden else "check"
            result = printable(check.message) if check.message else "\u2713 all cases match torch"
            lines.append(f"Task {task.task}, {kind} {n} ({_num(check.points)}/"
                         f"{_num(check.max_points)}): {result}")
        if task.notes and task.status != "passed":
            lines += [f"Task {task.task}: {printable(note)}" for note in task.notes]
    if not grade.tasks:
        lines.append(f"none ran: {printable(grade.detail)}")
    return "\n".join(lines) + "\n"


def task_order(task: str) -> tuple:
    """Sort key of a task name such as "3.10": by its numbers, not its text."""
    return tuple(int(p) if p.isdigit() else 0 for p in task.split("."))


class Gradebook:
    """A CSV gradebook written row by row: each row is on disk as soon as its grade is known.

    The task columns are fixed when the batch starts (every task of every exercise in it, in
    exercise and task order), so the columns never depend on which submission finished first.
    """

    def __init__(self, out: IO[str], tasks: Iterable[str]) -> None:
        self.out, self.tasks = out, list(tasks)
        self.writer = csv.writer(out)
        self.writer.writerow([*COLUMNS, *self.tasks, *TRAILER])
        out.flush()

    def add(self, grade: Grade, feedback_file: str = "") -> None:
        points = {t.task: _num(t.points) for t in grade.tasks}
        self.writer.writerow([printable(grade.file), grade.exercise, grade.status,
                              *[points.get(t, "") for t in self.tasks], _num(grade.points),
                              _num(grade.max_points), grade.seed, isolation(grade),
                              f"{grade.seconds:.1f}", feedback_file, printable(grade.detail)])
        self.out.flush()


def write_csv(grades: Iterable[Grade], out: IO[str]) -> None:
    """One row per grade, the task columns in exercise and task order."""
    grades = list(grades)
    tasks = sorted({(g.exercise, t.task) for g in grades for t in g.tasks},
                   key=lambda et: (et[0], task_order(et[1])))
    book = Gradebook(out, dict.fromkeys(t for _, t in tasks))
    for grade in grades:
        book.add(grade)
