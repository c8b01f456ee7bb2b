"""The grader's parts that need no kernel: input checks, splicing, scanning, data, report shapes."""
from __future__ import annotations

import copy
import io
import json
import subprocess
import sys

import nbformat
import pytest

from grader import assemble, records, report, runner
from grader.checks import difference_line
from grader.scan import scan
from grader.verdict import CheckVerdict, Grade, TaskVerdict
from grader_cases import malformed
from tools import notebooks

SOLUTION = notebooks.ROOT / "solutions" / "01_parameter.ipynb"


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=notebooks.ROOT)


# --- unusable input: exit 2, one line ------------------------------------------------------

def test_malformed_inputs_exit_2_with_one_line(tmp_path):
    expected = malformed(tmp_path)
    expected["missing.ipynb"] = "no such file"
    for name, words in expected.items():
        done = run_cli(str(tmp_path / name))
        assert done.returncode == 2, (name, done.stderr)
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and words in lines[0], (name, done.stderr)


def test_exercise_option_overrides_the_metadata(tmp_path):
    nb = notebooks.read(SOLUTION)
    nb.metadata["exercise"] = "02_registration"
    solutions = notebooks.ROOT / "solutions"
    path = tmp_path / "anything.ipynb"
    assert assemble.exercise_of(nb, path, None, solutions).stem == "02_registration"
    assert assemble.exercise_of(nb, path, "01_parameter", solutions).stem == "01_parameter"
    del nb.metadata["exercise"]
    assert assemble.exercise_of(nb, tmp_path / "01_parameter.ipynb", None, solutions).stem == "01_parameter"
    with pytest.raises(assemble.Unusable, match="cannot tell which exercise"):
        assemble.exercise_of(nb, path, None, solutions)


def test_a_pinned_exercise_wins_over_the_metadata_and_the_mismatch_is_reported(tmp_path):
    from grader import grade

    nb = copy.deepcopy(notebooks.read(SOLUTION))
    nb.metadata["exercise"] = "02_registration"
    path = tmp_path / "sub.ipynb"
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    learner, reference = grade.prepare(path, "01_parameter")
    assert learner.exercise == reference.exercise == "01_parameter"
    assert len(learner.warnings) == 1 and "'02_registration'" in learner.warnings[0]
    assert "graded as 01_parameter" in learner.warnings[0]
    learner, _ = grade.prepare(path, None)
    assert learner.exercise == "02_registration" and learner.warnings == []


# --- building the grading notebook ----------------------------------------------------------

def _plan(submission):
    return assemble.plan(notebooks.read(SOLUTION), submission, "01_parameter")


def test_checks_come_from_the_solution_whatever_the_submission_says():
    nb = copy.deepcopy(notebooks.read(SOLUTION))
    for cell in nb.cells:
        if notebooks.tagged(cell, "check"):
            cell.source = "print('all good')"
    plan = _plan(nb)
    pristine = [c.source for c in notebooks.read(SOLUTION).cells
                if notebooks.tagged(c, "check") or notebooks.tagged(c, "hidden-check")]
    assert [c.source for c in plan.checks] == pristine
    assert all(c.source.strip() != "print('all good')" for c in plan.cells)


def test_helpers_run_before_the_answer_they_precede_and_trailing_cells_are_noted():
    nb = copy.deepcopy(notebooks.read(SOLUTION))
    answers = [i for i, c in enumerate(nb.cells) if notebooks.tagged(c, "answer")]
    nb.cells.insert(answers[1], nbformat.v4.new_code_cell("HELPER = 1"))
    nb.cells.append(nbformat.v4.new_code_cell("print('scratch')"))
    plan = _plan(nb)
    kinds = [(c.kind, c.task) for c in plan.cells if c.kind in ("helper", "answer")]
    assert kinds == [("answer", "1.1"), ("helper", "1.2"), ("answer", "1.2"), ("answer", "1.3")]
    assert any("not run" in n for n in plan.notes["1.3"])


