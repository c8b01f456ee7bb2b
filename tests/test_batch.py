"""Batch grading as an instructor uses it: a gradebook streamed row by row, escaped names, the seed
and isolation in every row, a feedback file per submission, and replaying a grade with --seed.

The fast tests replace the two kernels with a stand-in verdict (the rows, not the grading, are
under test here); the slow one grades for real and replays the grade from its row.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys

import pytest

from grader import batch, report
from grader.verdict import CheckVerdict, Grade, TaskVerdict
from test_grader import assert_gradescope_shape
from tools import notebooks

EXERCISES = notebooks.ROOT / "exercises"
SEED = 4242
NAMES = ["plain.ipynb", "with space.ipynb", "new\nline.ipynb", "\x1b[31mred\x1b[0m.ipynb",
         os.fsdecode(b"caf\xe9-latin1.ipynb")]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\ud800-\udfff]")


def fake_grade(plan, name, seed, points=1.0):
    """The grade a stand-in judge gives: `points` on every check of the plan."""
    tasks = []
    for task, top in plan.tasks.items():
        checks = [CheckVerdict(c.check, task, min(points, c.points), c.points, c.hidden,
                               points >= c.points, "" if points >= c.points else "\u2717 case — yours: 0  torch: 1")
                  for c in plan.checks if c.task == task]
        tasks.append(TaskVerdict(task, sum(c.points for c in checks), top, checks))
    return Grade(name, plan.exercise, "ok", tasks, 0.5, seed)


@pytest.fixture
def stand_in(monkeypatch):
    """Kernels replaced: torch's table is empty and every learner run gets a fake verdict."""
    calls = []
    monkeypatch.setattr(batch.grade, "reference", lambda plan, seed, limits: {})
    monkeypatch.setattr(batch.runner, "run_learner", lambda plan, seed, limits: plan)
    monkeypatch.setattr(batch.verdict, "judge",
                        lambda plan, table, run, name, seed: calls.append(name) or fake_grade(plan, name, seed))
    return calls


def submissions_folder(tmp_path, names=NAMES, exercise="01_parameter"):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in names:
        shutil.copy(EXERCISES / f"{exercise}.ipynb", folder / name)
    (folder / "broken.ipynb").write_text("{ not json", encoding="utf-8")
    return folder


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_printable_escapes_controls_and_bytes():
    assert report.printable("a b.ipynb") == "a b.ipynb"
    assert report.printable("new\nline") == "new\\nline"
    assert report.printable("\x1b[31m") == "\\x1b[31m"
    assert report.printable(os.fsdecode(b"caf\xe9")) == "caf\\xe9"
    assert report.printable("back\\slash") == "back\\\\slash"  # unambiguous
    assert report.printable("bidi\u202eevil") == "bidi\\u202eevil"
    assert report.printable("café ✓") == "café ✓"  # printable text stays as it is


def test_each_strange_name_gets_its_own_escaped_row(tmp_path, stand_in):
    folder = submissions_folder(tmp_path)
    out, feedback = tmp_path / "grades.csv", tmp_path / "feedback"
    grades = batch.write_batch(folder, out, feedback, jobs=2, seed=SEED, progress=None)
    text = out.read_text(encoding="utf-8")
    assert not CONTROL.search(text.replace("\r\n", "")), "a raw control character reached the CSV"
    rows = read_rows(out)
    expected = sorted(report.printable(n) for n in NAMES + ["broken.ipynb"])
    assert sorted(r["file"] for r in rows) == expected  # relative, escaped, one row each
    assert len(grades) == len(rows) == len(NAMES) + 1
    for row in rows:
        assert row["seed"] == str(SEED) and row["isolation"] in ("bwrap", "uid", "none")
        content = (feedback / row["feedback"]).read_text(encoding="utf-8")
        assert not CONTROL.search(content.replace("\n", ""))
        assert content.startswith(row["file"] + ":")  # the table, headed by the escaped name
    assert len({r["feedback"] for r in rows}) == len(rows)
    broken = next(r for r in rows if r["file"] == "broken.ipynb")
    assert broken["status"] == "invalid" and broken["detail"].startswith("broken.ipynb: not JSON")
    assert str(tmp_path) not in text  # names are relative to the batch folder


def test_feedback_lists_every_first_difference(tmp_path, monkeypatch):
    monkeypatch.setattr(batch.grade, "reference", lambda plan, seed, limits: {})
    monkeypatch.setattr(batch.runner, "run_learner", lambda plan, seed, limits: plan)
    monkeypatch.setattr(batch.verdict, "judge",
                        lambda plan, table, run, name, seed: fake_grade(plan, name, seed, points=0))
    folder = submissions_folder(tmp_path, ["alice.ipynb"])
    out, feedback = tmp_path / "grades.csv", tmp_path / "feedback"
    grade = batch.write_batch(folder, out, feedback, seed=SEED, progress=None)[0]
    row = next(r for r in read_rows(out) if r["file"] == "alice.ipynb")
    text = (feedback / row["feedback"]).read_text(encoding="utf-8")
    checks = [c for t in grade.tasks for c in t.checks]
    assert len(checks) >= 2
    listed = [line for line in text.splitlines() if line.startswith("Task ")]
    assert len(listed) == len(checks)  # every check, not only the first of each task
    assert all(line.endswith("\u2717 case — yours: 0  torch: 1") for line in listed)
    assert any("hidden check" in line for line in listed)
    assert f"--seed {SEED}" in text and "--exercise 01_parameter" in text


