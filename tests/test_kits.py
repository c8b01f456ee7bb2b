"""The zips the book hands out: the learner (student) kit and Gradescope's autograder.

- the kit unpacks into a fresh directory, holds no answer key, and grades visible checks there;
- its README's commands set up a fresh venv and grade an exercise (slow). pip installs the kit's
  requirements into that venv from wheels repacked from this suite's venv (tests/wheelhouse.py),
  with no index: the same pins, installed the same way, without minutes of downloads;
- the Gradescope zip, run in a directory laid out like /autograder, grades a solution to full
  marks and an untouched exercise to 0 with the exercise pinned, and its results.json shows no
  hidden-check text in its visible parts (slow);
- the built book links to the kit from the intro and every exercise page.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import wheelhouse
from test_grader import assert_gradescope_shape
from tools import kit, notebooks, release

SOLUTIONS = notebooks.toc_notebooks("solutions")
EXERCISE = "03_traversal"


def normalised(text: str) -> str:
    """Code without indentation and blank lines, so a body is found wherever it was pasted."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def readable(name: str, data: bytes) -> str:
    """The text of an archive member; a notebook as its cell sources (not JSON-escaped)."""
    text = data.decode("utf-8")
    if name.endswith(".ipynb"):
        return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in json.loads(text)["cells"])
    return text


def answer_key() -> dict[str, str]:
    """label -> normalised text of every solution body and every hidden check."""
    key = {}
    for path in SOLUTIONS:
        for n, cell in enumerate(notebooks.read(path).cells):
            if notebooks.tagged(cell, "answer"):
                for m, block in enumerate(release.SOLUTION.finditer(cell.source)):
                    body = "\n".join(block.group(0).splitlines()[1:-1])
                    key[f"{path.stem} cell {n} solution {m}"] = normalised(body)
            elif notebooks.tagged(cell, "hidden-check"):
                key[f"{path.stem} cell {n} hidden check"] = normalised(cell.source)
    return key


def leaks(files: dict[str, str]) -> list[str]:
    key = answer_key()
    texts = {name: normalised(text) for name, text in files.items()}
    return [f"{label} in {name}" for label, body in key.items() for name, text in texts.items()
            if body and body in text]


@pytest.fixture(scope="module")
def student_kit(tmp_path_factory) -> Path:
    """The kit built by `python -m tools.kit student` and unpacked into a fresh directory."""
    out = tmp_path_factory.mktemp("zips") / kit.KIT_NAME
    done = subprocess.run([sys.executable, "-m", "tools.kit", "student", "--out", str(out)],
                          capture_output=True, text=True, cwd=notebooks.ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    unpacked = tmp_path_factory.mktemp("kit")
    with zipfile.ZipFile(out) as archive:
        archive.extractall(unpacked)
    return unpacked / kit.KIT_PREFIX.rstrip("/")


def test_kit_holds_what_a_class_receives(student_kit):
    names = {p.relative_to(student_kit).as_posix() for p in student_kit.rglob("*") if p.is_file()}
    for path in [*notebooks.toc_notebooks("exercises"), *notebooks.toc_notebooks("chapters")]:
        assert path.relative_to(notebooks.ROOT).as_posix() in names
    for needed in ("README.md", "Makefile", "requirements.txt", "pyproject.toml",
                   "grader/__main__.py", "grader/tasks/traversal.py", "purenn/__init__.py",
                   "tools/notebooks.py"):
        assert needed in names
    assert not any(n.startswith(("solutions/", "tests/")) for n in names)
    pins = (student_kit / "requirements.txt").read_text(encoding="utf-8")
    assert "torch==2.13.0" in pins and "jupyter-book" not in pins


def test_kit_contains_no_answer_key(student_kit):
    files = {p.relative_to(student_kit).as_posix(): readable(p.name, p.read_bytes())
             for p in student_kit.rglob("*") if p.is_file()}
    assert leaks(files) == []
    # the detector finds the key where it is: in the solutions themselves
    solutions = {p.name: readable(p.name, p.read_bytes()) for p in SOLUTIONS}
    assert len(leaks(solutions)) == len(answer_key())


def test_zips_are_reproducible():
    assert kit.zip_bytes(kit.kit_files(), kit.KIT_PREFIX) == kit.zip_bytes(kit.kit_files(), kit.KIT_PREFIX)
    assert kit.zip_bytes(kit.gradescope_files(EXERCISE)) == kit.zip_bytes(kit.gradescope_files(EXERCISE))


def test_unknown_exercise_is_refused_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tools.kit", "gradescope", "99_nothing", "--out",
                           str(tmp_path / "x.zip")], capture_output=True, text=True,
                          cwd=notebooks.ROOT, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "99_nothing" in done.stderr
    assert not (tmp_path / "x.zip").exists()