def test_a_missing_answer_becomes_the_stub_with_a_note():
    nb = copy.deepcopy(notebooks.read(SOLUTION))
    nb.cells = [c for c in nb.cells if not (notebooks.tagged(c, "answer")
                                            and c.metadata.grade.task == "1.2")]
    plan = _plan(nb)
    stub = [c for c in plan.cells if c.kind == "answer" and c.task == "1.2"]
    assert stub[0].stub and 'raise NotImplementedError("Exercise 1.2")' in stub[0].source
    assert plan.notes["1.2"] == ["no answer cell for this task in the submission"]


def test_an_untagged_answer_is_found_by_the_names_it_defines():
    nb = copy.deepcopy(notebooks.read(SOLUTION))
    for cell in nb.cells:
        if notebooks.tagged(cell, "answer") and cell.metadata.grade.task == "1.3":
            cell.metadata = {}
            source = cell.source
    plan = _plan(nb)
    assert [c.source for c in plan.cells if c.kind == "answer" and c.task == "1.3"] == [source]


def test_the_driver_is_sent_the_guard_first_then_every_planned_cell():
    plan = _plan(notebooks.read(SOLUTION))
    box = runner.Sandbox("learner", 1, level="none")
    try:
        work = json.loads(box.work(plan))
    finally:
        box.close()
    guard, *cells = work["cells"]
    assert guard.startswith("import grader.sandbox\n")
    assert cells == [c.source for c in plan.cells] and cells
    assert work["cell_timeout"] == box.limits.cell_timeout
    # the learner's cells, and only those, run statement by statement
    learners = [c.source for c in plan.cells if c.kind in ("answer", "helper")]
    assert [work["cells"][n] for n in work["one_by_one"]] == learners and learners


def test_a_refused_top_level_statement_is_named_only_from_what_the_grader_knows():
    from grader import verdict

    plan = _plan(notebooks.read(SOLUTION))
    forged = [{"k": "refused", "task": "1.2", "name": "copy.deepcopy"},
              {"k": "refused", "task": "1.2", "name": "os.system"},  # not what 1.2 rebuilds
              {"k": "refused", "task": "9.9", "name": "copy.deepcopy"},  # no such task
              {"k": "refused", "task": "1.2", "name": "copy.deepcopy"}]  # said twice
    said = verdict._refused(plan, runner.Run("ok", records=forged))
    assert len(said) == 1 and "calls copy.deepcopy, which task 1.2 rebuilds" in said[0]
    assert verdict._refused(plan, runner.Run("ok")) == []


def test_a_task_rebuilding_what_plain_python_calls_is_checked_in_a_kernel_of_its_own():
    def plan_of(name):
        nb = notebooks.read(notebooks.ROOT / "solutions" / f"{name}.ipynb")
        return assemble.plan(nb, nb, name)

    assert runner.task_groups(plan_of("01_parameter")) == [["1.1"], ["1.2", "1.3"]]
    assert runner.task_groups(plan_of("02_registration")) == [["2.1"], ["2.2"], ["2.3"], ["2.4"]]
    three = plan_of("03_traversal")
    assert runner.task_groups(three) == [list(three.tasks)]
    # merged: each check's outcome and records from its own task's run only
    plan = plan_of("01_parameter")
    groups = runner.task_groups(plan)
    cells = {n: c for n, c in enumerate(plan.cells, start=1)}
    checks = {c.check: c.task for c in plan.checks}
    runs = []
    for number, group in enumerate(groups):
        run = runner.Run("ok", seconds=1.0)
        run.cells = {n: runner.CellResult("passed" if c.task in (*group, None) else "failed",
                                          str(number)) for n, c in cells.items()}
        run.cells[0] = runner.CellResult("passed")
        run.records = [{"k": "case", "check": check, "from": number} for check in checks]
        run.records.append({"k": "refused", "task": group[0], "name": "x"})
        runs.append(run)
    runs[1].status, runs[1].detail = "timeout", "slow"
    merged = runner._merge(plan, groups, runs)
    for n, cell in cells.items():
        assert merged.cells[n].outcome == "passed"
        assert merged.cells[n].message == str(0 if cell.task in (None, "1.1") else 1)
    assert sorted((r["check"], r["from"]) for r in merged.records if r["k"] == "case") == sorted(
        (check, 0 if task == "1.1" else 1) for check, task in checks.items())
    assert [r["task"] for r in merged.records if r["k"] == "refused"] == ["1.1", "1.2"]
    assert (merged.status, merged.detail, merged.seconds) == ("timeout", "slow", 2.0)


