"""The state-dict and load hooks and `_version` migration behave in purenn as in torch.nn.

Each test builds the same random tree in both libraries (grader.trees), registers the same hooks
on every module, and compares everything observable as plain data: the order in which hooks run
and what they are given, what they change, the returned keys or the error, and the final values.
"""
from __future__ import annotations

import random
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

import purenn
from grader.trees import build, corrupt, random_spec

LIBS = [purenn, nn]


def attempt(call):
    try:
        return repr(call())
    except Exception as err:
        return f"{type(err).__name__}: {err}"


def values(model):
    return [(k, v.tolist()) for k, v in model.state_dict().items()]


def load_with_hooks(lib, spec, seed, strict, forgive):
    """Load a corrupted checkpoint with recording pre- and post-hooks on every module."""
    target, labels = build(lib, spec, seed=1)
    calls = []
    for name, module in target.named_modules():
        label = labels[id(module)]

        def pre(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors, label=label):
            calls.append(("pre", label, prefix, sorted(state_dict), dict(local_metadata), strict))

        def post(module, keys, label=label):
            calls.append(("post", label, list(keys.missing_keys), list(keys.unexpected_keys)))
            if forgive:
                keys.missing_keys.clear()

        module.register_load_state_dict_pre_hook(pre)
        module.register_load_state_dict_post_hook(post)
    incoming = corrupt(random.Random(seed), build(nn, spec, seed=2)[0].state_dict())
    result = attempt(lambda: target.load_state_dict(incoming, strict=strict))
    return result, calls, values(target)


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**16), st.booleans(), st.booleans())
def test_load_hooks_run_in_torch_order_with_torch_arguments(seed, corruption, strict, forgive):
    spec = random_spec(random.Random(seed))
    assert load_with_hooks(purenn, spec, corruption, strict, forgive) == load_with_hooks(nn, spec, corruption, strict, forgive)


def save_with_hooks(lib, spec, keep_vars):
    model, labels = build(lib, spec)
    calls = []
    for module in model.modules():
        label = labels[id(module)]
        module.register_state_dict_pre_hook(
            lambda m, prefix, keep, label=label: calls.append(("pre", label, prefix, keep)))

        def post(m, state_dict, prefix, local_metadata, label=label):
            calls.append(("post", label, prefix, list(state_dict), dict(local_metadata)))
            state_dict[prefix + "seen"] = torch.tensor(len(calls))

        module.register_state_dict_post_hook(post)
    sd = model.state_dict(keep_vars=keep_vars)
    return calls, [(k, v.tolist()) for k, v in sd.items()], dict(sd._metadata)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_state_dict_hooks_run_in_torch_order_and_edit_in_place(seed, keep_vars):
    spec = random_spec(random.Random(seed))
    assert save_with_hooks(purenn, spec, keep_vars) == save_with_hooks(nn, spec, keep_vars)


@pytest.mark.parametrize("lib", LIBS, ids=["purenn", "torch"])
def test_removed_hooks_do_not_run(lib):
    model = lib.Linear(2, 2)
    calls = []
    handles = [model.register_state_dict_pre_hook(lambda *a: calls.append("sd pre")),
               model.register_state_dict_post_hook(lambda *a: calls.append("sd post")),
               model.register_load_state_dict_pre_hook(lambda *a: calls.append("load pre")),
               model.register_load_state_dict_post_hook(lambda *a: calls.append("load post"))]
    model.load_state_dict(model.state_dict())
    assert calls == ["sd pre", "sd post", "load pre", "load post"]
    for handle in handles:
        handle.remove()
    model.load_state_dict(model.state_dict())
    assert len(calls) == 4


@pytest.mark.parametrize("register, returned, error", [
    ("register_state_dict_post_hook", {}, "RuntimeError: state_dict post-hook must return None"),
    ("register_load_state_dict_post_hook", [], "AssertionError: Hooks registered with "
     "``register_load_state_dict_post_hook`` are not expected to return new values, if incompatible_keys "
     "need to be modified, it should be done inplace."),
])
def test_post_hooks_must_return_none(register, returned, error):
    for lib in LIBS:
        model = lib.Linear(2, 2)
        getattr(model, register)(lambda *args: returned)
        assert attempt(lambda: model.load_state_dict(model.state_dict())) == error


def test_load_pre_hook_edits_a_copy_and_renames_keys():
    checkpoint = nn.Sequential(OrderedDict(fc=nn.Linear(3, 2))).state_dict()
    results = []
    for lib in LIBS:
        torch.manual_seed(0)
        model = lib.Sequential(OrderedDict(head=lib.Linear(3, 2)))
        model.register_load_state_dict_pre_hook(
            lambda m, sd, prefix, *rest: [sd.__setitem__(k.replace("fc.", "head."), sd.pop(k)) for k in list(sd)])
        results.append((attempt(lambda: model.load_state_dict(checkpoint)), values(model), list(checkpoint)))
    assert results[0] == results[1]
    assert results[0][0] == "<All keys matched successfully>" and results[0][2] == ["fc.weight", "fc.bias"]


def versioned(lib):
    class Block(lib.Module):
        _version = 2

        def __init__(self):
            super().__init__()
            self.proj = lib.Linear(2, 2)

        def _load_from_state_dict(self, state_dict, prefix, local_metadata, *rest):
            if (local_metadata.get("version") or 1) < 2:
                for key in [k for k in state_dict if k.startswith(prefix + "fc.")]:
                    state_dict[prefix + "proj." + key[len(prefix + "fc."):]] = state_dict.pop(key)
            super()._load_from_state_dict(state_dict, prefix, local_metadata, *rest)

    return lib.Sequential(Block(), lib.Sequential(Block()))


@pytest.mark.parametrize("keep_metadata", [True, False])
def test_version_migration(keep_metadata):
    old = nn.Sequential(nn.Sequential(OrderedDict(fc=nn.Linear(2, 2))),
                        nn.Sequential(nn.Sequential(OrderedDict(fc=nn.Linear(2, 2)))))
    checkpoint = old.state_dict() if keep_metadata else dict(old.state_dict())
    results = []
    for lib in LIBS:
        model = versioned(lib)
        results.append((attempt(lambda: model.load_state_dict(checkpoint)), values(model),
                        dict(model.state_dict()._metadata)))
    assert results[0] == results[1]
    assert results[0][0] == "<All keys matched successfully>" and results[0][2]["0"] == {"version": 2}
    assert results[0][1] == [(k.replace("fc", "proj"), v.tolist()) for k, v in old.state_dict().items()]
