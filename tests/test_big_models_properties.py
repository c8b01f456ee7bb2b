"""`to_empty`, the meta-aware load and `functional_call` behave in purenn as in torch.

Random trees (grader.trees, with shared submodules, tied and None parameters, non-persistent
buffers) are built in both libraries, moved to meta, loaded with and without `assign`, and run
through `functional_call`; every observation is compared as plain data.
"""
from __future__ import annotations

import random
import warnings
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch.func import functional_call

import purenn
from grader.trees import build, corrupt, random_spec



def attempt(call):
    try:
        return repr(call())
    except Exception as err:
        return f"{type(err).__name__}: {err}"


def meta_load(lib, spec, seed, assign, strict):
    model, _ = build(lib, spec, seed=1)
    model.to_empty(device="meta")
    incoming = corrupt(random.Random(seed), build(nn, spec, seed=2)[0].state_dict())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = attempt(lambda: model.load_state_dict(incoming, strict=strict, assign=assign))
    entries = list(model.state_dict(keep_vars=True).items())
    return (result, [str(w.message) for w in caught],
            [(k, v.is_meta, str(v.dtype), tuple(v.shape), type(v).__name__, v.requires_grad) for k, v in entries],
            [(k, v.tolist()) for k, v in entries if not v.is_meta])


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**16), st.booleans(), st.booleans())
def test_loading_into_a_meta_model(seed, corruption, assign, strict):
    spec = random_spec(random.Random(seed))
    assert meta_load(purenn, spec, corruption, assign, strict) == meta_load(nn, spec, corruption, assign, strict)


def emptied(lib, spec):
    model, _ = build(lib, spec)
    model.to_empty(device="meta")
    on_meta = [(k, v.is_meta, tuple(v.shape)) for k, v in model.state_dict().items()]
    model.to_empty(device="cpu")
    params = list(model.parameters())
    return on_meta, [(k, str(v.device), str(v.dtype), tuple(v.shape), type(v).__name__, v.requires_grad)
                     for k, v in model.state_dict(keep_vars=True).items()], len(params)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_to_empty(seed):
    spec = random_spec(random.Random(seed))
    assert emptied(purenn, spec) == emptied(nn, spec)


def borrowed(lib, spec, seed, split=False, strict=False):
    """functional_call with random tensors for some names (one name per tensor) on a tree; with
    `split`, the tensors come in a random number of dicts and sometimes with a name the tree lacks."""
    model, _ = build(lib, spec, seed=1)
    before = [(k, v.tolist()) for k, v in model.state_dict().items()]
    rng = random.Random(seed)
    named = dict(model.named_parameters()) | dict(model.named_buffers())
    chosen = rng.sample(sorted(named), rng.randint(0, len(named)))
    tensors = {name: torch.full_like(named[name].detach(), float(rng.randint(-9, 9))) for name in chosen}
    given = tensors
    if split:
        if rng.random() < 0.3:
            tensors["ghost"] = torch.ones(1)
        given = [{} for _ in range(rng.randint(1, 3))]
        for name, tensor in tensors.items():
            rng.choice(given)[name] = tensor
        given = tuple(given) if rng.random() < 0.5 else given
    seen = []

    def forward():
        seen.extend((n, type(t).__name__, t.tolist()) for n, t in model.named_parameters(remove_duplicate=False))
        seen.extend((n, t.tolist()) for n, t in model.named_buffers(remove_duplicate=False))
        seen.append(("ghost", hasattr(model, "ghost")))
        return len(seen)

    model.forward = forward
    call = purenn.functional_call if lib is purenn else functional_call
    result = attempt(lambda: call(model, given, (), strict=strict))
    return (result, seen, before == [(k, v.tolist()) for k, v in model.state_dict().items()],
            hasattr(model, "ghost"))


def shares_submodules(spec):
    """True when some node of the tree hangs under two parents (or twice under one)."""
    used = [child["node"] for node in spec for child in node["children"] if child["node"] is not None]
    return len(used) != len(set(used))


# Trees without shared submodules: when one submodule is reached under two names, torch 2.13
# swaps its tensors twice and restores them in swap order, leaving a borrowed tensor in the module;
# purenn restores in reverse order and leaves the module as it was.
@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**16))
def test_functional_call(seed, choice):
    spec = random_spec(random.Random(seed))
    assume(not shares_submodules(spec))
    assert borrowed(purenn, spec, choice) == borrowed(nn, spec, choice)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**16), st.booleans())
def test_functional_call_with_several_dicts_and_strict(seed, choice, strict):
    spec = random_spec(random.Random(seed))
    assume(not shares_submodules(spec))
    ours = borrowed(purenn, spec, choice, split=True, strict=strict)
    assert ours == borrowed(nn, spec, choice, split=True, strict=strict)


def test_strict_functional_call_reports_missing_and_unexpected_names():
    """The strict check sees both kinds of wrong name, after tied names are filled in."""
    results = []
    for lib, call in ((purenn, purenn.functional_call), (nn, functional_call)):
        model = lib.Sequential(lib.Linear(2, 2), lib.Linear(2, 2, bias=False))
        model[1].weight = model[0].weight
        x = torch.ones(2)
        tied = call(model, {"0.weight": torch.eye(2), "0.bias": torch.zeros(2)}, (x,), strict=True)
        untied = attempt(lambda: call(model, ({"0.weight": torch.eye(2)}, {"0.bias": torch.zeros(2), "x": x}), (x,),
                                      strict=True, tie_weights=False))
        results.append((tied.tolist(), untied))
    assert results[0] == results[1]
    assert results[1] == ([1.0, 1.0], "RuntimeError: Error(s) in reparametrizing for Sequential:\n\t"
                                      "Unexpected key(s): 'x'.\n\tMissing key(s): '1.weight'.")


@pytest.mark.parametrize("dicts", [3, "ab", [{"0.bias": torch.zeros(2)}, None], ({"0.bias": torch.zeros(2)},) * 2,
                                   {"0.bias": 1.0}], ids=["int", "str", "list with None", "same key twice", "a float"])
def test_functional_call_refuses_what_torch_refuses(dicts):
    errors = []
    for lib, call in ((purenn, purenn.functional_call), (nn, functional_call)):
        model = lib.Sequential(lib.Linear(2, 2))
        own = model[0].bias
        errors.append(attempt(lambda: call(model, dicts, (torch.ones(2),))))
        assert model[0].bias is own
    assert errors[0] == errors[1] and errors[1].startswith(("ValueError", "TypeError"))


def test_functional_call_restores_after_an_error():
    for lib, call in ((purenn, purenn.functional_call), (nn, functional_call)):
        model = lib.Linear(2, 2)
        own = model.weight

        def failing(x):
            raise ValueError("boom")

        model.forward = failing
        assert attempt(lambda: call(model, {"weight": torch.zeros(2, 2)}, (torch.ones(2),))) == "ValueError: boom"
        assert model.weight is own
