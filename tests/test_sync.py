"""Committed notebooks are canonical and freshly executed; purenn and exercises match their sources."""
from __future__ import annotations

import shutil

import nbformat
import pytest

from conftest import APPENDIX, CHAPTERS, EXERCISES, SOLUTIONS, ids
from tools import export, normalize, notebooks, release


ALL = CHAPTERS + SOLUTIONS + EXERCISES + APPENDIX


@pytest.mark.parametrize("path", ALL, ids=[f"{p.parent.name}/{p.name}" for p in ALL])
def test_notebook_is_normalised_and_freshly_executed(path):
    assert normalize.problems(path) == []


def test_every_solution_has_an_exercise_and_a_chapter():
    assert [p.name for p in SOLUTIONS] == [p.name for p in EXERCISES]
    assert {p.name for p in SOLUTIONS} <= {p.name for p in CHAPTERS}


def test_purenn_matches_the_chapters():
    assert export.stale() == []


def test_exercises_match_the_solutions():
    assert release.stale() == []


# --- the checks above must be able to fail -------------------------------------------------

def _copy(path, tmp_path):
    target = tmp_path / path.parent.name / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, target)
    return target


def test_problems_flags_noise_and_stale_execution(tmp_path):
    target = _copy(SOLUTIONS[0], tmp_path)
    nb = notebooks.read(target)
    nb.metadata["widgets"] = {"state": {}}
    target.write_text(nbformat.writes(nb), encoding="utf-8")
    assert any("not normalised" in p for p in normalize.problems(target))

    nb = notebooks.read(SOLUTIONS[0])
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[0].execution_count, code[1].execution_count = code[1].execution_count, code[0].execution_count
    code[2].outputs.append(nbformat.v4.new_output("stream", name="stderr", text="UserWarning\n"))
    notebooks.write(nb, target)
    found = normalize.problems(target)
    assert any("execution counts" in p for p in found)
    assert any("stderr" in p for p in found)


def test_export_detects_drift(tmp_path, monkeypatch):
    package = tmp_path / "purenn"
    shutil.copytree(export.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(export, "PACKAGE", package)
    assert export.stale() == []
    module = package / "parameter.py"
    module.write_text(module.read_text() + "\nEXTRA = 1\n")
    (package / "leftover.py").write_text("")
    assert export.stale() == ["parameter.py", "leftover.py"]
    assert export.main([]) == 0 and export.stale() == []


def test_export_header_names_the_chapter():
    text = (export.PACKAGE / "parameter.py").read_text()
    assert text.startswith('"""Generated from chapters/01_parameter.ipynb')
    assert "# %% chapters/01_parameter.ipynb, cell " in text


def test_release_strips_solutions_and_hidden_checks():
    solution = notebooks.read(SOLUTIONS[0])
    exercise = release.exercise_of(solution)
    tags = [c.metadata.get("tags", []) for c in exercise.cells]
    assert not any("hidden-check" in t for t in tags)
    answers = [c for c in exercise.cells if notebooks.tagged(c, "answer")]
    assert answers and all("### BEGIN SOLUTION" not in c.source and not c.outputs for c in answers)
    for cell in answers:
        assert f'raise NotImplementedError("Exercise {cell.metadata.grade.task}")' in cell.source
    checks = [c for c in exercise.cells if notebooks.tagged(c, "check")]
    assert checks and all(c.outputs for c in checks)


def test_release_keeps_indentation_and_refuses_unmarked_answers():
    source = 'def f():\n    """Doc."""\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n'
    assert release.strip_answer(source, "9.1") == \
        'def f():\n    """Doc."""\n    raise NotImplementedError("Exercise 9.1")\n'
    with pytest.raises(ValueError, match="no ### BEGIN SOLUTION"):
        release.strip_answer("def f():\n    return 1\n", "9.1")


def test_release_detects_a_hand_edited_exercise(tmp_path, monkeypatch):
    for path in SOLUTIONS + EXERCISES:
        _copy(path, tmp_path)
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    assert release.stale() == []
    edited = tmp_path / "exercises" / EXERCISES[0].name
    nb = notebooks.read(edited)
    nb.cells[0].source += "\nA hand edit."
    notebooks.write(nb, edited)
    assert release.stale() == [EXERCISES[0].name]


# --- section pages: listed after their chapter, exported into the chapter's module ----------

def test_section_pages_sort_after_their_chapter(tmp_path, monkeypatch):
    folder = tmp_path / "chapters"
    folder.mkdir()
    for name in ("03_traversal", "02b_containers", "02_registration", "01_parameter",
                 "02B_upper", "2_short", "002_long", "02bb_two_letters", "notes"):
        (folder / f"{name}.ipynb").write_text("{}")
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    found = [p.stem for p in notebooks.toc_notebooks("chapters")]
    assert found == ["01_parameter", "02_registration", "02b_containers", "03_traversal"]
    assert [notebooks.chapter_of(folder / f"{s}.ipynb") for s in found] == ["01", "02", "02", "03"]
    assert [notebooks.is_section(folder / f"{s}.ipynb") for s in found] == [False, False, True, False]
    with pytest.raises(ValueError, match="not a numbered page"):
        notebooks.chapter_of(folder / "notes.ipynb")


def test_a_section_exports_into_its_chapters_module():
    text = (export.PACKAGE / "registration.py").read_text()
    assert text.startswith('"""Generated from chapters/02_registration.ipynb and '
                           'chapters/02b_containers.ipynb \u2014')
    own, section = text.index("# %% chapters/02_registration.ipynb"), text.index("# %% chapters/02b_containers.ipynb")
    assert own < section < text.index("class Sequential(Module)")
    assert not (export.PACKAGE / "containers.py").exists()
    assert "from .containers" not in (export.PACKAGE / "__init__.py").read_text()


def _chapter(folder, name, export_source=None):
    cells = [nbformat.v4.new_markdown_cell(f"# {name}")]
    if export_source is not None:
        cells.append(nbformat.v4.new_code_cell(export_source))
        cells[-1].metadata["tags"] = ["export"]
    notebooks.write(nbformat.v4.new_notebook(cells=cells), folder / f"{name}.ipynb")


def test_export_groups_pages_by_chapter_and_refuses_orphan_sections(tmp_path, monkeypatch):
    folder = tmp_path / "chapters"
    folder.mkdir()
    _chapter(folder, "01_first", "def one():\n    return 1")
    _chapter(folder, "01b_more", "def two():\n    return 2")
    _chapter(folder, "02_second")
    _chapter(folder, "02b_extra", "THREE = 3")
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    files = export.render_package()
    assert sorted(files) == ["__init__.py", "first.py", "second.py"]
    assert files["first.py"].startswith(
        '"""Generated from chapters/01_first.ipynb and chapters/01b_more.ipynb \u2014')
    assert "__all__ = ['one', 'two']" in files["first.py"]
    assert files["second.py"].startswith('"""Generated from chapters/02b_extra.ipynb \u2014')
    (folder / "02_second.ipynb").unlink()
    with pytest.raises(ValueError, match="chapter 02 needs exactly one page chapters/02_topic.ipynb"):
        export.render_package()
