"""purenn.Module's registration path behaves exactly like torch.nn.Module's, on random scripts.

Random sequences of assignments, deletions, reads and register_* calls are replayed on a fresh
torch.nn.Module and a fresh purenn.Module: the contents and order of _parameters, _buffers and
_modules, the non-persistent set, the plain attributes, every outcome (exception type and
message) and the final repr must be identical.
"""
from __future__ import annotations

import random

import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import purenn
from grader.replay import VALUE_SPECS, random_script, replay

NAMES = st.sampled_from(["a", "b", "w", "forward", "training", "", "x.y"])
STEP = st.one_of(
    st.tuples(st.just("set"), NAMES, st.sampled_from(VALUE_SPECS)),
    st.tuples(st.sampled_from(["del", "get"]), NAMES),
    st.tuples(st.just("register_buffer"), NAMES, st.sampled_from(["tensor", "none", "int", "param"]),
              st.booleans()),
    st.tuples(st.just("register_parameter"), NAMES, st.sampled_from(["param", "frozen", "none", "tensor"])),
    st.tuples(st.just("add_module"), NAMES, st.sampled_from(["module", "none", "int"])),
)


def both(script, purenn_module=None):
    ours, theirs = purenn_module or purenn.Module(), nn.Module()
    return (replay(ours, script, purenn), repr(ours)), (replay(theirs, script, nn), repr(theirs))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, max_size=30))
def test_random_scripts_match_torch(script):
    ours, theirs = both(script)
    assert ours == theirs


@settings(max_examples=100, deadline=None)
@given(st.lists(STEP, max_size=20))
def test_subclasses_with_class_attributes_match_torch(script):
    """A subclass's own methods and properties are names register_* must refuse."""
    def extras(base):
        return {"forward": lambda self, x: x, "w": property(lambda self: 1)}

    Ours = type("Net", (purenn.Module,), extras(purenn.Module))
    Theirs = type("Net", (nn.Module,), extras(nn.Module))
    a, b = Ours(), Theirs()
    assert (replay(a, script, purenn), repr(a)) == (replay(b, script, nn), repr(b))


def test_the_property_can_fail():
    """A purenn.Module whose __setattr__ forgets to clear __dict__ is caught on random scripts."""
    class Forgetful(purenn.Module):
        def __setattr__(self, name, value):
            if isinstance(value, purenn.Parameter):
                self.register_parameter(name, value)  # without removing name from __dict__ etc.
            else:
                super().__setattr__(name, value)

    rng = random.Random(0)
    caught = sum(both(s, Forgetful())[0] != both(s)[1]
                 for s in (random_script(rng, 20) for _ in range(50)))
    assert caught > 0