# --- reading learner code -------------------------------------------------------------------

@pytest.mark.parametrize("source, what", [
    ("import sys\nsys.modules['grader.checks'].compare = f", "sys.modules"),
    ("import grader.checks", "import grader.checks"),
    ("f.__code__ = g.__code__", ".__code__"),
    ("x = getattr(f, '__closure__')", "the string '__closure__'"),
    ("import gc\ngc.get_referrers(x)", "import gc"),
    ("exec('1')", "exec"),
])
def test_scan_flags_tampering_tools(source, what):
    assert what in [f.what for f in scan(source)]


def test_scan_leaves_ordinary_answers_alone():
    for cell in notebooks.read(SOLUTION).cells:
        if notebooks.tagged(cell, "answer"):
            assert scan(cell.source) == []
    assert scan("for m in model.modules():\n    print(m.named_parameters())") == []
    assert scan("def broken(:") == []


# --- observations as data -------------------------------------------------------------------

def test_records_round_trip_plain_data_exactly():
    value = ("value", {"a": [1, 2.5, None, True], ("k", 1): (3, "x"), "nan": float("nan")})
    back = records.decode(records.encode(value))
    assert back[0] == "value" and back[1]["a"] == [1, 2.5, None, True]
    assert back[1][("k", 1)] == (3, "x") and type(back[1][("k", 1)]) is tuple


def test_records_do_not_trust_clever_objects():
    class Liar(str):
        def __eq__(self, other):
            return True

    got = records.decode(records.encode(("value", Liar("parameter"))))
    line = difference_line("case", got, ("value", "parameter"))
    assert line is not None and line.startswith("\u2717 case")


def test_records_loads_keeps_only_schema_valid_records():
    good = {"k": "end", "check": 0, "call": 0, "cases": 3}
    garbage = [b"not json", b"[1]", records.dumps({"k": "case"}).strip(),  # fields missing
               records.dumps({**good, "pid": 1}).strip(),  # an unknown field (a pid to kill)
               records.dumps({**good, "check": True}).strip(),  # a bool is not an int
               records.dumps({**good, "check": "0"}).strip(), b"{" * 100_000,
               b"x" * (records.MAX_LINE + 1)]
    blob = records.dumps(good) + b"\n".join(garbage) + b"\n"
    found, bad = records.loads(blob, 1 << 22)
    assert found == [good] and bad == len(garbage)


@pytest.mark.parametrize("data", [{"$": "tuple", "v": 5}, {"$": "dict", "v": [[1]]},
                                  {"$": "dict", "v": 3}, {"$": "float", "v": "1e999x"},
                                  {"$": "tuple", "v": [{"$": "tuple", "v": 1}]}])
def test_records_decode_never_raises_on_forged_data(data):
    assert isinstance(records.decode(data), records.Foreign)


# --- reports --------------------------------------------------------------------------------

def _grade() -> Grade:
    checks = [CheckVerdict(0, "1.1", 3, 3, False, True), CheckVerdict(1, "1.1", 0, 2, True, False,
                                                                     "\u2717 random value 3 \u2014 yours: 'x'  torch: 'y'")]
    return Grade("sub.ipynb", "01_parameter", "ok", [TaskVerdict("1.1", 3, 5, checks)], 1.5, 7)


def assert_gradescope_shape(data: dict) -> None:
    """Gradescope's results.json as the grader writes it (fields from Gradescope's specification)."""
    assert {"score", "execution_time", "output", "tests"} <= set(data)
    assert set(data) <= {"score", "execution_time", "output", "output_format", "visibility",
                         "stdout_visibility", "extra_data", "tests", "leaderboard"}
    assert isinstance(data["score"], (int, float)) and isinstance(data["execution_time"], (int, float))
    assert isinstance(data["output"], str) and isinstance(data["tests"], list)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
        assert set(test) <= {"name", "score", "max_score", "status", "output", "output_format",
                             "visibility", "number", "tags", "extra_data", "name_format"}
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in ("visible", "after_published")
        assert test.get("status", "passed" if test["score"] == test["max_score"] else "failed") \
            == ("passed" if test["score"] == test["max_score"] else "failed")
    assert abs(sum(t["score"] for t in data["tests"]) - data["score"]) < 1e-9


