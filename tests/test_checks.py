"""The check helper reports differences faithfully and cannot pass a wrong answer."""
from __future__ import annotations

import pytest

from grader.checks import CheckFailed, compare, first_difference


def test_first_difference_finds_the_path():
    assert first_difference([1, [2, 3]], [1, [2, 4]]) == ("[1][1]", 3, 4)
    assert first_difference({"a": 1, "b": 2}, {"a": 1, "b": 3}) == ("['b']", 2, 3)
    assert first_difference([1, 2], [1, 2, 3]) == ("[2]", "<missing>", 3)
    assert first_difference(1, True) == ("", 1, True)  # bool is not int here
    assert first_difference((1, "x"), (1, "x")) is None


def test_compare_prints_one_line_per_case_and_passes(capsys):
    cases = [("two", lambda: (2,)), ("three", lambda: (3,))]
    compare("0.1", cases, lambda n: n * n, lambda n: n ** 2)
    assert capsys.readouterr().out == "\u2713 two\n\u2713 three\n"


def test_compare_reports_first_difference_and_fails(capsys):
    cases = [("ok", lambda: ([1, 2],)), ("bad", lambda: ([1, 2, 3],))]
    with pytest.raises(CheckFailed, match="Task 0.2: 1 of 2 cases differ from torch"):
        compare("0.2", cases, lambda xs: [x if x < 3 else 0 for x in xs], lambda xs: list(xs))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "\u2713 ok"
    assert out[1] == "\u2717 bad \u2014 at [2]: yours: 0  torch: 3"


def test_compare_shows_exceptions_on_either_side(capsys):
    def yours(x):
        raise NotImplementedError("Exercise 0.3")

    with pytest.raises(CheckFailed):
        compare("0.3", [("case", lambda: (1,))], yours, lambda x: x)
    assert "yours: 'raises NotImplementedError: Exercise 0.3'  torch: 1" in capsys.readouterr().out


def test_summary_mode_prints_only_failures_and_a_count(capsys):
    cases = [(f"c{i}", lambda i=i: (i,)) for i in range(5)]
    compare("0.4", cases, lambda i: i, lambda i: i, summary=True)
    assert capsys.readouterr().out == "\u2713 all 5 randomized cases match torch\n"
    with pytest.raises(CheckFailed):
        compare("0.4", cases, lambda i: i if i != 3 else -1, lambda i: i, summary=True)
    assert capsys.readouterr().out == "\u2717 c3 \u2014 yours: -1  torch: 3\n"


def test_forbidden_functions_raise_only_inside_yours(capsys):
    import copy

    def cheat(x):
        return copy.deepcopy(x)

    with pytest.raises(CheckFailed):
        compare("0.5", [("list", lambda: ([1, [2]],))], cheat, copy.deepcopy,
                forbid=[(copy, "deepcopy")])
    assert "RuntimeError: Exercise 0.5 must not call copy.deepcopy" in capsys.readouterr().out
    assert copy.deepcopy([1]) == [1]  # restored afterwards
    compare("0.5", [("list", lambda: ([1, [2]],))], lambda x: [x[0], list(x[1])], copy.deepcopy,
            forbid=[(copy, "deepcopy")])
