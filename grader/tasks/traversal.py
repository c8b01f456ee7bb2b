"""Check plumbing of exercise 3 (walking the tree): a zoo of models, random trees shown as code,
and torch's methods standing in for the learner's other answers."""
from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn

from grader.checks import compare
from grader.tasks.rebuild import tree_code
from grader.trees import build, label_all, random_spec

__all__ = ["compare", "ZOO", "torch_stands_in_for", "fresh", "zoo_cases", "calling",
           "names_and_kinds", "random_tree_cases", "on_random_tree", "random_lookup_cases", "torch_count"]

TORCH = {"named_modules": nn.Module.named_modules, "named_parameters": nn.Module.named_parameters}


@contextmanager
def torch_stands_in_for(namespace: dict, *names: str) -> Iterator[None]:
    """Within the block, the functions of these names in `namespace` (the notebook's globals)
    are torch's methods, so a task is checked on its own, whatever the other answers do."""
    saved = {name: namespace.get(name) for name in names}
    namespace.update({name: TORCH[name] for name in names})
    try:
        yield
    finally:
        namespace.update(saved)


def tied_lm() -> nn.Module:
    lm = nn.Sequential(OrderedDict(embed=nn.Embedding(10, 4), out=nn.Linear(4, 10, bias=False)))
    lm.out.weight = lm.embed.weight
    return lm


def shared_encoder() -> nn.Module:
    net = nn.Module()
    net.encoder = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU())
    net.head = nn.Linear(3, 2, bias=False)
    net.shared = net.encoder
    return net


def containers() -> nn.Module:
    net = nn.Module()
    net.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    net.heads = nn.ModuleDict({"cls": nn.Linear(2, 5), "box": nn.Linear(2, 4)})
    net.scales = nn.ParameterList([torch.ones(2), torch.zeros(2)])
    net.add_module("gap", None)
    return net


def frozen_cnn() -> nn.Module:
    net = nn.Sequential(OrderedDict(conv1=nn.Conv2d(3, 16, 3, padding=1), conv2=nn.Conv2d(16, 32, 3, padding=1),
                                    fc=nn.Linear(32 * 16 * 16, 10)))
    net.conv1.requires_grad_(False)
    return net


def deep() -> nn.Module:
    module = nn.Linear(1, 1)
    for _ in range(6):
        module = nn.Sequential(module, nn.ReLU())
    return module


ZOO = {
    "seed CNN": lambda: nn.Sequential(OrderedDict(conv1=nn.Conv2d(1, 10, 5), fc1=nn.Linear(320, 50))),
    "seed nested Sequential": lambda: nn.Sequential(nn.Linear(10, 20), nn.ReLU(),
                                                    nn.Sequential(nn.Conv2d(1, 3, 3), nn.Sigmoid())),
    "tied embedding/head": tied_lm,
    "encoder under two names": shared_encoder,
    "ModuleList/ModuleDict/ParameterList, None child": containers,
    "frozen conv1": frozen_cnn,
    "6 levels deep": deep,
}


def fresh(builder: Callable, kwargs_of: Callable) -> tuple:
    """A freshly built model and its keyword arguments (built before your code runs)."""
    model = builder()
    return model, kwargs_of(model)


def zoo_cases(variants: dict[str, Callable]) -> list:
    """One case per (zoo model, keyword variant); a variant maps a model to keyword arguments."""
    return [(f"{model} | {variant}", lambda b=builder, k=kwargs: fresh(b, k))
            for model, builder in ZOO.items() for variant, kwargs in variants.items()]


def calling(fn: Callable, listed: bool = True) -> Callable:
    """Call fn(model, **kwargs); list what it yields (a generator or a list) when `listed`."""
    def run(model, kwargs):
        result = fn(model, **kwargs)
        return list(result) if listed else result
    return run


def names_and_kinds(pairs) -> dict:
    """What a walk yielded: each name with the type and shape of its object."""
    return {"yielded": [{"name": name, "type": type(value).__name__,
                         "shape": tuple(getattr(value, "shape", ()))} for name, value in pairs]}


def random_tree_cases(seed: int, count: int, call: str) -> list:
    """Random trees (shared submodules, tied and None parameters, ...), each built fresh per
    side; a case's label holds the code that rebuilds its tree and then runs `call` on `root`."""
    rng = random.Random(seed)
    specs = [random_spec(rng) for _ in range(count)]
    return [(f"random tree {i}\n{tree_code(spec)}\n{call}", lambda s=spec: build(nn, s))
            for i, spec in enumerate(specs)]


def on_random_tree(fn: Callable, **kwargs) -> Callable:
    """Call fn on the tree and name what it yields by node (node2, node2.p0, ...)."""
    def run(root, labels):
        return {"yielded": [{"name": name, "object": label}
                            for name, label in label_all(labels, fn(root, **kwargs))]}
    return run


def random_lookup_cases(rng: random.Random, count: int) -> list:
    """Random trees, each with a dotted target: a module, a parameter, or a name that is missing."""
    cases = []
    for i in range(count):
        spec = random_spec(rng)
        root, _ = build(nn, spec)
        names = [n for n, _ in nn.Module.named_modules(root, remove_duplicate=False)]
        names += [n for n, _ in nn.Module.named_parameters(root, remove_duplicate=False)]
        target = rng.choice(names + ["zz", "c0.zz", "0.1.2"]) if names else "zz"
        cases.append((f"random tree {i}\n{tree_code(spec)}\nget_submodule(root, {target!r})",
                      lambda s=spec, t=target: (build(nn, s)[0], t)))
    return cases


def torch_count(module: nn.Module, trainable_only: bool = False) -> int:
    """Torch's answer to 3.4, through Module.parameters()."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
