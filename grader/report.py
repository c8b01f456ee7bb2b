"""Show grades: a table for people, Gradescope's results.json, and a CSV gradebook."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO

from grader.verdict import Grade

WIDTH = 240  # longest message shown in the table


def _num(value: float) -> str:
    return f"{value:g}"


def table(grade: Grade) -> str:
    """A plain-text table: task, points/max, status, and why points were lost."""
    lines = [f"{grade.file}: exercise {grade.exercise}, hidden-check seed {grade.seed}"]
    rows = [("task", "points", "status", "first difference / error")]
    for task in grade.tasks:
        message = task.message if len(task.message) <= WIDTH else task.message[:WIDTH - 3] + "..."
        rows.append((task.task, f"{_num(task.points)}/{_num(task.max_points)}", task.status,
                     message))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    status = grade.status + (f": {grade.detail}" if grade.detail else "")
    lines.append(f"total {_num(grade.points)}/{_num(grade.max_points)}  "
                 f"({status}; {grade.seconds:.1f} s)")
    return "\n".join(line.rstrip() for line in lines)


def gradescope(grade: Grade) -> dict:
    """Gradescope's results.json: one test per check cell; hidden checks show after publishing."""
    tests = []
    for task in grade.tasks:
        for n, check in enumerate(task.checks, 1):
            kind = "hidden check" if check.hidden else "check"
            tests.append({
                "name": f"Task {task.task}, {kind} {n}",
                "score": check.points,
                "max_score": check.max_points,
                "output": check.message or "\u2713 all cases match torch",
                "visibility": "after_published" if check.hidden else "visible",
            })
    return {"score": grade.points, "execution_time": round(grade.seconds, 3),
            "output": table(grade), "tests": tests}


def dumps_json(grade: Grade) -> str:
    return json.dumps(gradescope(grade), indent=2, ensure_ascii=False)


def write_csv(grades: Iterable[Grade], out: IO[str]) -> None:
    """One row per submission: file, exercise, status, points per task, total, max, seconds."""
    grades = list(grades)
    tasks: list[str] = []
    for grade in grades:
        tasks += [t.task for t in grade.tasks if t.task not in tasks]
    writer = csv.writer(out)
    writer.writerow(["file", "exercise", "status", *tasks, "total", "max", "seconds", "detail"])
    for grade in grades:
        points = {t.task: _num(t.points) for t in grade.tasks}
        writer.writerow([grade.file, grade.exercise, grade.status,
                         *[points.get(t, "") for t in tasks], _num(grade.points),
                         _num(grade.max_points), f"{grade.seconds:.1f}", grade.detail])
