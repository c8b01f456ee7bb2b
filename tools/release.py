"""Generate exercises/ from solutions/: the single source of every exercise.

Answer cells lose the code between `### BEGIN SOLUTION` and `### END SOLUTION` (replaced by
`raise NotImplementedError("Exercise N.M")`) and their outputs; `hidden-check` cells are dropped;
everything else, including the all-pass output of each check, is kept. Exercises are written in
the canonical form of tools/notebooks.py (nbformat 4.5): a cell keeps the id it has in the
solution.

    python -m tools.release            # write exercises/
    python -m tools.release --check    # exit 1 if exercises/ differs
"""
from __future__ import annotations

import copy
import re
import sys

import nbformat

from tools import generated, notebooks

SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*$",
                      re.DOTALL | re.MULTILINE)


def strip_answer(source: str, task: str) -> str:
    """Replace each solution block with a stub that names its task."""
    stub, count = SOLUTION.subn(lambda m: f'{m.group(1)}raise NotImplementedError("Exercise {task}")',
                                source)
    if count == 0:
        raise ValueError(f"answer cell of task {task} has no ### BEGIN SOLUTION block")
    return stub


def exercise_of(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The learner's notebook generated from a solution notebook."""
    nb = copy.deepcopy(solution)
    cells = []
    for cell in nb.cells:
        if notebooks.tagged(cell, "hidden-check"):
            continue
        if notebooks.tagged(cell, "answer"):
            task = cell.metadata.get("grade", {}).get("task")
            if not task:
                raise ValueError("an answer cell has no grade.task metadata")
            cell.source = strip_answer(cell.source, task)
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    nb.cells = cells
    return nb


def rendered() -> dict:
    """Path -> text of every exercise notebook the solutions generate."""
    return {notebooks.ROOT / "exercises" / solution.name: notebooks.dumps(exercise_of(notebooks.read(solution)))
            for solution in notebooks.toc_notebooks("solutions")}


def stale() -> list[str]:
    """Exercises that are missing, differ from what release produces, or have no solution."""
    return generated.stale(rendered(), notebooks.toc_notebooks("exercises"))


def main(argv: list[str] | None = None) -> int:
    return generated.main(__doc__, rendered, lambda: notebooks.toc_notebooks("exercises"),
                          "not what release produces from solutions/ (run `make release`)", argv)


if __name__ == "__main__":
    sys.exit(main())
