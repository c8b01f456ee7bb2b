"""Untouched exercises fail every check; with the solution's answers they pass every check.

nbval (run by `make test` over solutions/) proves that each solution passes its checks with the
stored outputs; these tests execute the generated exercises themselves.
"""
from __future__ import annotations

import copy
import os
import re

import pytest

from conftest import EXERCISES, SOLUTIONS, ids
from tools import notebooks


def _errors(nb):
    """cell index -> (ename, evalue) for every cell that raised."""
    return {i: (o.ename, o.evalue) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"}


def _text(cell):
    """Everything a cell printed."""
    return "".join(o.get("text", "") for o in cell.outputs)


def _run(nb, path, env=None):
    return notebooks.execute(nb, cwd=path.parent, allow_errors=True, env=env)


@pytest.mark.parametrize("path", EXERCISES, ids=ids(EXERCISES))
def test_untouched_exercise_reports_every_check_failed_and_runs_to_the_end(path):
    """In a learner's own run a failing check reports and continues, so "Run All" reaches every
    task: nothing raises, and each check prints its cases and the count that failed."""
    nb = notebooks.read(path)
    done = _run(nb, path)
    assert _errors(done) == {}, "a cell stopped the notebook"
    checks = [c for c in done.cells if notebooks.tagged(c, "check")]
    assert checks
    for cell in checks:
        text, task = _text(cell), cell.metadata.grade.task
        assert f"NotImplementedError: Exercise {task}" in text
        assert re.search(rf"^\u2717 Task {re.escape(task)}: \d+ of \d+ cases differ from torch", text, re.M), text


@pytest.mark.parametrize("path", EXERCISES, ids=ids(EXERCISES))
def test_exercise_with_solution_answers_passes_every_check(path):
    solution = notebooks.read(path.parent.parent / "solutions" / path.name)
    answers = {c.metadata.grade.task: c.source for c in solution.cells if notebooks.tagged(c, "answer")}
    nb = copy.deepcopy(notebooks.read(path))
    for cell in nb.cells:
        if notebooks.tagged(cell, "answer"):
            cell.source = answers[cell.metadata.grade.task]
    done = _run(nb, path)
    assert _errors(done) == {}
    for cell, stored in zip(done.cells, nb.cells):
        if notebooks.tagged(cell, "check"):
            assert _text(cell) == _text(stored)


@pytest.mark.parametrize("path", SOLUTIONS, ids=ids(SOLUTIONS))
@pytest.mark.parametrize("seed", ["1", "20261122"])
def test_hidden_checks_pass_for_other_random_draws(path, seed):
    done = _run(notebooks.read(path), path, env={"GRADER_SEED": seed})
    assert _errors(done) == {}


@pytest.mark.parametrize("path", SOLUTIONS, ids=ids(SOLUTIONS))
def test_every_task_has_an_answer_a_check_and_a_hidden_check(path):
    nb = notebooks.read(path)
    by_tag = {tag: {c.metadata.grade.task for c in nb.cells if notebooks.tagged(c, tag)}
              for tag in ("answer", "check", "hidden-check")}
    assert by_tag["answer"] and by_tag["answer"] == by_tag["check"] == by_tag["hidden-check"]
    assert nb.metadata["exercise"] == path.stem
    assert os.path.exists(path.parent.parent / "chapters" / path.name)


# Answers that call the torch function the task asks the learner to rebuild: each must fail.
CHEATS = {
    "01_parameter.ipynb": {
        "1.1": "def registration_kind(value):\n    m = nn.Module()\n    m.x = value\n"
               "    return 'parameter' if 'x' in m._parameters else 'attribute'",
        "1.2": "def clone_parameter(param):\n    return copy.deepcopy(param)",
        "1.3": "def init_uniform_(tensor, bound):\n    return nn.init.uniform_(tensor, -bound, bound)",
    },
    "02_registration.ipynb": {
        "2.1": "def module_setattr(self, name, value):\n    nn.Module.__setattr__(self, name, value)",
        "2.2": "def module_getattr(self, name):\n    return nn.Module.__getattr__(self, name)",
        "2.3": "def module_delattr(self, name):\n    nn.Module.__delattr__(self, name)",
        "2.4": "def register_buffer(self, name, tensor, persistent=True):\n"
               "    nn.Module.register_buffer(self, name, tensor, persistent)",
    },
    "03_traversal.ipynb": {
        "3.1": "def named_modules(module, memo=None, prefix='', remove_duplicate=True):\n"
               "    return module.named_modules(memo, prefix, remove_duplicate)",
        "3.2": "def named_parameters(module, prefix='', recurse=True, remove_duplicate=True):\n"
               "    return nn.Module.named_parameters(module, prefix, recurse, remove_duplicate)",
        "3.3": "def get_submodule(module, target):\n    return module.get_submodule(target)",
        "3.4": "def count_parameters(module, trainable_only=False):\n"
               "    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)",
    },
    "04_state_dict.ipynb": {
        "4.1": "def state_dict(module, prefix='', keep_vars=False):\n"
               "    return module.state_dict(prefix=prefix, keep_vars=keep_vars)",
        "4.2": "def load_state_dict(module, state_dict, strict=True):\n"
               "    return nn.Module.load_state_dict(module, state_dict, strict)",
    },
    # 5.3 rebuilds nothing of torch's; 5.1 and 5.2 could hand the work to the checks' own
    # torch-side helpers
    "05_checkpointing.ipynb": {
        "5.1": "def save_checkpoint(path, model, optimizer, epoch, trainable_only=False):\n"
               "    torch_side.spec_save(path, model, optimizer, epoch, trainable_only)",
        "5.2": "def load_checkpoint(path, model, optimizer):\n"
               "    return torch_side.torch_checked_load(path, model, optimizer)",
    },
    # exercise 6 rebuilds no torch function: each answer could hand the work to the checks' own
    # reference repair
    "06_repairing.ipynb": {
        "6.1": "def strip_wrappers(state_dict):\n    return torch_side.reference_strip(state_dict)",
        "6.2": "def upgrade_block_keys(state_dict, prefix, local_metadata):\n"
               "    torch_side.reference_upgrade(state_dict, prefix, local_metadata)",
        "6.3": "def load_matching(model, state_dict):\n    return torch_side.reference_matching(model, state_dict)",
        "6.4": "def fold_weight_norm(state_dict):\n    return torch_side.reference_fold(state_dict)",
        "6.5": "def resume_unfrozen(model, saved, frozen_prefix, lr):\n"
               "    return torch_side.reference_resume(model, saved, frozen_prefix, lr)",
    },
    # a plain load fits the small cases; resetting the peak the checks measure would hide its
    # doubling in the big ones
    "07_big_models.ipynb": {
        "7.1": "import grader.tasks.big_models as measuring\n\n\ndef load_big(path, build):\n"
               "    model = build()\n    model.load_state_dict(torch.load(path, weights_only=True))\n"
               "    measuring.reset_peak()\n    return model",
    },
}


@pytest.mark.parametrize("path", EXERCISES, ids=ids(EXERCISES))
def test_calling_the_torch_function_being_rebuilt_fails_every_check(path):
    cheats = CHEATS.get(path.name)
    if cheats is None:
        pytest.skip(f"no cheating answers written for {path.name}")
    nb = copy.deepcopy(notebooks.read(path))
    answer_tasks = {c.metadata.grade.task for c in nb.cells if notebooks.tagged(c, "answer")}
    assert cheats and set(cheats) <= answer_tasks
    for cell in nb.cells:
        if notebooks.tagged(cell, "answer") and cell.metadata.grade.task in cheats:
            cell.source = cheats[cell.metadata.grade.task]
    done = _run(nb, path, env={"GRADER_CHECKS": "raise"})  # each check fails on its own
    errors = _errors(done)
    for i, cell in enumerate(done.cells):
        if notebooks.tagged(cell, "check") and cell.metadata.grade.task in cheats:
            text = _text(cell)
            assert errors.get(i, (None,))[0] == "CheckFailed", cell.metadata.grade.task
            assert f"must not call" in text


def test_resetting_the_measured_peak_inside_the_load_fails_the_memory_cases():
    """Exercise 7 measures the peak of the learner's own process, which that process can reset;
    a plain load (twice the checkpoint) that resets the peak before returning must still fail the
    cases with a memory bound, while it passes those without one."""
    path = next(p for p in EXERCISES if p.name == "07_big_models.ipynb")
    nb = copy.deepcopy(notebooks.read(path))
    for cell in nb.cells:
        if notebooks.tagged(cell, "answer"):
            cell.source = ("def load_big(path, build):\n    model = build()\n"
                           "    model.load_state_dict(torch.load(path, weights_only=True))\n"
                           "    with open('/proc/self/clear_refs', 'w') as clear:\n        clear.write('5')\n"
                           "    return model")
    done = _run(nb, path, env={"GRADER_CHECKS": "raise"})
    errors = _errors(done)
    checks = [(i, cell) for i, cell in enumerate(done.cells) if notebooks.tagged(cell, "check")]
    bounded = [i for i, cell in checks if "peak within" in cell.source]
    assert bounded and len(bounded) < len(checks)
    for i, cell in checks:
        assert (errors.get(i, (None,))[0] == "CheckFailed") == (i in bounded), _text(cell)
    for i in bounded:
        assert "at ['peak within the bound']" in _text(done.cells[i])
