"""Check plumbing of exercise 2 (the registration path): a `Registry` class that runs torch's
methods except the one under test, and scripts of attribute operations replayed on it."""
from __future__ import annotations

import random
from collections.abc import Callable

import torch.nn as nn

from grader.checks import compare
from grader.replay import make_values, random_script, replay
from grader.tasks.rebuild import script_code

__all__ = ["compare", "random_script", "registry_with", "script_cases", "check_scripts"]

TORCH_METHODS = {"__setattr__": nn.Module.__setattr__, "__getattr__": nn.Module.__getattr__,
                 "__delattr__": nn.Module.__delattr__, "register_buffer": nn.Module.register_buffer}


class _Bookkeeping:
    """The registration half of nn.Module, without inheriting from it."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", {})

    register_parameter = nn.Module.register_parameter  # given: validates, then stores
    add_module = nn.Module.add_module  # given


def registry_with(method: str | None = None, yours: Callable | None = None) -> type:
    """A class named Registry running torch's four methods, except `method`, which calls `yours`
    (the learner's free function, with the instance as its first argument)."""
    methods = {name: f for name, f in TORCH_METHODS.items() if name != method}
    if method is not None:
        methods[method] = _calling(method, yours)
    return type("Registry", (_Bookkeeping, nn.Module), methods)


def _calling(method: str, yours: Callable) -> Callable:
    """A method that calls `yours`; register_buffer keeps its `persistent` parameter, which
    torch's __setattr__ looks for in the method's signature."""
    if method == "register_buffer":
        def register_buffer(self, name, tensor, persistent=True):
            return yours(self, name, tensor, persistent)
        return register_buffer
    return lambda self, *args: yours(self, *args)


def script_cases(scripts: dict[str, list], method: str, with_code: bool = False) -> list:
    """One case per script; with `with_code`, a label that also holds the code replaying it."""
    def label(name: str, script: list) -> str:
        if not with_code:
            return name
        return f"{name}\nm = registry_with({method!r}, {_answer(method)})()\n{script_code(script, 'm')}"
    return [(label(name, script), lambda s=script: (s, make_values(nn, s)))
            for name, script in scripts.items()]


def _answer(method: str) -> str:
    return {"__setattr__": "module_setattr", "__getattr__": "module_getattr",
            "__delattr__": "module_delattr"}.get(method, method)


def check_scripts(task: str, method: str, yours: Callable, scripts: dict[str, list],
                  summary: bool = False) -> None:
    """Replay each script on a Registry running your `method` and on one running torch's."""
    compare(task, script_cases(scripts, method, with_code=summary),
            lambda s, values: replay(registry_with(method, yours)(), s, nn, values),
            lambda s, values: replay(registry_with()(), s, nn, values), summary=summary)
