"""Normalise notebooks: minimal metadata, stable JSON and, with --execute, a fresh top-to-bottom run.

    python -m tools.normalize --execute chapters/*.ipynb solutions/*.ipynb
    python -m tools.normalize chapters/*.ipynb              # canonical form only, no execution
    python -m tools.normalize --check chapters/*.ipynb      # exit 1 if any would change

The canonical form is `tools.notebooks.normalise`'s: nbformat 4.5 with a stable id on every cell.
(JupyterLab also writes the kernel's full `language_info`, Python version included, into the
metadata once the kernel starts, which the minimal metadata kept here does not hold.)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


from tools import notebooks

def problems(path: Path) -> list[str]:
    """Why a committed notebook is not in canonical, freshly executed form (empty when it is)."""
    text = path.read_text(encoding="utf-8")
    nb = notebooks.read(path)
    found = []
    if text != notebooks.dumps(nb):
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
            nb = notebooks.execute(notebooks.normalise(nb), cwd=path.parent.resolve())
        if notebooks.write(nb, path):
            print(f"wrote {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