def kit_env(root: Path) -> dict[str, str]:
    """This venv's Python with the unpacked code first on the path (also in the kernels)."""
    return {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}


def visible_points(path: Path) -> float:
    return sum(c.metadata["grade"]["points"] for c in notebooks.read(path).cells
               if notebooks.tagged(c, "check"))


def all_points(path: Path) -> float:
    return sum(c.metadata["grade"]["points"] for c in notebooks.read(path).cells
               if notebooks.tagged(c, "check") or notebooks.tagged(c, "hidden-check"))


@pytest.mark.slow
def test_kit_grades_visible_checks_without_solutions(student_kit, tmp_path):
    env = kit_env(student_kit)
    where = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(student_kit)  # the kit's own grader
    submission = tmp_path / "mine.ipynb"  # a learner who solved it, outside the kit
    shutil.copy(notebooks.ROOT / "solutions" / f"{EXERCISE}.ipynb", submission)
    runs = {}
    for name, path in (("untouched", f"exercises/{EXERCISE}.ipynb"), ("solved", str(submission))):
        done = subprocess.run([sys.executable, "-m", "grader", path, "--visible-only", "--format",
                               "json", "--exercise", EXERCISE], capture_output=True, text=True,
                              env=env, cwd=student_kit, timeout=600)
        assert done.returncode == 0, done.stderr
        runs[name] = json.loads(done.stdout)
    top = visible_points(notebooks.ROOT / "solutions" / f"{EXERCISE}.ipynb")
    assert runs["solved"]["score"] == top > 0
    assert runs["untouched"]["score"] == 0
    assert all("NotImplementedError" in t["output"] for t in runs["untouched"]["tests"])
    assert all(t["visibility"] == "visible" for r in runs.values() for t in r["tests"])
    plain = subprocess.run([sys.executable, "-m", "grader", f"exercises/{EXERCISE}.ipynb"],
                           capture_output=True, text=True, env=env, cwd=student_kit, timeout=120)
    assert plain.returncode == 2 and "--visible-only" in plain.stderr  # no key: says what to do


