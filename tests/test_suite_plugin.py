"""tools/pytest_plugin.py: once-per-run results, grouping on xdist workers, the slow mark.

The tests read one run of pytest, in a subprocess, on a small generated test folder, with the
plugin loaded as pytest.ini loads it, on two workers and with `-m "not slow"` as `make test-fast`
runs it; the generated tests record what they saw.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # each case starts pytest with two xdist workers
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # not the outer run's

RECORD = """
import json, os
from pathlib import Path

def record(tmp, **fields):
    line = dict(worker=os.environ.get("PYTEST_XDIST_WORKER", "main"), **fields)
    with open(Path(tmp) / "record.jsonl", "a") as f:
        f.write(json.dumps(line) + "\\n")
"""

FILES = {
    "pytest.ini": "[pytest]\naddopts = -p tools.pytest_plugin -p no:cacheprovider --dist loadgroup\n",
    "conftest.py": RECORD + """
import pytest

def make(folder):
    record(OUT, made=str(folder))
    return {"pid": os.getpid(), "folder": str(folder)}

def broken(folder):
    record(OUT, made="broken")
    raise RuntimeError("cannot build this\\nsecond line")
""",
    "test_a.py": """
from conftest import make, record, OUT

def test_a(once):
    record(OUT, test="a", value=once("thing", make))
""",
    "test_b.py": """
from conftest import make, record, OUT

def test_b(once):
    record(OUT, test="b", value=once("thing", make))
""",
    "test_broken.py": """
import pytest
from conftest import broken

@pytest.mark.parametrize("n", range(3))
def test_broken(once, n):
    once("broken", broken)
""",
    "test_module_fixture.py": """
import pytest
from conftest import record, OUT

@pytest.fixture(scope="module")
def shared():
    record(OUT, fixture="module")
    return 1

@pytest.mark.parametrize("n", range(6))
def test_uses_it(shared, n):
    record(OUT, test="module", n=n)
""",
    "test_spread.py": """
import pytest
from conftest import record, OUT

@pytest.mark.parametrize("n", range(6))
def test_spread(n):
    record(OUT, test="spread", n=n)
""",
    "test_slowness.py": """
import pytest
from conftest import record, OUT

@pytest.fixture
def built_book():
    return None

def test_plain():
    record(OUT, test="plain")

def test_needs_the_book(built_book):
    record(OUT, test="needs the book")

@pytest.mark.slow
def test_marked():
    record(OUT, test="marked")
""",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run the generated folder once on two workers, slow tests deselected; return (completed
    process, records)."""
    folder = tmp_path_factory.mktemp("suite")
    out = tmp_path_factory.mktemp("records")
    for name, text in FILES.items():
        text = textwrap.dedent(text)
        if name == "conftest.py":
            text += f"\nOUT = {str(out)!r}\n"
        (folder / name).write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-q", "-m", "not slow"],
                          cwd=folder, env=ENV, capture_output=True, text=True, timeout=600)
    lines = (out / "record.jsonl").read_text(encoding="utf-8").splitlines()
    return done, [json.loads(line) for line in lines]


def test_a_shared_result_is_made_once_and_reused_by_every_worker(run):
    done, records = run
    made = [r for r in records if r.get("made") and r["made"] != "broken"]
    assert len(made) == 1, records
    values = {r["test"]: r["value"] for r in records if r.get("test") in ("a", "b")}
    assert set(values) == {"a", "b"} and values["a"] == values["b"]
    assert values["a"]["folder"].endswith("thing")


def test_a_failed_result_is_not_made_again_and_fails_every_caller(run):
    done, records = run
    assert sum(r.get("made") == "broken" for r in records) == 1
    out = done.stdout
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 3 and all("test_broken" in line for line in failed), out[-3000:]
    assert out.count("broken failed earlier in this run: RuntimeError: cannot build this") >= 2
    assert "3 failed, 15 passed" in out, out[-3000:]  # 17 without -m "not slow"


def test_tests_sharing_a_module_fixture_stay_on_one_worker(run):
    _, records = run
    module = [r for r in records if r.get("test") == "module"]
    assert [r["n"] for r in module] == list(range(6))
    assert len({r["worker"] for r in module}) == 1
    assert sum(r.get("fixture") == "module" for r in records) == 1


def test_the_run_used_two_workers(run):
    _, records = run
    assert {r["worker"] for r in records} == {"gw0", "gw1"}


def test_slow_mark_comes_from_the_file_list_and_the_fixtures(run):
    """test_needs_the_book uses a fixture of SLOW_FIXTURES, test_marked carries the mark: under
    -m "not slow" neither runs (and the failures test above counts 15 passed, not 17)."""
    _, records = run
    seen = [r["test"] for r in records if r.get("test") in ("plain", "needs the book", "marked")]
    assert seen == ["plain"], records
