"""purenn's state_dict and load_state_dict give torch's results on random trees and corruptions.

Random trees are built from one spec in both libraries: the state dicts must have the same keys,
order, values, types, storage sharing and _metadata; loading randomly corrupted state dicts
(missing, extra, wrong shape, wrong dtype, not a tensor) must give the same returned keys, the
same error text and the same final values, strict or not; and each library loads the other's.
"""
from __future__ import annotations

import random

import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

import purenn
from grader.trees import build, corrupt, random_spec


def saved(lib, spec, keep_vars):
    root, labels = build(lib, spec)
    sd = root.state_dict(keep_vars=keep_vars)
    owners = {t.data_ptr(): labels.get(id(t)) for t in root.state_dict(keep_vars=True).values()}
    rows = [(k, type(v).__name__, v.tolist(), v.requires_grad, owners.get(v.data_ptr())) for k, v in sd.items()]
    return type(sd).__name__, rows, dict(sd._metadata)


def loaded(lib, spec, seed, strict):
    target, _ = build(lib, spec, seed=1)
    before = [id(p) for p in target.parameters()]
    incoming = corrupt(random.Random(seed), build(nn, spec, seed=2)[0].state_dict())
    try:
        result = repr(target.load_state_dict(incoming, strict=strict))
    except Exception as err:
        result = f"{type(err).__name__}: {err}"
    after = [id(p) for p in target.parameters()]
    return result, before == after, [(k, v.tolist(), str(v.dtype)) for k, v in target.state_dict().items()]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_state_dicts_match(seed, keep_vars):
    spec = random_spec(random.Random(seed))
    assert saved(purenn, spec, keep_vars) == saved(nn, spec, keep_vars)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**16), st.booleans())
def test_loading_corrupted_state_dicts_matches(seed, corruption, strict):
    spec = random_spec(random.Random(seed))
    assert loaded(purenn, spec, corruption, strict) == loaded(nn, spec, corruption, strict)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_each_library_loads_the_others_state_dict(seed):
    spec = random_spec(random.Random(seed))
    for source, target in ((purenn, nn), (nn, purenn)):
        model, _ = build(target, spec, seed=1)
        sd = build(source, spec, seed=2)[0].state_dict()
        assert repr(model.load_state_dict(sd)) == "<All keys matched successfully>"
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), sd.values()))


def test_the_property_can_fail(monkeypatch):
    """A purenn that saves non-persistent buffers too is caught."""
    def leaky(self, destination, prefix, keep_vars):
        for name, value in list(self._parameters.items()) + list(self._buffers.items()):
            if value is not None:
                destination[prefix + name] = value if keep_vars else value.detach()

    specs = [random_spec(random.Random(seed)) for seed in range(40)]
    assert all(saved(purenn, s, False) == saved(nn, s, False) for s in specs)
    monkeypatch.setattr(purenn.Module, "_save_to_state_dict", leaky)
    assert any(saved(purenn, s, False) != saved(nn, s, False) for s in specs)
