"""Replay scripts of attribute operations on a module class and record what happened.

Used by the checks of exercise 2 (a learner's registration path against torch's) and by the
property tests (purenn.Module against torch.nn.Module). A script is a list of steps:

    ("set", name, spec)                    module.name = value
    ("del", name)                          del module.name
    ("get", name)                          module.name
    ("register_buffer", name, spec, persistent)
    ("register_parameter", name, spec)
    ("add_module", name, spec)

`spec` names the kind of value to build fresh for each replay (see VALUE_SPECS), so the two
sides never share objects; stored values are reported by label, e.g. "param#3" for the
Parameter built at step 3.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from types import ModuleType

import torch

VALUE_SPECS = ("param", "frozen", "tensor", "buffer", "buffer-np", "module", "none", "int", "list")


def make_value(lib: ModuleType, spec: str):
    """A fresh value of kind `spec`, built with library `lib` (torch.nn or purenn)."""
    return {
        "param": lambda: lib.Parameter(torch.ones(2)),
        "frozen": lambda: lib.Parameter(torch.ones(2), requires_grad=False),
        "tensor": lambda: torch.zeros(3),
        "buffer": lambda: lib.Buffer(torch.zeros(1)),
        "buffer-np": lambda: lib.Buffer(torch.zeros(1), persistent=False),
        "module": lambda: lib.Linear(2, 2),
        "none": lambda: None,
        "int": lambda: 7,
        "list": lambda: [lib.Linear(1, 1)],
    }[spec]()


def make_values(lib: ModuleType, script: list) -> list:
    """The value each step of `script` stores, built fresh with `lib` (None where a step stores
    none). A check builds them as its own code, before your method runs (grader.checks)."""
    return [None if op in ("del", "get") else make_value(lib, args[0]) for op, _, *args in script]


def _outcome(call: Callable[[], object], label: Callable[[object], str], typenames: dict) -> str:
    try:
        result = call()
    except Exception as err:
        text = f"{type(err).__name__}: {err}"
        for full, short in typenames.items():  # a value's type path names its library
            text = text.replace(full, short)
        return text
    return "ok" if result is None else f"ok: {label(result)}"


def replay(module, script: list, lib: ModuleType, values: list | None = None) -> dict:
    """Run `script` on a freshly built `module`, storing `values` (by default `make_values`);
    return every outcome and the final stores."""
    internals = set(vars(module))  # the bookkeeping made by __init__ (torch adds hook dicts)
    values = make_values(lib, script) if values is None else values
    labels: dict[int, str] = {}
    typenames: dict[str, str] = {}
    for step, ((_, _, *args), value) in enumerate(zip(script, values)):
        if value is not None and not isinstance(value, (int, list)):
            labels[id(value)] = f"{args[0]}#{step}"
        if isinstance(value, lib.Module):
            kind = type(value)  # what torch.typename gives (which would call __getattr__)
            typenames[f"{kind.__module__}.{kind.__qualname__}"] = kind.__name__

    def label(value) -> str:
        if id(value) in labels:
            return labels[id(value)]
        return type(value).__name__ if isinstance(value, torch.Tensor) else repr(value)

    outcomes = []
    for step, (op, name, *args) in enumerate(script):
        value = values[step]
        if op == "set":
            call = lambda: setattr(module, name, value)
        elif op == "del":
            call = lambda: delattr(module, name)
        elif op == "get":
            call = lambda: getattr(module, name)
        elif op == "register_buffer":
            call = lambda: module.register_buffer(name, value, args[1])
        else:
            call = lambda: getattr(module, op)(name, value)
        outcomes.append(_outcome(call, label, typenames))
    stores = vars(module)
    return {
        "outcomes": outcomes,
        "_parameters": [(n, label(v)) for n, v in stores["_parameters"].items()],
        "_buffers": [(n, label(v)) for n, v in stores["_buffers"].items()],
        "_non_persistent_buffers_set": sorted(stores["_non_persistent_buffers_set"]),
        "_modules": [(n, label(v)) for n, v in stores["_modules"].items()],
        "__dict__": [(n, label(v)) for n, v in stores.items() if n not in internals],
    }


def random_script(rng: random.Random, length: int, names=("a", "b", "w")) -> list:
    """A random script over a few names, mixing every kind of step and value."""
    script = []
    for _ in range(length):
        name = rng.choice(names)
        op = rng.choice(["set", "set", "set", "del", "get", "register_buffer",
                         "register_parameter", "add_module"])
        if op in ("del", "get"):
            script.append((op, name))
        elif op == "register_buffer":
            script.append((op, name, rng.choice(["tensor", "none", "int", "param"]), rng.random() < 0.5))
        elif op == "register_parameter":
            script.append((op, name, rng.choice(["param", "frozen", "none", "tensor"])))
        elif op == "add_module":
            script.append((op, name, rng.choice(["module", "none", "int"])))
        else:
            script.append((op, name, rng.choice(VALUE_SPECS)))
    return script
