"""`tools.notebooks.execute` shuts its kernel down when the notebook is done, however it ends.

Each run records the kernel's process id from inside the kernel, then the tests check that the
process is gone and that no kernel process is left below this one. Kernels, tools.notebooks' and
nbval's alike, talk over Unix sockets (no TCP port for another process to take first).
"""
from __future__ import annotations

import os

import nbformat
import psutil
import pytest
from nbclient.exceptions import CellExecutionError

from tools import notebooks

PID_CELL = "import os\nprint(os.getpid())"


def notebook(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def live_kernels() -> set[int]:
    """Pids of Jupyter kernels running below this process (zombies excluded)."""
    pids = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            if (proc.status() != psutil.STATUS_ZOMBIE
                    and any("ipykernel_launcher" in part for part in proc.cmdline())):
                pids.add(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return pids


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def kernel_pid(nb: nbformat.NotebookNode) -> int:
    return int(nb.cells[0].outputs[0]["text"])


def test_a_finished_notebook_leaves_no_kernel(tmp_path):
    before = live_kernels()
    done = notebooks.execute(notebook(PID_CELL, "print(sum(range(10)))"), cwd=tmp_path)
    pid = kernel_pid(done)
    assert pid not in before and done.cells[1].outputs[0]["text"] == "45\n"
    assert gone(pid), f"kernel {pid} is still running"
    assert live_kernels() <= before


def test_a_notebook_stopped_by_an_error_leaves_no_kernel(tmp_path):
    before = live_kernels()
    nb = notebook(PID_CELL, f"open({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid()))",
                  "raise ValueError('stop here')", "print('never')")
    with pytest.raises(CellExecutionError, match="stop here"):
        notebooks.execute(nb, cwd=tmp_path)
    pid = int((tmp_path / "pid").read_text())
    assert gone(pid), f"kernel {pid} is still running"
    assert live_kernels() <= before


def test_many_notebooks_in_a_row_never_accumulate_kernels(tmp_path):
    before = live_kernels()
    pids = set()
    for _ in range(3):
        pids.add(kernel_pid(notebooks.execute(notebook(PID_CELL), cwd=tmp_path)))
        assert live_kernels() <= before
    assert len(pids) == 3, "each run has a fresh kernel"
    assert all(gone(pid) for pid in pids)


def test_the_kernel_runs_in_cwd_with_the_given_environment(tmp_path):
    done = notebooks.execute(notebook("import os\nprint(os.getcwd(), os.environ['BOOK_PROBE'])"),
                             cwd=tmp_path, env={"BOOK_PROBE": "probe-42"})
    assert done.cells[0].outputs[0]["text"] == f"{tmp_path} probe-42\n"


def test_torch_gets_one_thread_in_the_suite_and_its_kernels(tmp_path):
    """tools/pytest_plugin.py sets OMP_NUM_THREADS (default 1) before torch loads, for the pytest
    processes and every kernel they start: two workers on two cores leave no core for a second
    thread."""
    import torch

    threads = int(os.environ["OMP_NUM_THREADS"])  # KeyError: the plugin did not set it
    assert torch.get_num_threads() == threads
    done = notebooks.execute(notebook("import torch\nprint(torch.get_num_threads())"), cwd=tmp_path)
    assert done.cells[0].outputs[0]["text"] == f"{threads}\n"


TRANSPORT_CELL = ("from ipykernel.kernelapp import IPKernelApp\n"
                  "app = IPKernelApp.instance()\nprint(app.transport, app.ip)")


@pytest.mark.skipif(not notebooks.UNIX_SOCKETS, reason="no Unix sockets on this system")
def test_kernels_talk_over_unix_sockets_in_a_private_folder(tmp_path):
    """No TCP port is picked and bound a second later, so no other process can take it between."""
    done = notebooks.execute(notebook(TRANSPORT_CELL), cwd=tmp_path)
    transport, prefix = done.cells[0].outputs[0]["text"].split()
    assert transport == "ipc"
    folder = os.path.dirname(prefix)
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert len(prefix) + len("-65535") < 107  # a Unix socket path's limit
    assert not [f for f in os.listdir(folder) if f.startswith(os.path.basename(prefix))]  # removed


@pytest.mark.skipif(not notebooks.UNIX_SOCKETS, reason="no Unix sockets on this system")
def test_nbval_kernels_talk_over_unix_sockets_too():
    """nbval starts its kernels itself; the suite's plugin gives them the same transport."""
    import nbval.kernel

    kernel = nbval.kernel.RunningKernel(nbval.kernel.CURRENT_ENV_KERNEL_NAME)
    try:
        assert kernel.km.transport == "ipc"
        assert kernel.km.connection_file and os.path.exists(f"{kernel.km.ip}-{kernel.km.shell_port}")
    finally:
        kernel.stop()