def test_gradescope_json_shape_and_hidden_visibility():
    data = report.gradescope(_grade())
    assert_gradescope_shape(data)
    assert [t["visibility"] for t in data["tests"]] == ["visible", "after_published"]
    assert data["score"] == 3


def test_table_shows_points_status_and_first_difference():
    text = report.table(_grade())
    assert "1.1   3/5     partial" in text and "yours: 'x'  torch: 'y'" in text
    assert text.splitlines()[-1].startswith("total 3/5")


def test_csv_has_one_row_per_grade():
    out = io.StringIO()
    report.write_csv([_grade(), Grade("bad.ipynb", "", "invalid", [], 0, 0, "not JSON")], out)
    rows = out.getvalue().splitlines()
    assert rows[0] == "file,exercise,status,1.1,total,max,seed,isolation,seconds,feedback,detail"
    assert rows[1].startswith("sub.ipynb,01_parameter,ok,3,3,5,") and rows[2].startswith("bad.ipynb,,invalid,,0,0,")


def _drive(tmp_path, cells, cell_timeout=0.0):
    """Run grader.driver on `cells` (no sandbox) and return its records and printed output."""
    stream = tmp_path / "records.jsonl"
    stream.write_bytes(b"")
    done = subprocess.run([sys.executable, "-m", "grader.driver"], cwd=tmp_path,
                          input=json.dumps({"cells": cells, "cell_timeout": cell_timeout}).encode(),
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                               "GRADER_REPORT": str(stream), "MPLBACKEND": "Agg",
                               "PYTHONPATH": str(notebooks.ROOT)},
                          capture_output=True, timeout=300)
    found, bad = records.loads(stream.read_bytes(), 1 << 20)
    assert bad == 0
    return found, done


def test_the_driver_runs_every_cell_and_reports_each_outcome(tmp_path):
    found, done = _drive(tmp_path, ["x = 41", "print('noise ' * 1000)\nx += 1",
                                    "assert x == 42\n%time y = x", "raise ValueError('boom')",
                                    "import time\ntime.sleep(30)", "sys.exit(3)", "z = x"],
                         cell_timeout=2)
    ran = [(r["cell"], r["outcome"], r["message"], r["timeout"]) for r in found if r["k"] == "ran"]
    assert ran == [(0, "passed", "", False), (1, "passed", "", False), (2, "passed", "", False),
                   (3, "failed", "ValueError: boom", False),
                   (4, "failed", "CellTimeout: the cell ran longer than its wall-clock limit", True),
                   (5, "failed", "NameError: name 'sys' is not defined", False),
                   (6, "passed", "", False)]
    assert found[-1] == {"k": "exit", "status": 0} and done.returncode == 0
    assert b"noise" not in done.stdout + done.stderr  # printed output goes nowhere


def test_a_driver_that_dies_leaves_no_closing_record(tmp_path):
    found, done = _drive(tmp_path, ["import os\nos._exit(0)", "never = 1"])
    assert found == [] and done.returncode == 0
    found, done = _drive(tmp_path, ["import sys\nsys.exit(0)", "after = 1"])
    assert [r["outcome"] for r in found if r["k"] == "ran"] == ["failed", "passed"]
    assert found[-1]["k"] == "exit"


def test_the_cache_key_of_torchs_side_changes_with_everything_it_depends_on(monkeypatch):
    from grader import grade

    solution = notebooks.read(notebooks.ROOT / "solutions" / "01_parameter.ipynb")
    pristine = assemble.plan(solution, solution, "01_parameter")
    key = grade._key(pristine, 1)
    assert key == grade._key(assemble.plan(solution, solution, "01_parameter"), 1)
    assert grade._key(pristine, 2) != key
    changed = copy.deepcopy(pristine)
    changed.cells[-1].source += "\n# edited"
    assert grade._key(changed, 1) != key
    grade._code_digest.cache_clear()
    monkeypatch.setattr(grade.importlib.metadata, "version", lambda name: "0.0-other")
    try:
        assert grade._key(pristine, 1) != key  # another torch
    finally:
        monkeypatch.undo()
        grade._code_digest.cache_clear()
    assert grade._key(pristine, 1) == key
