"""Grading under load, and the fallback isolation level.

A correct submission must never be graded `timeout` because the machine is busy: the kernel's
limits count CPU-seconds of the learner's work, and the wall-clock limits are only a generous
backstop. Here two busy loops compete with the grade for the cores, or a batch with four
workers runs while another grader process grades a second batch; the time it takes is never
asserted, only the verdicts.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader import batch, grade, runner, verdict
from grader.runner import Limits
from grader_cases import tasks
from tools import notebooks

SOLUTION = notebooks.ROOT / "solutions" / "01_parameter.ipynb"


@pytest.mark.slow
def test_a_correct_submission_is_never_a_timeout_on_a_busy_machine():
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(2)]
    try:
        result = grade.grade_file(SOLUTION, seed=7, limits=Limits(cell_cpu=30))
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert result.status == "ok", result.detail
    assert {t.task: t.points for t in result.tasks} == tasks(SOLUTION)


@pytest.mark.slow
def test_four_workers_on_two_cores_beside_another_batch_grade_every_solution_in_full(tmp_path):
    solutions = [SOLUTION, notebooks.ROOT / "solutions" / "03_traversal.ipynb"]
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for folder in (mine, theirs):
        folder.mkdir()
        for i in range(4):
            source = solutions[i % 2]
            shutil.copy(source, folder / f"{i}_{source.name}")
    seed = verdict.new_seed()  # torch's side is computed under the same load, not cached
    other = subprocess.Popen([sys.executable, "-m", "grader", "--batch", str(theirs), "--csv",
                              str(tmp_path / "theirs.csv"), "--jobs", "2", "--seed", str(seed + 1)],
                             cwd=notebooks.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    try:
        grades = batch.grade_folder(mine, jobs=4, seed=seed, progress=None)
    finally:
        output, _ = other.communicate(timeout=1800)
    assert other.returncode == 0, output
    for g in grades:
        expected = tasks(solutions[int(os.path.basename(g.file)[0]) % 2])
        assert (g.status, {t.task: t.points for t in g.tasks}) == ("ok", expected), g.detail
    with open(tmp_path / "theirs.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    for row in rows:
        expected = tasks(solutions[int(row["file"][0]) % 2])
        assert row["status"] == "ok" and float(row["total"]) == sum(expected.values()), row


@pytest.mark.slow
@pytest.mark.skipif(not runner.uid_works(), reason="the uid fallback needs root, and a Python "
                    "that other users may run")
def test_the_uid_fallback_grades_runs_as_another_uid_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_ISOLATION", "uid")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    # the runs' directories go in a directory of this test's own that other users may enter
    # (where pytest's is root's alone, it is made in /var/tmp or /dev/shm, as the grader does)
    own = Path(tempfile.mkdtemp(dir=runner._reachable_temp() or tmp_path))
    try:
        own.chmod(0o711)
        monkeypatch.setattr("tempfile.tempdir", str(own))
        assert runner._reachable_temp() is None  # the runs will use `own` itself
        result = grade.grade_file(SOLUTION, seed=3, limits=Limits(cell_cpu=30))
        assert result.isolation == "uid"
        assert {t.task: t.points for t in result.tasks} == tasks(SOLUTION)
        assert os.listdir(own) == []  # every run's directory removed
    finally:
        shutil.rmtree(own, ignore_errors=True)
    for uid in runner.UIDS:  # no process of a sandbox uid is left (in this pid namespace: one
        assert not [p for p in runner.processes_of(uid) if _namespace(p) == _namespace("self")]
    # in a namespace of its own is a bubblewrap run of another grader, which may hold the uid)


def _namespace(pid) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None

