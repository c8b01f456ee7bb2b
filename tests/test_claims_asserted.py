"""The assertion rule: a chapter's sentence and its evidence cannot drift apart.

The rule, cheap to follow: every code cell of a chapter (and of the claims appendix) that *shows*
something — it has an output in the committed notebook — backs the sentence above it by asserting
what it shows, or demonstrates an error: it carries the tag `raises-exception` and its committed
output is that error. Cells without output (imports, definitions, set-up steps) show nothing and
state nothing; `export` cells are the rebuild, tested against torch by their own tests.

"Asserts" means at least one `assert` statement that runs when the cell runs (not inside a `def`,
`class` or `lambda`) and can fail: its test must read a value (`assert True`, `assert 1` do not
count), must not compare an expression with itself (`assert x == x`), and must not be an `or`
with a constant that is always true (`assert x or True`). nbval then re-runs every cell, so each
counted assertion holds on torch 2.13.
"""
from __future__ import annotations

import ast

import nbformat
import pytest

from conftest import CHAPTERS, ids
from tools import notebooks

CLAIMS = notebooks.ROOT / "appendix" / "claims.ipynb"
NOTEBOOKS = CHAPTERS + [CLAIMS]
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
SAME_SIDED = (ast.Eq, ast.Is, ast.LtE, ast.GtE)


def _reads_a_value(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)) for n in ast.walk(node))


def _always_true(node: ast.AST) -> bool:
    """Tests that cannot fail: constants, `x == x`, `x or <truthy constant>`, `isinstance(x, object)`."""
    if not _reads_a_value(node):
        return True
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], SAME_SIDED):
        return ast.dump(node.left) == ast.dump(node.comparators[0])
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        return any(_always_true(value) for value in node.values)
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return all(_always_true(value) for value in node.values)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"
            and len(node.args) == 2 and isinstance(node.args[1], ast.Name) and node.args[1].id == "object"):
        return True
    return False


def _run_asserts(tree: ast.AST):
    """The assert statements that run with the cell: not inside a def, class or lambda."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, SCOPES):
            continue
        if isinstance(node, ast.Assert):
            yield node
        yield from _run_asserts(node)


def cell_problem(cell: nbformat.NotebookNode) -> str | None:
    """Why a code cell breaks the assertion rule, or None when it follows it."""
    if notebooks.tagged(cell, "export") or not cell.get("outputs"):
        return None
    errors = [out for out in cell.outputs if out.get("output_type") == "error"]
    if notebooks.tagged(cell, "raises-exception"):
        return None if errors else "tagged raises-exception, but its output is no error"
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as err:  # IPython syntax (magics) is no evidence either
        return f"not plain Python ({err.msg})"
    asserts = list(_run_asserts(tree))
    if not asserts:
        return "shows an output but asserts nothing"
    if all(_always_true(node.test) for node in asserts):
        return "every assert in it is vacuous (cannot fail)"
    return None


def problems(path) -> list[str]:
    """Every cell of the notebook at `path` that breaks the rule, as 'cell N: why: first line'."""
    found = []
    for index, cell in enumerate(notebooks.read(path).cells):
        if cell.cell_type == "code":
            why = cell_problem(cell)
            if why:
                first = cell.source.strip().splitlines()[0][:60]
                found.append(f"cell {index}: {why}: {first}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[f"{p.parent.name}/{p.name}" for p in NOTEBOOKS])
def test_every_shown_claim_is_asserted(path):
    assert problems(path) == []


# --- the rule must be able to fail ------------------------------------------------------------

def _cell(source: str, outputs: list | None = None, tags: tuple = ()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = list(tags)
    cell.outputs = outputs if outputs is not None else [nbformat.v4.new_output("stream", text="shown\n")]
    return cell


ERROR = nbformat.v4.new_output("error", ename="TypeError", evalue="no", traceback=[])


@pytest.mark.parametrize("source", [
    "print(m.x)",
    "assert True\nprint(m.x)",
    "assert 1, 'message'\nprint(m.x)",
    "assert (1, 2)\nprint(m.x)",
    "assert m.x == m.x",
    "assert m.x is m.x",
    "assert m.x or True",
    "assert isinstance(m.x, object)",
    "def check():\n    assert m.x == 1\nprint(m.x)",
    "class C:\n    assert m.x\nprint(m.x)",
    "check = lambda: m.x == 1\nprint(m.x)",
    "%timeit m.x",
])
def test_rule_rejects_cells_that_assert_nothing(source):
    assert cell_problem(_cell(source)) is not None


@pytest.mark.parametrize("source", [
    "print(m.x)\nassert isinstance(m.x, nn.Linear)",
    "for name in names:\n    assert name in m._parameters, name",
    "with torch.no_grad():\n    assert not torch.is_grad_enabled()",
    "assert m.x == 1 or m.y == 2",
])
def test_rule_accepts_cells_that_assert(source):
    assert cell_problem(_cell(source)) is None


def test_rule_on_error_cells_and_silent_cells():
    assert cell_problem(_cell("m.x = 1", tags=("raises-exception",))) is not None
    assert cell_problem(_cell("m.x = 1", outputs=[ERROR], tags=("raises-exception",))) is None
    assert cell_problem(_cell("m.x = 1", outputs=[])) is None
    assert cell_problem(_cell("print(m.x)", tags=("export",))) is None


def test_rule_fails_on_a_doctored_chapter(tmp_path):
    """Strip every assert from a real chapter: the rule must report its cells."""
    nb = notebooks.read(CHAPTERS[1])
    for cell in nb.cells:
        if cell.cell_type == "code" and not notebooks.tagged(cell, "export"):
            cell.source = "\n".join(line for line in cell.source.splitlines()
                                    if not line.lstrip().startswith("assert "))
    doctored = tmp_path / CHAPTERS[1].name
    nbformat.write(nb, str(doctored))
    assert len(problems(CHAPTERS[1])) < len(problems(doctored))
    assert any("asserts nothing" in problem for problem in problems(doctored))