def test_rows_reach_the_disk_one_by_one_and_a_crash_keeps_them(tmp_path, monkeypatch):
    folder = submissions_folder(tmp_path, [f"s{i}.ipynb" for i in range(4)])
    out = tmp_path / "grades.csv"
    seen = []

    def judge(plan, table, run, name, seed):
        on_disk = read_rows(out)  # read back by another reader while the batch runs
        seen.append(len(on_disk))
        if len(seen) == 3:
            raise KeyboardInterrupt  # the grader dies midway
        return fake_grade(plan, name, seed)

    monkeypatch.setattr(batch.grade, "reference", lambda plan, seed, limits: {})
    monkeypatch.setattr(batch.runner, "run_learner", lambda plan, seed, limits: plan)
    monkeypatch.setattr(batch.verdict, "judge", judge)
    with pytest.raises(KeyboardInterrupt):
        batch.write_batch(folder, out, jobs=1, seed=SEED, progress=None)
    assert seen == [1, 2, 3]  # the invalid row first, then each graded row as soon as known
    rows = read_rows(out)
    assert len(rows) == 3 and all(r["total"] and r["seed"] == str(SEED) for r in rows)


def test_a_finished_gradebook_is_in_file_order(tmp_path, stand_in):
    folder = submissions_folder(tmp_path, ["a.ipynb", "b.ipynb", "c.ipynb"])
    out = tmp_path / "grades.csv"
    batch.write_batch(folder, out, jobs=2, seed=SEED, progress=None)
    # streamed with the invalid row first (known before any kernel ran), then sorted by name
    assert [r["file"] for r in read_rows(out)] == ["a.ipynb", "b.ipynb", "broken.ipynb", "c.ipynb"]
    assert [p.name for p in tmp_path.iterdir() if "sorting" in p.name] == []


def test_columns_do_not_depend_on_the_order_submissions_finish(tmp_path, stand_in):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(EXERCISES / "03_traversal.ipynb", folder / "a_first.ipynb")
    shutil.copy(EXERCISES / "01_parameter.ipynb", folder / "b_second.ipynb")
    out = tmp_path / "grades.csv"
    batch.write_batch(folder, out, seed=SEED, progress=None)
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    tasks = header[3:header.index("total")]
    assert tasks == sorted(tasks, key=report.task_order) and tasks[0].startswith("1.")
    assert {t.split(".")[0] for t in tasks} == {"1", "3"}
    assert header[header.index("total"):] == list(report.TRAILER)


def test_pinned_exercise_grades_every_submission_as_that_exercise(tmp_path, stand_in):
    folder = submissions_folder(tmp_path, ["x.ipynb"], exercise="03_traversal")
    grades = batch.grade_folder(folder, seed=SEED, progress=None, exercise="01_parameter")
    assert [g.exercise for g in grades if g.status == "ok"] == ["01_parameter"]


def test_gradescope_visible_parts_hide_hidden_checks():
    hidden = "\u2717 random tree 2 — yours: 20  torch: 16"
    checks = [CheckVerdict(0, "3.1", 2, 2, False, True), CheckVerdict(1, "3.1", 0, 1, True, False, hidden)]
    grade = Grade("sub.ipynb", "03_traversal", "ok", [TaskVerdict("3.1", 2, 3, checks)], 1.0, 9)
    data = report.gradescope(grade)
    assert_gradescope_shape(data)
    visible = [data["output"]] + [t["output"] + t["name"] for t in data["tests"]
                                  if t["visibility"] == "visible"]
    assert not any("random tree" in v or "yours: 20" in v for v in visible)
    assert [t["output"] for t in data["tests"] if t["visibility"] == "after_published"] == [hidden]
    assert data["extra_data"]["seed"] == 9 and data["extra_data"]["isolation"] == "none"
    assert "2/2" in data["output"] and "hidden checks (1 points)" in data["output"]


@pytest.mark.slow
def test_seed_replays_a_batch_row_exactly(tmp_path):
    """A real batch with --seed and --feedback; the same grade replayed alone gives the same text."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(EXERCISES / "01_parameter.ipynb", folder / "alice.ipynb")
    out, feedback = tmp_path / "grades.csv", tmp_path / "feedback"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-m", "grader", "--batch", str(folder), "--csv", str(out),
                           "--feedback", str(feedback), "--seed", str(SEED), "--jobs", "2"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=notebooks.ROOT)
    assert done.returncode == 0, done.stderr
    row = read_rows(out)[0]
    assert row["seed"] == str(SEED) and row["status"] == "ok"
    replay = subprocess.run([sys.executable, "-m", "grader", row["file"], "--exercise", row["exercise"],
                             "--seed", row["seed"]], capture_output=True, text=True, timeout=600,
                            env=env, cwd=folder)
    assert replay.returncode == 0, replay.stderr
    seconds = re.compile(r"; [0-9.]+ s\)")
    batch_table = seconds.sub("", (feedback / row["feedback"]).read_text(encoding="utf-8"))
    assert seconds.sub("", replay.stdout.strip()) in batch_table
    assert "NotImplementedError" in batch_table and "hidden check" in batch_table
