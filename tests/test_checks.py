"""The check helper reports differences faithfully and cannot pass a wrong answer."""
from __future__ import annotations

import pytest

from grader.checks import CheckFailed, compare, difference_line, first_difference


@pytest.fixture
def raising(monkeypatch):
    """A failing check raises, as it does under the grader."""
    monkeypatch.setenv("GRADER_CHECKS", "raise")


@pytest.fixture
def learner(monkeypatch):
    """A learner's own run: no grader, nothing in the environment."""
    monkeypatch.delenv("GRADER_CHECKS", raising=False)


def test_first_difference_finds_the_path():
    assert first_difference([1, [2, 3]], [1, [2, 4]]) == ("[1][1]", 3, 4)
    assert first_difference({"a": 1, "b": 2}, {"a": 1, "b": 3}) == ("b", 2, 3)
    assert first_difference([1, 2], [1, 2, 3]) == ("[2]", "<missing>", 3)
    assert first_difference(1, True) == ("", 1, True)  # bool is not int here
    assert first_difference((1, "x"), (1, "x")) is None


def test_paths_read_like_the_expression_that_reaches_the_value():
    got = {"missing_keys": [], "unexpected_keys": ["extra"], "state": {"0.weight": [1.0, 2.0]}}
    want = {"missing_keys": [], "unexpected_keys": ["zz.weight"], "state": {"0.weight": [1.0, 3.0]}}
    assert first_difference(got, want) == ("unexpected_keys[0]", "extra", "zz.weight")
    got["unexpected_keys"] = want["unexpected_keys"]
    assert first_difference(got, want) == ("state['0.weight'][1]", 2.0, 3.0)
    assert first_difference([{"name": "a"}, {"name": "b"}], [{"name": "a"}, {"name": "c"}]) \
        == ("[1].name", "b", "c")
    assert first_difference({"a": 1}, {"a": 1, "b": 2}) == ("b", "<missing>", 2)


def test_difference_line_names_the_path_and_shows_the_code_of_a_case():
    got = ("value", {"unexpected_keys": ["extra"]})
    want = ("value", {"unexpected_keys": ["zz.weight"]})
    assert difference_line("case", got, want) == \
        "\u2717 case \u2014 at unexpected_keys[0]: yours: 'extra'  torch: 'zz.weight'"
    line = difference_line("random tree 3\nroot = nn.Linear(2, 2)\ncount_parameters(root)",
                           ("value", 4), ("value", 6))
    assert line.splitlines() == ["\u2717 random tree 3 \u2014 yours: 4  torch: 6", "    rebuild this case:",
                                 "        root = nn.Linear(2, 2)", "        count_parameters(root)"]
    assert difference_line("same", got, got) is None


def test_compare_prints_one_line_per_case_and_passes(capsys, raising):
    cases = [("two", lambda: (2,)), ("three", lambda: (3,))]
    compare("0.1", cases, lambda n: n * n, lambda n: n ** 2)
    assert capsys.readouterr().out == "\u2713 two\n\u2713 three\n"


def test_compare_reports_first_difference_and_fails(capsys, raising):
    cases = [("ok", lambda: ([1, 2],)), ("bad", lambda: ([1, 2, 3],))]
    with pytest.raises(CheckFailed, match="Task 0.2: 1 of 2 cases differ from torch"):
        compare("0.2", cases, lambda xs: [x if x < 3 else 0 for x in xs], lambda xs: list(xs))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "\u2713 ok"
    assert out[1] == "\u2717 bad \u2014 at [2]: yours: 0  torch: 3"


def test_in_a_learners_run_a_failing_check_reports_and_continues(capsys, learner):
    cases = [("ok", lambda: (1,)), ("bad", lambda: (2,))]
    compare("0.6", cases, lambda n: 1, lambda n: n)  # returns: "Run All" goes on to the next task
    assert capsys.readouterr().out.splitlines() == [
        "\u2713 ok", "\u2717 bad \u2014 yours: 1  torch: 2",
        "\u2717 Task 0.6: 1 of 2 cases differ from torch (the grader counts this check as failed)"]
    compare("0.6", cases, lambda n: n, lambda n: n)
    assert capsys.readouterr().out == "\u2713 ok\n\u2713 bad\n"


def test_compare_shows_exceptions_on_either_side(capsys, raising):
    def yours(x):
        raise NotImplementedError("Exercise 0.3")

    with pytest.raises(CheckFailed):
        compare("0.3", [("case", lambda: (1,))], yours, lambda x: x)
    assert "yours: 'raises NotImplementedError: Exercise 0.3'  torch: 1" in capsys.readouterr().out


