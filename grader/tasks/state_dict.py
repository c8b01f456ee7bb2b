"""Check plumbing of exercise 4 (`state_dict` and `load_state_dict`): a zoo of models, what a
saved or loaded state looks like as plain data, and random trees with faulty checkpoints."""
from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn as nn

from grader.checks import compare
from grader.tasks.rebuild import tree_code
from grader.trees import build, corrupt, random_spec

__all__ = ["compare", "corrupt", "zoo", "saved", "random_save_cases",
           "edit", "check_loading", "random_load_cases", "loading", "after_loading"]

def zoo(seed: int) -> dict[str, nn.Module]:
    """Models with every kind of entry, built under `seed`."""
    torch.manual_seed(seed)
    net = nn.Module()
    net.features = nn.Sequential(nn.Linear(4, 3, bias=False), nn.BatchNorm1d(3), nn.ReLU())
    net.head = nn.Linear(3, 2)
    net.head.requires_grad_(False)
    net.register_buffer("mask", torch.ones(3), persistent=False)
    lm = nn.Sequential(OrderedDict(embed=nn.Embedding(6, 2), out=nn.Linear(2, 6, bias=False)))
    lm.out.weight = lm.embed.weight
    return {
        "Linear": nn.Linear(3, 2),
        "net with BatchNorm, frozen head, non-persistent buffer": net,
        "tied embedding/head": lm,
        "ModuleList/ModuleDict/ParameterList": nn.Sequential(nn.ModuleList([nn.Linear(2, 2)]),
                                                             nn.ModuleDict({"a": nn.Linear(2, 1)}),
                                                             nn.ParameterList([torch.ones(2)])),
    }


def held(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The entries of `model.state_dict(keep_vars=True)`, read straight from the modules' stores
    by the grader's own walk: an observer runs on the learner's turn, where torch's `state_dict`
    and `parameters` refuse every caller (grader.forbid.learners_turn)."""
    entries = []

    def walk(module: nn.Module, prefix: str) -> None:
        stores = vars(module)
        skipped = stores["_non_persistent_buffers_set"]
        entries.extend((prefix + name, value) for name, value in stores["_parameters"].items()
                       if value is not None)
        entries.extend((prefix + name, value) for name, value in stores["_buffers"].items()
                       if value is not None and name not in skipped)
        for name, child in stores["_modules"].items():
            if child is not None:
                walk(child, f"{prefix}{name}.")
    walk(model, "")
    return entries


def parameter_ids(model: nn.Module) -> list[int]:
    """The ids of the Parameters `model` holds, in the order `held` finds them."""
    return [id(value) for _, value in held(model) if isinstance(value, nn.Parameter)]


def saved(model: nn.Module, result) -> dict:
    """Keys, order, types, values, grad flags, and whether each value shares the model's storage."""
    owners = {t.data_ptr() for _, t in held(model)}
    return {"type": type(result).__name__,
            "entries": [{"key": k, "type": type(v).__name__, "values": v.tolist(),
                         "requires_grad": v.requires_grad, "shares_storage": v.data_ptr() in owners}
                        for k, v in result.items()]}


def random_save_cases(rng: random.Random, count: int) -> list:
    """Random trees, each saved with or without keep_vars; labels hold the code of the case."""
    cases = []
    for i in range(count):
        spec, keep_vars = random_spec(rng), rng.random() < 0.3
        code = f"{tree_code(spec)}\nstate_dict(root, keep_vars={keep_vars})"
        cases.append((f"random tree {i}\n{code}", lambda s=spec, k=keep_vars: (build(nn, s)[0], k)))
    return cases


def edit(key_index: int, value) -> Callable:
    """A state-dict edit: replace the key_index-th entry's value."""
    return lambda sd: OrderedDict((k, value if i == key_index else v) for i, (k, v) in enumerate(sd.items()))


def load_case(name: str, edit: Callable, strict: bool) -> tuple:
    """Fresh arguments: a zoo(1) model, its Parameter ids, zoo(2)'s state_dict edited, strict."""
    model = zoo(1)[name]
    return model, parameter_ids(model), edit(OrderedDict(zoo(2)[name].state_dict())), strict


def loading(fn: Callable) -> Callable:
    """fn(model, state_dict, strict), returning the model and its Parameters' ids with the result."""
    return lambda model, before, incoming, strict: (model, before, fn(model, incoming, strict))


def after_loading(triple) -> dict:
    """What load returned, whether the Parameters survived, and the model's final state."""
    model, before, result = triple
    missing, unexpected = result
    return {"missing_keys": list(missing), "unexpected_keys": list(unexpected),
            "same_parameter_objects": before == parameter_ids(model),
            "state": {k: {"values": v.tolist(), "dtype": str(v.dtype)} for k, v in held(model)}}


def check_loading(task: str, yours: Callable, edits: dict[str, Callable], strict: bool) -> None:
    """Load zoo(2)'s edited state dicts into zoo(1)'s models with your function and torch's."""
    cases = [(f"{name} | {label}", lambda n=name, e=change: load_case(n, e, strict))
             for name in zoo(0) for label, change in edits.items()]
    compare(task, cases, loading(yours), loading(nn.Module.load_state_dict), observe=after_loading)


def random_load_cases(rng: random.Random, count: int) -> list:
    """Random trees loading a randomly corrupted state dict of the same tree built from another
    seed, strict or not; labels hold the code of the case."""
    cases = []
    for i in range(count):
        spec, fault_seed, strict = random_spec(rng), rng.randrange(10**6), rng.random() < 0.5

        def make(spec=spec, fault_seed=fault_seed, strict=strict):
            model, _ = build(nn, spec, seed=1)
            incoming = corrupt(random.Random(fault_seed), build(nn, spec, seed=2)[0].state_dict())
            return model, parameter_ids(model), incoming, strict
        code = (f"{tree_code(spec, seed=2)}\nincoming = corrupt(random.Random({fault_seed}), root.state_dict())\n"
                f"{tree_code(spec, seed=1)}\nload_state_dict(root, incoming, strict={strict})")
        cases.append((f"random tree {i}\n{code}", make))
    return cases
