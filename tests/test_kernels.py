"""`tools.notebooks.execute` shuts its kernel down when the notebook is done, however it ends.

Each run records the kernel's process id from inside the kernel, then the tests check that the
process is gone and that no kernel process is left below this one. Kernels, tools.notebooks' and
nbval's alike, talk over Unix sockets (no TCP port for another process to take first).

The suite's kernels start warm (`tools.warmkernel`): forked from a server that has imported
torch, yet each starts with nothing defined, in its own directory and environment, takes
interrupts, and ends with the launcher its client started. A warm kernel ends a moment after its
launcher is killed, so the tests wait for it, with a bound far above the need.
"""
from __future__ import annotations

import os
import signal

import nbformat
import psutil
import pytest
from nbclient.exceptions import CellExecutionError
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel

from conftest import BOUND_S, wait_until
from tools import notebooks, warmkernel

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


def wait_gone(pid: int) -> None:
    wait_until(lambda: gone(pid), f"kernel {pid} is still running")


def kernel_pid(nb: nbformat.NotebookNode) -> int:
    return int(nb.cells[0].outputs[0]["text"])


def test_a_finished_notebook_leaves_no_kernel(tmp_path):
    before = live_kernels()
    done = notebooks.execute(notebook(PID_CELL, "print(sum(range(10)))"), cwd=tmp_path)
    pid = kernel_pid(done)
    assert pid not in before and done.cells[1].outputs[0]["text"] == "45\n"
    wait_gone(pid)
    assert live_kernels() <= before


def test_a_notebook_stopped_by_an_error_leaves_no_kernel(tmp_path):
    before = live_kernels()
    nb = notebook(PID_CELL, f"open({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid()))",
                  "raise ValueError('stop here')", "print('never')")
    with pytest.raises(CellExecutionError, match="stop here"):
        notebooks.execute(nb, cwd=tmp_path)
    pid = int((tmp_path / "pid").read_text())
    wait_gone(pid)
    assert live_kernels() <= before


def test_many_notebooks_in_a_row_never_accumulate_kernels(tmp_path):
    before = live_kernels()
    pids = set()
    for _ in range(3):
        pids.add(kernel_pid(notebooks.execute(notebook(PID_CELL), cwd=tmp_path)))
        assert live_kernels() <= before
    assert len(pids) == 3, "each run has a fresh kernel"
    for pid in pids:
        wait_gone(pid)


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


@pytest.fixture
def kernel():
    """A kernel as nbval starts one (through the suite's plugin), stopped after the test."""
    kernel = RunningKernel(CURRENT_ENV_KERNEL_NAME)
    yield kernel
    kernel.stop()


@pytest.mark.skipif(not notebooks.UNIX_SOCKETS, reason="no Unix sockets on this system")
def test_nbval_kernels_talk_over_unix_sockets_too(kernel):
    """nbval starts its kernels itself; the suite's plugin gives them the same transport."""
    assert kernel.km.transport == "ipc"
    assert kernel.km.connection_file and os.path.exists(f"{kernel.km.ip}-{kernel.km.shell_port}")


warm_only = pytest.mark.skipif(warmkernel.switched_off(),
                               reason=f"{warmkernel.SWITCH_VAR}=off: every kernel starts cold")


def printed(nb: nbformat.NotebookNode) -> list[str]:
    return ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]


def output_of(kernel: RunningKernel, code: str) -> str:
    msg_id = kernel.kc.execute(code)
    text = ""
    while True:
        msg = kernel.get_message("iopub", timeout=BOUND_S)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return text


PROBE = "import os, sys\nprint('torch' in sys.modules, os.getpid(), os.getppid())"


@warm_only
def test_the_suite_starts_kernels_warm_and_each_one_empty(tmp_path):
    """torch is loaded before the first cell; a name the first notebook defined is not in the
    second; each kernel is a process of its own, forked from one server."""
    first = printed(notebooks.execute(notebook(PROBE, "x = 42"), cwd=tmp_path))
    second = printed(notebooks.execute(notebook(PROBE, "print('x' in dir())"), cwd=tmp_path))
    (loaded1, pid1, parent1), (loaded2, pid2, parent2) = first[0].split(), second[0].split()
    assert loaded1 == loaded2 == "True"
    assert second[1] == "False\n"
    assert pid1 != pid2 and parent1 == parent2 != str(os.getpid())
    assert "--serve" in psutil.Process(int(parent1)).cmdline()


def test_switched_off_every_kernel_starts_cold(tmp_path, monkeypatch):
    monkeypatch.setenv(warmkernel.SWITCH_VAR, "off")
    loaded, pid, parent = printed(notebooks.execute(notebook(PROBE), cwd=tmp_path))[0].split()
    assert loaded == "False"
    assert int(parent) == os.getpid()  # the launcher became the kernel its manager started


@warm_only
def test_an_interrupt_reaches_a_warm_kernel(kernel):
    msg_id = kernel.kc.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(600)")
    while True:  # the cell runs: ipykernel ignores interrupts between cells
        msg = kernel.get_message("iopub", timeout=BOUND_S)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    kernel.km.interrupt_kernel()
    reply = kernel.get_message("shell", timeout=BOUND_S)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.get_message("shell", timeout=BOUND_S)
    content = reply["content"]
    assert (content["status"], content.get("ename")) == ("error", "KeyboardInterrupt")
    assert output_of(kernel, "print(1 + 1)") == "2\n"  # the kernel lives on


@warm_only
def test_a_killed_launcher_takes_its_kernel_with_it(kernel):
    pid, launcher = int(output_of(kernel, PID_CELL)), kernel.km.provisioner.process.pid
    assert pid != launcher and not gone(pid)
    os.kill(launcher, signal.SIGKILL)
    wait_gone(pid)


@warm_only
def test_a_terminated_kernel_ends_its_launcher_with_its_status(kernel):
    pid, launcher = int(output_of(kernel, PID_CELL)), kernel.km.provisioner.process
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: launcher.poll() is not None, "the launcher still runs")
    assert launcher.returncode == 128 + signal.SIGTERM
