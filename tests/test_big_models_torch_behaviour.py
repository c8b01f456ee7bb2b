"""`to_empty`, the meta-aware load and `functional_call` behave in purenn as in torch.

Random trees (grader.trees, with shared submodules, tied and None parameters, non-persistent
buffers) are built in both libraries, moved to meta, loaded with and without `assign`, and run
and `functional_call` is checked on a layer; every observation is compared as plain data.
"""
from __future__ import annotations

import random
import warnings
from collections import OrderedDict

import torch
import torch.nn as nn
from hypothesis import given, settings
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


def test_functional_call_restores_after_an_error():
    for lib, call in ((purenn, purenn.functional_call), (nn, functional_call)):
        model = lib.Linear(2, 2)
        own = model.weight

        def failing(x):
            raise ValueError("boom")

        model.forward = failing
        assert attempt(lambda: call(model, {"weight": torch.zeros(2, 2)}, (torch.ones(2),))) == "ValueError: boom"
        assert model.weight is own
