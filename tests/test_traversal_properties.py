"""Every traversal method of purenn.Module gives torch.nn.Module's results on random trees.

Random trees (shared submodules, tied parameters, None entries, frozen parameters, persistent
and non-persistent buffers, deep nesting) are built from one spec in both libraries; each
method and keyword must yield the same names, the same objects (by label) in the same order.
"""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

import purenn
from grader.trees import build, label_all, random_spec


def attempt(call):
    try:
        return call()
    except Exception as err:
        return f"{type(err).__name__}: {err}"


def walks(lib, spec) -> dict:
    """Plain-data results of every traversal method on the tree built from spec."""
    root, labels = build(lib, spec)
    lab = lambda items: label_all(labels, items)
    all_modules = [n for n, _ in root.named_modules(remove_duplicate=False)]
    all_params = [n for n, _ in root.named_parameters(remove_duplicate=False)]
    all_buffers = [n for n, _ in root.named_buffers(remove_duplicate=False)]
    applied = []
    root.apply(lambda m: applied.append(labels[id(m)]))
    out = {
        "named_children": lab(root.named_children()),
        "children": lab(root.children()),
        "named_modules": lab(root.named_modules()),
        "named_modules(remove_duplicate=False)": lab(root.named_modules(remove_duplicate=False)),
        "named_modules(prefix)": lab(root.named_modules(prefix="root")),
        "modules(remove_duplicate=False)": lab(root.modules(remove_duplicate=False)),
        "named_parameters": lab(root.named_parameters()),
        "named_parameters(prefix, recurse=False)": lab(root.named_parameters("p", recurse=False)),
        "named_parameters(remove_duplicate=False)": lab(root.named_parameters(remove_duplicate=False)),
        "parameters": lab(root.parameters()),
        "named_buffers": lab(root.named_buffers()),
        "named_buffers(prefix, remove_duplicate=False)": lab(root.named_buffers("b", remove_duplicate=False)),
        "buffers(recurse=False)": lab(root.buffers(recurse=False)),
        "apply": applied,
        "count": sum(p.numel() for p in root.parameters()),
        "trainable": sum(p.numel() for p in root.parameters() if p.requires_grad),
        "get_submodule": [labels[id(root.get_submodule(n))] for n in all_modules],
        "get_parameter": [labels[id(root.get_parameter(n))] for n in all_params],
        "get_buffer": [labels[id(root.get_buffer(n))] for n in all_buffers],
        "bad lookups": [attempt(lambda: root.get_submodule(n + ".zz")) for n in all_modules[1:3]]
        + [attempt(lambda: root.get_parameter(n)) for n in all_buffers[:2]]
        + [attempt(lambda: root.get_buffer(n)) for n in all_params[:2]],
    }
    root.eval()
    out["eval"] = [m.training for m in root.modules()]
    params = list(root.parameters())
    for p in params:
        p.grad = torch.ones_like(p)
    root.zero_grad()
    out["zero_grad"] = [p.grad for p in params]
    root.requires_grad_(False)
    out["requires_grad_(False)"] = [p.requires_grad for p in params]
    root.double()
    out["double"] = [(p is q, str(q.dtype)) for p, q in zip(params, root.parameters())] + \
        [str(b.dtype) for b in root.buffers()]
    return out


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_trees_walk_the_same(seed):
    spec = random_spec(random.Random(seed))
    assert walks(purenn, spec) == walks(nn, spec)


def test_the_property_can_fail(monkeypatch):
    """A purenn whose _named_members forgets to de-duplicate is caught on random trees."""
    def no_dedup(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is not None:
                    yield module_prefix + ("." if module_prefix else "") + name, value

    specs = [random_spec(random.Random(seed)) for seed in range(60)]
    assert all(walks(purenn, s) == walks(nn, s) for s in specs)
    monkeypatch.setattr(purenn.Module, "_named_members", no_dedup)
    assert any(walks(purenn, s) != walks(nn, s) for s in specs)


@pytest.mark.parametrize("seed", range(3))
def test_trees_are_built_identically(seed):
    spec = random_spec(random.Random(seed), max_nodes=5)
    ours, theirs = build(purenn, spec)[0], build(nn, spec)[0]
    assert [(n, p.tolist()) for n, p in ours.named_parameters()] == \
        [(n, p.tolist()) for n, p in theirs.named_parameters()]