@pytest.mark.slow
def test_kit_readme_commands_grade_in_a_fresh_venv(student_kit, tmp_path):
    """`make grade NB=...` from the README: creates .venv from the kit's requirements, grades."""
    readme = (student_kit / "README.md").read_text(encoding="utf-8")
    command = re.search(r"^(make grade NB=\S+)", readme, re.MULTILINE).group(1)
    wheels = wheelhouse.wheelhouse(student_kit / "requirements.txt", tmp_path)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))
    done = subprocess.run(command.split() + [f"PYTHON={sys.executable}"], capture_output=True,
                          text=True, cwd=student_kit, env=env, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (student_kit / ".venv" / ".installed").exists()
    assert "visible checks only" in done.stdout and "total 0/" in done.stdout
    assert "NotImplementedError" in done.stdout
    where = subprocess.run([str(student_kit / ".venv" / "bin" / "python"), "-c",
                            "import torch; print(torch.__file__, torch.__version__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    path, version = where.stdout.split()
    assert Path(path).is_relative_to(student_kit / ".venv") and version.startswith("2.13.0")


def test_wheelhouse_follows_the_pins_and_their_requirements():
    found = {canonicalize_name(dist.metadata["Name"])
             for dist in wheelhouse.needed([Requirement("nbval==0.11.0")])}
    assert {"nbval", "nbformat", "ipykernel", "jupyter-client", "pytest", "traitlets"} <= found
    assert "torch" not in found and "jupyterlab" not in found
    with pytest.raises(LookupError, match="nbval 0.11.0 is installed"):
        wheelhouse.needed([Requirement("nbval==0.10.0")])
    with pytest.raises(LookupError, match="not installed"):
        wheelhouse.needed([Requirement("no-such-package-here==1.0")])


def test_a_repacked_wheel_holds_the_installed_files(tmp_path):
    dist = wheelhouse.needed([Requirement("iniconfig")])[0]
    wheel = wheelhouse.repack(dist, tmp_path)
    assert wheel.name.startswith(f"iniconfig-{dist.version}-") and wheel.suffix == ".whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record = archive.read(f"iniconfig-{dist.version}.dist-info/RECORD").decode()
        rows = [line.split(",") for line in record.splitlines()]
        assert {row[0] for row in rows} == names
        for name, digest, size in rows:
            if digest:
                data = archive.read(name)
                assert (wheelhouse._digest(data), int(size)) == (digest, len(data))
    pip_writes = ("/RECORD", "/INSTALLER", "/REQUESTED", "/direct_url.json")
    installed = {str(f) for f in dist.files
                 if "__pycache__" not in f.parts and not str(f).endswith(pip_writes)}
    assert {n for n in names if not n.endswith("/RECORD")} == installed


def autograder(tmp_path: Path, exercise: str = EXERCISE) -> Path:
    """A temporary root laid out as Gradescope's /autograder, with the zip unpacked in source/."""
    out = tmp_path / "autograder.zip"
    done = subprocess.run([sys.executable, "-m", "tools.kit", "gradescope", exercise, "--out",
                           str(out)], capture_output=True, text=True, cwd=notebooks.ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert {"setup.sh", "run_autograder"} <= set(names)  # at the root of the zip
        assert [n for n in names if n.startswith("solutions/")] == [f"solutions/{exercise}.ipynb"]
        archive.extractall(root / "source")
        for info in archive.infolist():  # extractall drops modes; Gradescope keeps them
            mode = info.external_attr >> 16
            if mode & stat.S_IXUSR:
                (root / "source" / info.filename).chmod(mode & 0o777)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path) -> dict:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([str(root / "source" / "run_autograder")], capture_output=True, text=True,
                          env=env, cwd=root, timeout=900)
    results = root / "results" / "results.json"
    assert results.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(results.read_text(encoding="utf-8"))


def visible_text(data: dict) -> str:
    return "\n".join([data["output"], *(t["name"] + "\n" + t["output"] for t in data["tests"]
                                       if t["visibility"] == "visible")])


def hidden_sources(exercise: str) -> list[str]:
    return [line for cell in notebooks.read(notebooks.ROOT / "solutions" / f"{exercise}.ipynb").cells
            if notebooks.tagged(cell, "hidden-check")
            for line in normalised(cell.source).splitlines() if len(line) >= 20]


@pytest.mark.slow
def test_gradescope_zip_grades_with_the_exercise_pinned(tmp_path):
    solution = notebooks.read(notebooks.ROOT / "solutions" / f"{EXERCISE}.ipynb")
    solution.metadata["exercise"] = "01_parameter"  # the submission claims another exercise
    cases = {"solved": solution,
             "untouched": notebooks.read(notebooks.ROOT / "exercises" / f"{EXERCISE}.ipynb")}
    full = all_points(notebooks.ROOT / "solutions" / f"{EXERCISE}.ipynb")
    hidden = hidden_sources(EXERCISE)
    assert hidden
    for name, nb in cases.items():
        root = autograder(tmp_path / name)
        (root / "submission" / "my submission.ipynb").write_text(notebooks.dumps(nb), encoding="utf-8")
        data = run_autograder(root)
        assert_gradescope_shape(data)
        assert data["extra_data"]["exercise"] == EXERCISE
        assert data["score"] == (full if name == "solved" else 0), data["output"]
        assert any(t["visibility"] == "after_published" for t in data["tests"])
        shown = visible_text(data)
        assert not [line for line in hidden if line in shown]
        for test in data["tests"]:
            if test["visibility"] != "visible" and test["status"] == "failed":
                assert test["output"] not in shown


@pytest.mark.slow
def test_gradescope_unusable_submission_still_gets_results(tmp_path):
    root = autograder(tmp_path)
    (root / "submission" / "notes.ipynb").write_text("{ not json", encoding="utf-8")
    data = run_autograder(root)
    assert data["score"] == 0 and data["tests"] == []
    assert data["output"].startswith("Not graded: ") and "not JSON" in data["output"]


def test_book_links_to_the_kit(built_book):
    """The intro and every exercise page link to the kit, and the link is a zip in the HTML."""
    pages = [built_book / "intro.html",
             *(built_book / "exercises" / f"{p.stem}.html" for p in notebooks.toc_notebooks("exercises"))]
    for page in pages:
        hrefs = re.findall(r'href="([^"]*nn-module-kit\.zip)"', page.read_text(encoding="utf-8"))
        assert hrefs, f"{page.name} has no link to the kit"
        target = (page.parent / hrefs[0]).resolve()
        assert target == (built_book / kit.KIT_NAME).resolve()
        with zipfile.ZipFile(target) as archive:
            assert f"{kit.KIT_PREFIX}exercises/{EXERCISE}.ipynb" in archive.namelist()
