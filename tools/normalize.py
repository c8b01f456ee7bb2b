"""Normalise notebooks: minimal metadata, stable JSON and, with --execute, a fresh top-to-bottom run.

    python -m tools.normalize --execute chapters/*.ipynb solutions/*.ipynb
    python -m tools.normalize chapters/*.ipynb              # canonical form only, no execution
    python -m tools.normalize --check chapters/*.ipynb      # exit 1 if any would change

Notebooks are written as nbformat 4.5, where every cell has an id. A cell keeps the id it has;
a cell without one (a 4.4 notebook, a cell added outside Jupyter) gets one derived from its type
and source, so converting a notebook twice gives the same ids and re-running the tools never
changes them. JupyterLab upgrades a 4.4 notebook by inventing ids, which marks it modified as soon
as it is opened. (It also writes the kernel's full `language_info`, Python version included, into
the metadata once the kernel starts, which the minimal metadata kept here does not hold.)
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import nbformat

from tools import notebooks

NBFORMAT_MINOR = 5
CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # what nbformat 4.5 accepts as a cell id
ID_LENGTH = 8


def _derived_id(cell: nbformat.NotebookNode, taken: set[str]) -> str:
    """A stable id for a cell that has none: a hash of its type and source, unique in `taken`."""
    seed = f"{cell.cell_type}\0{cell.source}"
    while True:
        cell_id = hashlib.sha1(seed.encode()).hexdigest()[:ID_LENGTH]
        if cell_id not in taken:
            return cell_id
        seed += "\0"


def canonical(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The canonical form: `notebooks.normalise`'s, in nbformat 4.5 with a unique id on every cell.

    Valid ids are kept (the first of two equal ones wins); every other cell gets a derived id.
    """
    ids = [cell.get("id") for cell in nb.cells]
    nb = notebooks.normalise(nb)
    nb.nbformat_minor = NBFORMAT_MINOR
    kept: list[str | None] = []
    for cell_id in ids:
        ok = isinstance(cell_id, str) and CELL_ID.match(cell_id) and cell_id not in kept
        kept.append(cell_id if ok else None)
    taken = {cell_id for cell_id in kept if cell_id}
    for cell, cell_id in zip(nb.cells, kept):
        cell.id = cell_id or _derived_id(cell, taken)
        taken.add(cell.id)
    return nb


def dumps(nb: nbformat.NotebookNode) -> str:
    """The canonical JSON text of a notebook."""
    return nbformat.writes(canonical(nb)) + "\n"


def write(nb: nbformat.NotebookNode, path: Path | str) -> bool:
    """Write the canonical form; return True when the file changed."""
    path, text = Path(path), dumps(nb)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def problems(path: Path) -> list[str]:
    """Why a committed notebook is not in canonical, freshly executed form (empty when it is)."""
    text = path.read_text(encoding="utf-8")
    nb = notebooks.read(path)
    found = []
    if text != dumps(nb):
        found.append("not normalised (run `make normalize`)")
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    if path.parent.name != "exercises" and counts != list(range(1, len(counts) + 1)):
        found.append(f"not executed top to bottom in a fresh kernel: execution counts {counts}")
    if "site-packages" in text or str(notebooks.ROOT) in text:
        found.append("an output shows a path of this machine (site-packages or the checkout)")
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"cell {i} writes to stderr")
            if "image/png" in out.get("data", {}):
                found.append(f"cell {i} holds a base64 image: save figures as files")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--execute", action="store_true", help="re-run each notebook in a fresh kernel")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on any problem")
    args = parser.parse_args(argv)
    status = 0
    for path in args.paths:
        if args.check:
            for problem in problems(path):
                print(f"{path}: {problem}")
                status = 1
            continue
        nb = notebooks.read(path)
        if args.execute:
            print(f"executing {path} ...", flush=True)
            nb = notebooks.execute(canonical(nb), cwd=path.parent.resolve())
        if write(nb, path):
            print(f"wrote {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
