"""The tools write nbformat 4.5 with a stable id on every cell, so opening a notebook changes nothing.

Every test works on a temporary copy; the committed notebooks are not touched.
"""
from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from tools import normalize, notebooks, release

SOLUTION = notebooks.toc_notebooks("solutions")[0]


def ids_of(path) -> list[str]:
    return [cell["id"] for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]]


def as_v44(path, target):
    """A copy of a notebook in the old form: nbformat 4.4, no cell ids."""
    nb = notebooks.read(path)
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.pop("id", None)
    target.write_text(nbformat.writes(nb), encoding="utf-8")
    return target


@pytest.fixture
def old(tmp_path):
    return as_v44(SOLUTION, tmp_path / SOLUTION.name)


def test_a_44_notebook_becomes_45_with_unique_valid_ids(old):
    assert "not normalised (run `make normalize`)" in normalize.problems(old)
    assert normalize.main([str(old)]) == 0
    raw = json.loads(old.read_text(encoding="utf-8"))
    assert (raw["nbformat"], raw["nbformat_minor"]) == (4, 5)
    ids = ids_of(old)
    assert len(ids) == len(raw["cells"]) and len(set(ids)) == len(ids)
    assert all(notebooks.CELL_ID.match(i) for i in ids)
    nbformat.validate(nbformat.read(str(old), as_version=4))  # raises on a bad or missing id
    assert normalize.problems(old) == []


def test_converting_twice_gives_the_same_ids(old, tmp_path):
    twin = shutil.copy(old, tmp_path / "twin.ipynb")
    normalize.main([str(old)])
    normalize.main([str(twin)])
    assert ids_of(old) == ids_of(twin)


def test_ids_survive_edits_and_rewrites(old):
    normalize.main([str(old)])
    before = ids_of(old)
    text = old.read_text(encoding="utf-8")
    assert normalize.main([str(old)]) == 0 and old.read_text(encoding="utf-8") == text  # a no-op

    nb = notebooks.read(old)
    nb.cells[1].source += "\n# edited"                                # an edit keeps the id
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("A new cell"))   # a new cell gets one
    nb.cells[2].pop("id", None)
    notebooks.write(nb, old)
    after = ids_of(old)
    assert after[:2] == before[:2] and after[3:] == before[2:]
    assert after[2] not in before and notebooks.CELL_ID.match(after[2])


def test_duplicate_and_invalid_ids_are_replaced_and_the_first_kept(old):
    normalize.main([str(old)])
    nb = notebooks.read(old)
    first = nb.cells[0].id
    nb.cells[1].id = first            # a duplicate, as a hand copy of a cell would make
    nb.cells[2]["id"] = "not valid!"  # characters nbformat refuses
    ids = [cell.id for cell in notebooks.normalise(nb).cells]
    assert ids[0] == first and ids[1] != first and ids[2] != "not valid!"
    assert len(set(ids)) == len(ids) and all(notebooks.CELL_ID.match(i) for i in ids)


def test_executing_keeps_the_ids(tmp_path):
    path = tmp_path / "small.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Small"),
                                         nbformat.v4.new_code_cell("print(6 * 7)")])
    nb.cells[0].id, nb.cells[1].id = "intro", "answer"
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    assert normalize.main(["--execute", str(path)]) == 0
    assert ids_of(path) == ["intro", "answer"]
    done = notebooks.read(path)
    assert done.nbformat_minor == 5 and done.cells[1].outputs[0]["text"] == "42\n"


def test_release_keeps_the_solution_ids(old):
    normalize.main([str(old)])
    solution = notebooks.read(old)
    exercise = nbformat.reads(notebooks.dumps(release.exercise_of(solution)), as_version=4)
    by_id = {cell.id: cell for cell in solution.cells}
    assert exercise.nbformat_minor == 5 and exercise.cells
    hidden = [c.id for c in solution.cells if notebooks.tagged(c, "hidden-check")]
    assert hidden and not set(hidden) & {c.id for c in exercise.cells}
    for cell in exercise.cells:
        assert by_id[cell.id].cell_type == cell.cell_type
        assert by_id[cell.id].metadata == cell.metadata
    # and the id does not depend on the stripped source: answer cells keep theirs too
    answers = [c for c in exercise.cells if notebooks.tagged(c, "answer")]
    assert answers and all(c.source != by_id[c.id].source for c in answers)
