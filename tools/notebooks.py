"""Read, normalise, execute and write notebooks, so every committed notebook has one canonical form."""
from __future__ import annotations

import atexit
import copy
import functools
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import nbformat
from jupyter_client import AsyncKernelManager
from nbclient import NotebookClient
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager
from traitlets import default

from tools import warmkernel

ROOT = Path(__file__).resolve().parent.parent
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
NOTEBOOK_KEYS = ("exercise",)  # notebook metadata kept besides kernelspec and language_info
CELL_KEYS = ("tags", "grade")  # cell metadata kept; everything else is editor noise
CELL_TIMEOUT = 120
# Error outputs show the exception line only: full tracebacks would print paths of this machine's
# site-packages into the book (nbval ignores tracebacks when it compares outputs). The kernel
# application's own log (its TCP notice at start, "parent appears to have exited" at shutdown) is
# terminal noise; warnings raised by a cell still reach the cell's output.
KERNEL_ARGS = ["--InteractiveShell.xmode=Minimal", "--IPKernelApp.log_level=ERROR"]
# nbformat 4.5: every cell has an id. A cell keeps the id it has; a cell without one (a 4.4
# notebook, a cell added outside Jupyter) gets one derived from its type and source, so converting
# twice gives the same ids and JupyterLab does not invent new ones (marking the file modified).
NBFORMAT_MINOR = 5
CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # what nbformat 4.5 accepts as a cell id
ID_LENGTH = 8


# Kernels started here talk to their client over Unix sockets, not TCP. A TCP kernel's manager
# picks five free ports, and the kernel binds them a second later, when Python has started; in
# between another process (the second test worker, any client connecting somewhere) may take one,
# and the kernel dies at start with "Address already in use". A socket file has no such gap. The
# files live in one private folder per process with a short path (a Unix socket's path has at most
# 107 bytes), removed when the process exits. Windows has no Unix sockets there: TCP stays.
UNIX_SOCKETS = os.name == "posix"


@functools.cache
def _socket_folder() -> str:
    folder = tempfile.mkdtemp(prefix="kernels-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _socket_prefix() -> str:
    """A fresh path prefix for one kernel's socket files (the kernel adds -PORT to it)."""
    return os.path.join(_socket_folder(), uuid.uuid4().hex[:12])


def over_unix_sockets(manager: type) -> type:
    """A subclass of the kernel manager class `manager` whose kernels use Unix sockets."""
    if not UNIX_SOCKETS:
        return manager

    class UnixSocketKernelManager(manager):
        @default("transport")
        def _unix_sockets(self):
            return "ipc"

        @default("ip")
        def _socket_files(self):
            return _socket_prefix()

    UnixSocketKernelManager.__name__ = UnixSocketKernelManager.__qualname__ = manager.__name__
    return UnixSocketKernelManager


class KernelSpecs(NbvalKernelspecManager):
    """nbval's kernel specs, whose kernel of this environment starts warm where the process asked
    for warm kernels (`tools.warmkernel`; the test suite does)."""

    def get_kernel_spec(self, kernel_name):
        spec = super().get_kernel_spec(kernel_name)
        if kernel_name == CURRENT_ENV_KERNEL_NAME:
            warmkernel.adapt(spec)
        return spec


@over_unix_sockets
class CurrentEnvKernelManager(AsyncKernelManager):
    """Starts nbval's kernel of this very environment (the kernel `pytest --nbval-current-env` uses)."""

    @default("kernel_spec_manager")
    def _current_env_kernelspecs(self):
        return KernelSpecs(data_dir=self.data_dir)


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


def _derived_id(cell: nbformat.NotebookNode, taken: set[str]) -> str:
    """A stable id for a cell that has none: a hash of its type and source, unique in `taken`."""
    seed = f"{cell.cell_type}\0{cell.source}"
    while True:
        cell_id = hashlib.sha1(seed.encode()).hexdigest()[:ID_LENGTH]
        if cell_id not in taken:
            return cell_id
        seed += "\0"


def _stable_ids(nb: nbformat.NotebookNode) -> None:
    """Keep every valid id (the first of two equal ones wins); derive one for every other cell."""
    kept: list[str | None] = []
    for cell in nb.cells:
        cell_id = cell.get("id")
        ok = isinstance(cell_id, str) and CELL_ID.match(cell_id) and cell_id not in kept
        kept.append(cell_id if ok else None)
    taken = {cell_id for cell_id in kept if cell_id}
    for cell, cell_id in zip(nb.cells, kept):
        cell.id = cell_id or _derived_id(cell, taken)
        taken.add(cell.id)


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy in canonical form: nbformat 4.5 with stable cell ids, minimal metadata and
    canonical outputs."""
    nb = copy.deepcopy(nb)
    nb.nbformat, nb.nbformat_minor = 4, NBFORMAT_MINOR
    kept = {k: nb.metadata[k] for k in NOTEBOOK_KEYS if k in nb.metadata}
    nb.metadata = nbformat.from_dict(
        {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}, **kept})
    for cell in nb.cells:
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
    _stable_ids(nb)
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


# A numbered page: NN_topic.ipynb, or NNx_topic.ipynb (a lower-case letter after the number) for a
# section page of chapter NN, which _toc.yml lists under the chapter and which sorts right after it.
PAGE_NAME = re.compile(r"(?P<chapter>[0-9]{2})(?P<section>[a-z]?)_[^/]+\.ipynb")


def toc_notebooks(folder: str) -> list[Path]:
    """The numbered notebooks of `folder`, section pages included, in table-of-contents (file
    name) order: 02_registration, 02b_containers, 03_traversal."""
    return sorted(p for p in (ROOT / folder).glob("[0-9][0-9]*_*.ipynb") if PAGE_NAME.fullmatch(p.name))


def _numbered(page: Path) -> re.Match:
    match = PAGE_NAME.fullmatch(page.name)
    if match is None:
        raise ValueError(f"{page.name}: not a numbered page (NN_topic.ipynb or NNx_topic.ipynb)")
    return match


def chapter_of(page: Path) -> str:
    """The number of the chapter a numbered page belongs to: 02b_containers.ipynb -> "02"."""
    return _numbered(page).group("chapter")


def is_section(page: Path) -> bool:
    """True for a section page (NNx_topic.ipynb), False for a chapter's own page (NN_topic.ipynb)."""
    return bool(_numbered(page).group("section"))
