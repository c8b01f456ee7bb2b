"""The suite's kernels start warm (`tools.warmkernel`): forked from a server that has imported
torch, yet each starts with nothing defined, in its own directory and environment, takes
interrupts, and ends with the launcher its client started."""
from __future__ import annotations

import os
import signal
import time

import nbformat
import psutil
import pytest
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel

from tools import notebooks, warmkernel

BOUND_S = 30  # waits below need well under a second


def notebook(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def printed(nb: nbformat.NotebookNode) -> list[str]:
    return ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} after {BOUND_S} s")
        time.sleep(0.05)


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


def test_an_interrupt_reaches_a_warm_kernel():
    kernel = RunningKernel(CURRENT_ENV_KERNEL_NAME)
    try:
        msg_id = kernel.kc.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(600)")
        while True:  # the cell runs: ipykernel ignores interrupts between cells
            msg = kernel.get_message("iopub", timeout=BOUND_S)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                break
        kernel.km.interrupt_kernel()
        while (reply := kernel.get_message("shell", timeout=BOUND_S))["parent_header"].get("msg_id") != msg_id:
            pass
        assert (reply["content"]["status"], reply["content"].get("ename")) == ("error", "KeyboardInterrupt")
        assert output_of(kernel, "print(1 + 1)") == "2\n"  # the kernel lives on
    finally:
        kernel.stop()


def test_a_killed_launcher_takes_its_kernel_with_it():
    kernel = RunningKernel(CURRENT_ENV_KERNEL_NAME)
    try:
        pid = int(output_of(kernel, "import os\nprint(os.getpid())"))
        launcher = kernel.km.provisioner.process.pid
        assert pid != launcher and not gone(pid)
        os.kill(launcher, signal.SIGKILL)
        wait_until(lambda: gone(pid), f"kernel {pid} still runs with its launcher killed")
    finally:
        kernel.stop()


def test_a_terminated_kernel_ends_its_launcher_with_its_status():
    kernel = RunningKernel(CURRENT_ENV_KERNEL_NAME)
    try:
        pid = int(output_of(kernel, "import os\nprint(os.getpid())"))
        process = kernel.km.provisioner.process
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: process.poll() is not None, "the launcher still runs")
        assert process.returncode == 128 + signal.SIGTERM
    finally:
        kernel.stop()
