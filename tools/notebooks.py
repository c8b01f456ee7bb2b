"""Read, normalise, execute and write notebooks, so every committed notebook has one canonical form."""
from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat
from jupyter_client import AsyncKernelManager
from nbclient import NotebookClient
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager
from traitlets import default

ROOT = Path(__file__).resolve().parent.parent
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
NOTEBOOK_KEYS = ("exercise",)  # notebook metadata kept besides kernelspec and language_info
CELL_KEYS = ("tags", "grade")  # cell metadata kept; everything else is editor noise
CELL_TIMEOUT = 120
# Error outputs show the exception line only: full tracebacks would print paths of this machine's
# site-packages into the book (nbval ignores tracebacks when it compares outputs).
KERNEL_ARGS = ["--InteractiveShell.xmode=Minimal"]


class CurrentEnvKernelManager(AsyncKernelManager):
    """Starts nbval's kernel of this very environment (the kernel `pytest --nbval-current-env` uses)."""

    @default("kernel_spec_manager")
    def _current_env_kernelspecs(self):
        return NbvalKernelspecManager(data_dir=self.data_dir)


def read(path: Path | str) -> nbformat.NotebookNode:
    """Read a notebook as nbformat v4."""
    return nbformat.read(str(path), as_version=4)


def _merge_streams(outputs: list) -> list:
    merged: list = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged
                and merged[-1].get("output_type") == "stream" and merged[-1]["name"] == out["name"]):
            merged[-1]["text"] += out["text"]
        else:
            merged.append(out)
    return merged


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy with minimal metadata, no cell ids and canonical outputs."""
    nb = copy.deepcopy(nb)
    nb.nbformat, nb.nbformat_minor = 4, 4
    kept = {k: nb.metadata[k] for k in NOTEBOOK_KEYS if k in nb.metadata}
    nb.metadata = nbformat.from_dict(
        {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}, **kept})
    for cell in nb.cells:
        cell.pop("id", None)
        cell.metadata = nbformat.from_dict({k: cell.metadata[k] for k in CELL_KEYS if k in cell.metadata})
        if isinstance(cell.source, list):
            cell.source = "".join(cell.source)
        cell.source = cell.source.rstrip("\n")
        if cell.cell_type == "code":
            for out in cell.outputs:
                if "metadata" in out:
                    out.metadata = {}
                if out.get("output_type") == "stream" and isinstance(out.get("text"), list):
                    out.text = "".join(out.text)
            cell.outputs = _merge_streams(cell.outputs)
    return nb


def dumps(nb: nbformat.NotebookNode) -> str:
    """The canonical JSON text of a notebook."""
    return nbformat.writes(normalise(nb)) + "\n"


def write(nb: nbformat.NotebookNode, path: Path | str) -> bool:
    """Write the canonical form; return True when the file changed."""
    path = Path(path)
    text = dumps(nb)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def execute(nb: nbformat.NotebookNode, cwd: Path, allow_errors: bool = False,
            env: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """Run every cell top to bottom in a fresh kernel of this environment (as nbval does).

    Without `allow_errors`, an error in a cell not tagged `raises-exception` stops the run.
    The kernel is shut down when the run ends, however it ends: the client creates its own
    kernel manager, and nbclient only shuts down kernels whose manager it owns.
    """
    nb = copy.deepcopy(nb)
    client = NotebookClient(nb, kernel_name=CURRENT_ENV_KERNEL_NAME,
                            kernel_manager_class=CurrentEnvKernelManager, shutdown_kernel="immediate",
                            timeout=CELL_TIMEOUT, allow_errors=allow_errors,
                            extra_arguments=KERNEL_ARGS, resources={"metadata": {"path": str(cwd)}})
    client.execute(**({"env": {**os.environ, **env}} if env else {}))
    return nb


def tagged(cell: nbformat.NotebookNode, tag: str) -> bool:
    """True when the cell carries `tag`."""
    return tag in cell.get("metadata", {}).get("tags", [])


def toc_notebooks(folder: str) -> list[Path]:
    """The notebooks of `folder` in table-of-contents (file name) order."""
    return sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))