def test_summary_mode_prints_only_failures_and_a_count(capsys, raising):
    cases = [(f"c{i}", lambda i=i: (i,)) for i in range(5)]
    compare("0.4", cases, lambda i: i, lambda i: i, summary=True)
    assert capsys.readouterr().out == "\u2713 all 5 randomized cases match torch\n"
    with pytest.raises(CheckFailed):
        compare("0.4", cases, lambda i: i if i != 3 else -1, lambda i: i, summary=True)
    assert capsys.readouterr().out == "\u2717 c3 \u2014 yours: -1  torch: 3\n"


def test_forbidden_functions_raise_only_inside_yours(capsys, raising):
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


def test_a_random_tree_shown_as_code_rebuilds_the_same_tree():
    import random

    import torch
    import torch.nn as nn

    from grader.tasks.rebuild import tree_code
    from grader.trees import build, random_spec

    rng = random.Random(7)
    for _ in range(100):
        spec, seed = random_spec(rng), rng.randrange(3)
        namespace = {"torch": torch, "nn": nn}
        exec(tree_code(spec, seed), namespace)
        built, rebuilt = build(nn, spec, seed)[0], namespace["root"]
        walk = lambda m: [(n, type(v).__name__) for n, v in m.named_modules(remove_duplicate=False)]
        assert walk(rebuilt) == walk(built)
        want, got = built.state_dict(keep_vars=True), rebuilt.state_dict(keep_vars=True)
        assert list(got) == list(want)
        assert all(torch.equal(got[k], want[k]) and got[k].requires_grad == want[k].requires_grad for k in want)
        assert [n for n, _ in rebuilt.named_parameters()] == [n for n, _ in built.named_parameters()]


def test_a_random_script_shown_as_code_replays_the_same_steps():
    import random

    import torch
    import torch.nn as nn

    from grader.replay import random_script, replay
    from grader.tasks.rebuild import script_code
    from grader.tasks.registration import registry_with

    rng = random.Random(8)
    for _ in range(50):
        script = random_script(rng, 12, names=("a", "b", "forward", "", "x.y"))
        namespace = {"torch": torch, "nn": nn, "m": registry_with()()}
        outcomes = []
        for line in script_code(script).splitlines()[1:]:  # one statement per step
            try:
                exec(line, namespace)
                outcomes.append("ok")
            except Exception as err:
                outcomes.append(type(err).__name__)
        want = replay(registry_with()(), script, nn)
        assert outcomes == ["ok" if o.startswith("ok") else o.split(":")[0] for o in want["outcomes"]]
        stores = vars(namespace["m"])
        assert list(stores["_parameters"]) == [n for n, _ in want["_parameters"]]
        assert list(stores["_buffers"]) == [n for n, _ in want["_buffers"]]
        assert list(stores["_modules"]) == [n for n, _ in want["_modules"]]


def test_exercise_7_checkpoints_are_removed_by_the_side_that_used_them(tmp_path):
    """A check of exercise 7 writes up to ten checkpoints (some 80 MiB); each is gone once its
    side of the case has loaded it, whether the load worked or raised."""
    import torch

    from grader.tasks import big_models

    build = big_models.architecture(20, 4, 1, True, False)

    def honest(path, make):
        model = make()
        model.load_state_dict(torch.load(path, weights_only=True))
        return model

    def broken(path, make):
        raise ValueError("no")

    for side in (big_models.loaded_by(honest), big_models.by_spec):
        path = big_models.checkpoint_of(build, seed=3)
        assert path.exists()
        assert side(path, build)["values equal"] is True
        assert not path.exists() and not path.parent.exists()
    path = big_models.checkpoint_of(build, seed=3)
    with pytest.raises(ValueError):
        big_models.loaded_by(broken)(path, build)
    assert not path.parent.exists()
    mine = tmp_path / "mine.pt"  # a file the module did not write is never removed
    torch.save(build().state_dict(), mine)
    assert big_models.by_spec(mine, build)["values equal"] is True and mine.exists()


def test_exercise_5_scratch_of_kernels_that_no_longer_run_is_removed(tmp_path, monkeypatch):
    """Kernels are stopped with a kill (no exit handler runs): the next kernel that imports
    exercise 5's checks removes the scratch directories of kernels that are gone, and only those."""
    import os
    import subprocess
    import sys

    from grader.tasks import checkpointing

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    prefix = checkpointing.SCRATCH_PREFIX
    dead = tmp_path / f"{prefix}{gone.stdout.strip()}-abc"
    (dead / "case").mkdir(parents=True)
    (dead / "case" / "ckpt.pt").write_bytes(b"x" * 1000)
    living = tmp_path / f"{prefix}{os.getppid()}-def"
    living.mkdir()
    elsewhere = tmp_path / "kept"
    elsewhere.mkdir()
    (tmp_path / f"{prefix}{gone.stdout.strip()}-link").symlink_to(elsewhere)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    made = checkpointing.scratch_dir()
    assert not dead.exists() and living.exists() and elsewhere.exists()
    assert made.parent == tmp_path and made.name.startswith(f"{prefix}{os.getpid()}-")
    assert checkpointing.fresh_dir().parent == checkpointing._SCRATCH
