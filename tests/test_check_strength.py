"""Checks are tested like code: a check must fail on trivial answers, and must see torch do more
than one thing.

For every task of every solution notebook, each trivial answer (None, 0, [], {}, constants, the
identity, returning the input, `pass`, always raising) replaces the task's functions, and the
task's visible check and hidden check must each fail on their own. And every `compare` call of a
solution must observe at least two distinct torch results: a check whose torch side always gives
the same result compares against a constant, which a constant answer can match.

The notebooks run in this process (one namespace per exercise, cells compiled as the kernel
would), and a trivial answer's check stops at its first failing case, so the whole file costs
about one run of each solution.
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import io
import pkgutil
from collections.abc import Callable

import pytest

import grader.tasks
from conftest import SOLUTIONS, ids
from grader import checks
from tools import notebooks

TRIVIAL = {
    "returns None": "return None",
    "pass": "pass",
    "returns 0": "return 0",
    "returns 1": "return 1",
    "returns []": "return []",
    "returns {}": "return {}",
    "returns a constant string": 'return "parameter"',
    "the identity (first argument)": "return args[0] if args else None",
    "returns its input (last argument)": "return args[-1] if args else None",
    "always raises": 'raise RuntimeError("not done")',
}


def trivial_answer(source: str, body: str) -> str:
    """Every function an answer cell defines, redefined with `body` and any arguments."""
    names = [node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]
    assert names, "an answer cell defines no function"
    return "\n".join(f"def {name}(*args, **kwargs):\n    {body}\n" for name in names)


class Notebook:
    """A solution notebook's code cells, run one by one in a namespace of their own."""

    def __init__(self, path):
        self.nb = notebooks.read(path)
        self.ns: dict = {"__name__": "__main__"}

    def run(self, source: str, label: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(source, f"<{label}>", "exec"), self.ns)
        return out.getvalue()

    def cells(self, tag: str, task: str | None = None) -> list:
        return [c for c in self.nb.cells if notebooks.tagged(c, tag)
                and (task is None or c.metadata.grade.task == task)]

    def tasks(self) -> list[str]:
        return [c.metadata.grade.task for c in self.cells("answer")]


@contextlib.contextmanager
def compare_replaced(monkeypatch, ns: dict, make: Callable[[Callable], Callable]):
    """Within the block, `compare` is make(the real compare) for the notebook's cells and for
    the exercise modules that call it for them."""
    real = checks.compare
    replacement = make(real)
    for info in pkgutil.iter_modules(grader.tasks.__path__):
        module = importlib.import_module(f"grader.tasks.{info.name}")
        if getattr(module, "compare", None) is real:
            monkeypatch.setattr(module, "compare", replacement)
    ns["compare"] = replacement
    try:
        yield
    finally:
        ns["compare"] = real


def stop_at_first_failure(real: Callable) -> Callable:
    """compare, one case at a time: the first differing case raises CheckFailed."""
    def compare(task, cases, yours, torch_ref, **kwargs):
        for case in cases:
            real(task, [case], yours, torch_ref, **kwargs)
    return compare


def recording_torch_results(seen: list) -> Callable[[Callable], Callable]:
    """compare that also appends, per call, (task, every observed torch result) to `seen`."""
    def make(real: Callable) -> Callable:
        def compare(task, cases, yours, torch_ref, observe=lambda result: result, **kwargs):
            results: list = []

            def spy(*args):
                try:
                    value = torch_ref(*args)
                except Exception as err:
                    results.append(("raises", f"{type(err).__name__}: {err}"))
                    raise
                results.append(checks.outcome(lambda: observe(value)))
                return value
            real(task, cases, yours, spy, observe=observe, **kwargs)
            seen.append((task, results))
        return compare
    return make


def distinct(results: list) -> int:
    return len({repr(r) for r in results})


@pytest.fixture
def raising(monkeypatch):
    """Failing checks raise CheckFailed, as under the grader."""
    monkeypatch.setenv("GRADER_CHECKS", "raise")
    monkeypatch.delenv("GRADER_SEED", raising=False)


@pytest.mark.slow  # runs every solution notebook, as nbval over solutions/ does
@pytest.mark.parametrize("path", SOLUTIONS, ids=ids(SOLUTIONS))
def test_trivial_answers_fail_the_visible_and_the_hidden_check(path, monkeypatch, raising):
    notebook = Notebook(path)
    seen: list = []
    with compare_replaced(monkeypatch, notebook.ns, recording_torch_results(seen)):
        for i, cell in enumerate(notebook.nb.cells):
            if cell.cell_type == "code":
                notebook.run(cell.source, f"cell {i}")  # the solution passes every check
    for task, results in seen:
        assert distinct(results) >= 2, f"a check of task {task} sees one torch result only: {results[:1]}"
    assert {task for task, _ in seen} == set(notebook.tasks())

    passed = []
    with compare_replaced(monkeypatch, notebook.ns, stop_at_first_failure):
        for answer in notebook.cells("answer"):
            task = answer.metadata.grade.task
            checked = notebook.cells("check", task) + notebook.cells("hidden-check", task)
            assert notebook.cells("check", task) and notebook.cells("hidden-check", task)
            for kind, body in TRIVIAL.items():
                notebook.run(trivial_answer(answer.source, body), f"trivial answer {task}")
                for cell in checked:
                    tag = cell.metadata.tags[0]
                    try:
                        notebook.run(cell.source, f"{tag} {task}")
                    except checks.CheckFailed:
                        continue
                    passed.append(f"{task} {tag} passes an answer that {kind}")
            notebook.run(answer.source, f"answer {task}")  # back to the solution for the next task
    assert passed == []


def test_the_rules_catch_a_check_that_compares_nothing(monkeypatch, raising):
    """3.4's old visible check listed an int on both sides: every case was TypeError = TypeError."""
    seen: list = []
    ns: dict = {}
    cases = [(f"case {n}", lambda n=n: (n,)) for n in range(3)]
    with compare_replaced(monkeypatch, ns, recording_torch_results(seen)):
        ns["compare"]("0.1", cases, lambda n: list(0), lambda n: list(n * n))
    assert distinct(seen[0][1]) == 1  # the solution "passes", but torch's side is one constant
    seen.clear()
    with compare_replaced(monkeypatch, ns, recording_torch_results(seen)):  # the fixed check
        ns["compare"]("0.1", cases, lambda n: n ** 2, lambda n: n * n)
    assert distinct(seen[0][1]) == 3
    with compare_replaced(monkeypatch, ns, stop_at_first_failure):
        with pytest.raises(checks.CheckFailed):  # and `return 0` fails it
            ns["compare"]("0.1", cases, lambda n: 0, lambda n: n * n)


def test_trivial_answers_keep_the_signature_free():
    source = "def a(x, y=1):\n    '''doc'''\n    return x\n\n\ndef b():\n    pass\n"
    assert trivial_answer(source, "return 0") == ("def a(*args, **kwargs):\n    return 0\n\n"
                                                  "def b(*args, **kwargs):\n    return 0\n")
