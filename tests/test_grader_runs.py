"""Grading runs against real torch: test the tests, tampering, robustness, CLI and batch.

The expensive part is one batch over every generated submission (module-scoped fixture, two
parallel kernels); the tests below only read its grades.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import time

import nbformat
import pytest

from grader import batch, runner
from grader.assemble import plan
from grader.runner import Limits
from conftest import wait_until
from grader_cases import SOLUTIONS, tamper_cases, tasks, variants
from test_grader import assert_gradescope_shape, run_cli
from tools import notebooks, warmkernel

LIMITS = Limits(timeout=240, cell_timeout=120, cell_cpu=8, memory=2 << 30)
SEED = int(os.environ.get("GRADER_TEST_SEED", "0")) or None


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    expected = {}
    for solution in SOLUTIONS:
        expected.update(variants(solution, folder))
    expected.update(tamper_cases(folder))
    before = digest(folder)
    start = time.monotonic()
    grades = batch.grade_folder(folder, jobs=2, seed=SEED, limits=LIMITS, progress=None)
    seconds = time.monotonic() - start
    return {"grades": {os.path.basename(g.file): g for g in grades}, "expected": expected,
            "before": before, "after": digest(folder), "seconds": seconds}


def points(grade):
    return {t.task: t.points for t in grade.tasks}


def explain(grade):
    return f"seed {grade.seed}, status {grade.status} {grade.detail}: " + "; ".join(
        f"{t.task} {t.points}/{t.max_points} {t.message}" for t in grade.tasks)


def test_every_submission_has_a_grade_and_no_file_changed(graded):
    assert set(graded["grades"]) == set(graded["expected"])
    assert graded["before"] == graded["after"]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_full_marks_exercise_zero(graded, solution):
    full = tasks(solution)
    grade = graded["grades"][f"{solution.stem}__solution.ipynb"]
    assert grade.status == "ok" and points(grade) == full, explain(grade)
    grade = graded["grades"][f"{solution.stem}__exercise.ipynb"]
    assert grade.status == "ok" and points(grade) == {t: 0 for t in full}, explain(grade)
    assert all("NotImplementedError" in t.message for t in grade.tasks), explain(grade)


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_a_wrong_answer_loses_exactly_its_task(graded, solution):
    for task in tasks(solution):
        name = f"{solution.stem}__wrong_{task}.ipynb"
        grade = graded["grades"][name]
        assert points(grade) == graded["expected"][name]["tasks"], explain(grade)
        lost = [t for t in grade.tasks if t.task == task][0]
        assert "yours:" in lost.message and "torch:" in lost.message, explain(grade)


CASES = [
    "edits_checks", "deletes_checks", "fake_compare", "torch_as_yours", "replaces_grader_module",
    "monkeypatches_torch", "calls_torch", "sys_exit", "os_exit", "infinite_loop", "memory_bomb",
    "huge_output", "warnings_and_helpers", "moved_and_deleted_cells", "missing_answer",
    "answer_without_tag", "syntax_error_in_answer"]


@pytest.mark.parametrize("case", CASES)
def test_tampering_and_misbehaving_submissions(graded, case):
    name = f"01_parameter__{case}.ipynb"
    grade, expected = graded["grades"][name], graded["expected"][name]
    assert points(grade) == expected["tasks"], explain(grade)
    assert grade.status == expected["status"], explain(grade)
    assert grade.seconds < LIMITS.timeout, explain(grade)


def test_messages_name_the_tampering(graded):
    def message(case, task):
        grade = graded["grades"][f"01_parameter__{case}.ipynb"]
        return [t for t in grade.tasks if t.task == task][0].message

    assert "compare" in message("fake_compare", "1.1")
    assert "sys.modules" in message("replaces_grader_module", "1.1")
    assert "torch.nn.init.uniform_ was replaced" in message("monkeypatches_torch", "1.3")
    assert "`clone_parameter` is deepcopy" in message("calls_torch", "1.2")
    assert "calls torch.nn.init.uniform_" in message("calls_torch", "1.3")
    # a cell over its CPU limit ends there: the check does not record the limit as the answer's
    # outcome and go on to its next case (which would start over the limit, case after case)
    assert message("infinite_loop", "1.2").startswith("the check cell raised CpuTimeExceeded"), \
        message("infinite_loop", "1.2")
    assert "no answer cell" in message("missing_answer", "1.2")
    # a check cell that stopped before its first case says why, not that results went missing
    assert "raised NameError: name 'clone_parameter' is not defined" in message(
        "syntax_error_in_answer", "1.2")


def test_wall_clock_backstop_retries_once_then_records_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "busy", lambda: True)  # retried only on a busy machine
    nb = notebooks.read(notebooks.ROOT / "solutions" / "01_parameter.ipynb")
    hang = ("import time\nwhile True:\n    try:\n        time.sleep(1)\n"
            "    except BaseException:\n        pass")  # sleeping uses no CPU: only the backstop ends it
    nb.cells.insert(2, nbformat.v4.new_code_cell(hang))
    learner = plan(nb, nb, "01_parameter")
    start = time.monotonic()
    run = runner.run(learner, "learner", 1, Limits(timeout=6, cell_timeout=60))
    assert run.status == "timeout" and run.attempts == 2
    assert time.monotonic() - start < 120
    # the kernel and everything it started end
    wait_until(lambda: leftovers() == [], lambda: f"processes {leftovers()} are still alive")


def running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def descendants(root: int) -> list[int]:
    """Live processes whose chain of parents reaches `root`."""
    parents = {int(name): _parent(int(name)) for name in os.listdir("/proc") if name.isdigit()}
    found = []
    for pid in parents:
        up = parents.get(pid)
        while up not in (None, 0, 1, root):
            up = parents.get(up)
        if up == root and running(pid):
            found.append(pid)
    return found


def leftovers() -> list[int]:
    """This process's live descendants but for a warm server's own processes (bwrap and
    grader.zygote, which stay for the next run); what a server forked for a run counts. The
    suite's warm-kernel server (tools.warmkernel) and its notebook kernels are not the grader's."""
    found = set(descendants(os.getpid()))
    if (notebook_server := warmkernel.server_pid()) is not None:
        found -= {notebook_server, *descendants(notebook_server)}
    for server in list(runner._servers.values()):
        proc = server.proc
        if proc is None:
            continue
        tree = {proc.pid, *descendants(proc.pid)}
        bwrap = proc.args[0].encode()  # the server is the first process below bwrap's own
        tops = [p for p in tree if not _command(p).startswith(bwrap)
                and _command(_parent(p)).startswith(bwrap)]
        found -= tree - {run for top in tops for run in descendants(top)}
    return sorted(found)


def _command(pid: int) -> bytes:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").strip()
    except OSError:
        return b""


def _parent(pid: int) -> int:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def test_cli_json_is_gradescope_shaped(tmp_path):
    done = run_cli(str(notebooks.ROOT / "solutions" / "01_parameter.ipynb"), "--format", "json",
                   timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert_gradescope_shape(data)
    assert data["score"] == sum(tasks(notebooks.ROOT / "solutions" / "01_parameter.ipynb").values())
    assert any(t["visibility"] == "after_published" for t in data["tests"])


def test_cli_batch_writes_one_row_per_file(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    exercise = notebooks.ROOT / "exercises" / "01_parameter.ipynb"
    (folder / "alice.ipynb").write_bytes(exercise.read_bytes())
    (folder / "bob.ipynb").write_text("{ not json", encoding="utf-8")
    out = tmp_path / "grades.csv"
    done = run_cli("--batch", str(folder), "--csv", str(out), "--jobs", "2", timeout=300)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [os.path.basename(r["file"]) for r in rows] == ["alice.ipynb", "bob.ipynb"]
    assert rows[0]["status"] == "ok" and rows[0]["total"] == "0"
    assert rows[1]["status"] == "invalid" and "not JSON" in rows[1]["detail"]
    assert "2/2" in done.stderr  # the progress bar reached the end
