"""_apply and what is built on it: to(), float(), double(), half(), cpu(), as test/test_nn.py
checks them (test_to, test_type, test_module_to_argparse, test_module_apply_inplace_op, ...)."""
from __future__ import annotations

import warnings

import pytest
import torch


def net_with_index_buffer(nn):
    """test_type's network: one Linear reachable twice, an empty slot, a long-valued buffer."""
    linear = nn.Linear(10, 20)
    net = nn.Module()
    net.l = linear
    net.l2 = linear
    net.add_module("empty", None)
    net.indices = nn.Buffer(torch.LongTensor(1))
    return net, linear


def dtypes(linear, net):
    return linear.weight.dtype, linear.bias.dtype, net.indices.dtype


# mirrors test_nn.py::TestNN::test_to
def test_to_returns_self_and_converts(nn):
    m = nn.Linear(3, 5)
    assert m.to("cpu") is m
    assert m.to("cpu", dtype=torch.float32) is m
    assert m.to(torch.float64) is m and m.weight.dtype == torch.float64
    with pytest.raises(RuntimeError):
        m.to("cpu", copy=True)


# mirrors test_nn.py::TestNN::test_type
def test_type_conversions_leave_integer_buffers_alone(nn):
    net, linear = net_with_index_buffer(nn)
    net.float()
    assert dtypes(linear, net) == (torch.float32, torch.float32, torch.long)
    net.double()
    assert dtypes(linear, net) == (torch.float64, torch.float64, torch.long)
    net.to(torch.half)
    assert dtypes(linear, net) == (torch.half, torch.half, torch.long)
    net.to(torch.device("cpu"), non_blocking=True)
    assert dtypes(linear, net) == (torch.half, torch.half, torch.long)
    net.to(torch.float)
    assert dtypes(linear, net) == (torch.float32, torch.float32, torch.long)
    net.to(torch.DoubleTensor(1))  # a tensor gives its dtype and device
    assert dtypes(linear, net) == (torch.float64, torch.float64, torch.long)
    net.half()
    assert dtypes(linear, net) == (torch.half, torch.half, torch.long)
    assert net.cpu() is net and linear.weight.device.type == "cpu"


# mirrors test_nn.py::TestNN::test_module_to_argparse
def test_to_argument_errors(nn):
    net = nn.Sequential(nn.Linear(3, 3))
    cpu = torch.device("cpu")
    for args, kwargs in [((cpu, True), {}), ((torch.long,), {}), ((None, True), {}),
                         ((cpu, torch.long, True), {}), ((cpu,), {"dtype": torch.long, "non_blocking": True}),
                         (([],), {}), (({},), {"non_blocking": True}),
                         ((torch.tensor(3, dtype=torch.long),), {"non_blocking": True}),
                         ((cpu, torch.tensor(3, dtype=torch.long)), {"non_blocking": True})]:
        with pytest.raises(TypeError):
            net.to(*args, **kwargs)
    assert net[0].weight.dtype == torch.float32


# the message of the integer-dtype error (module.py's to())
def test_to_an_integer_dtype_is_refused_with_torchs_message(nn):
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes, "
                                        "but got desired dtype=torch.int64"):
        nn.Linear(2, 2).to(torch.long)


# module.py's to(): a complex dtype converts floating-point tensors and warns
def test_to_complex_warns_and_converts(nn):
    m = nn.Linear(2, 2)
    with pytest.warns(UserWarning, match="Complex modules are a new feature under active development"):
        m.to(torch.cfloat)
    assert m.weight.dtype == torch.cfloat and m.bias.dtype == torch.cfloat


# a float dtype says nothing
def test_to_a_float_dtype_does_not_warn(nn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.Linear(2, 2).to(torch.float64)


# module.py's to(): moving a meta module with to() points to to_empty()
def test_to_from_meta_points_to_to_empty(nn):
    with torch.device("meta"):
        m = nn.Linear(2, 2)
    with pytest.raises(NotImplementedError, match="Cannot copy out of meta tensor; no data! Please use "
                                                  "torch.nn.Module.to_empty\\(\\) instead of "
                                                  "torch.nn.Module.to\\(\\) when moving module from "
                                                  "meta to a different device."):
        m.to("cpu")
    assert m.weight.is_meta


# mirrors test_nn.py::TestNN::test_module_to_empty (the cpu case)
def test_to_empty(nn):
    with torch.device("meta"):
        m = nn.Linear(2, 2)
    m.to_empty(device="cpu")
    assert m.weight.device.type == "cpu"


# mirrors test_nn.py::TestNN::test_module_apply_inplace_op
def test_apply_of_an_inplace_op_bumps_versions(nn):
    def add_one_inplace(t):
        return t.add_(1.0)

    m = nn.Linear(20, 10)
    pvm = m.weight.mul(m.weight)
    version = m.weight._version
    assert m._apply(add_one_inplace) is m
    assert m.weight._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        pvm.backward(torch.randn(10, 20))
    m = nn.Linear(20, 10)
    m.weight.grad = torch.randn(10, 20).requires_grad_()
    pgm = m.weight.grad.mul(m.weight.grad)
    version = m.weight.grad._version
    m._apply(add_one_inplace)
    assert m.weight.grad._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        pgm.backward(torch.randn(10, 20))


# mirrors test_nn.py::TestNN::test_overwrite_module_params_on_conversion (default settings)
def test_conversion_keeps_parameter_objects_and_moves_their_data(nn):
    m = nn.Linear(20, 10).float()
    weight, view = m.weight, m.weight[:]
    m.double()
    assert m.weight is weight and m.weight.dtype == torch.float64
    with torch.no_grad():
        view[0][0] = 5
    assert view[0][0].dtype == torch.float and view._base[0][0].dtype == torch.double
    m = nn.Linear(20, 10)
    m.weight.grad = torch.randn(10, 20)
    grad = m.weight.grad
    m.double()
    assert m.weight.grad is grad and grad.dtype == torch.float64


# mirrors test_nn.py::TestNN::test_overwrite_module_params_on_conversion (a layout change)
def test_conversion_to_an_incompatible_tensor_type_replaces_the_parameter(nn):
    m = nn.Linear(20, 10)
    m.weight.grad = torch.randn(10, 20)
    weight, grad = m.weight, m.weight.grad
    m._apply(lambda t: torch.sparse_coo_tensor(torch.zeros([2, 1]), torch.ones([1]), torch.Size([10, 20]),
                                              check_invariants=True))
    assert weight.layout != m.weight.layout and grad.layout != m.weight.grad.layout
    assert isinstance(m.weight, nn.Parameter) and m.weight is not weight


@pytest.mark.out_of_scope("torch.__future__ conversion flags")
# mirrors test_nn.py::TestNN::test_overwrite_module_params_on_conversion (flag set)
def test_overwrite_module_params_on_conversion_flag(nn):
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        m = nn.Linear(20, 10).float()
        weight = m.weight
        m.double()
        assert m.weight is not weight
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(False)


# buffers go through _apply too, and keep their registration and persistence
def test_apply_converts_buffers_in_place_of_the_old_ones(nn):
    bn = nn.BatchNorm1d(3)
    bn.register_buffer("scratch", torch.ones(3), persistent=False)
    bn.double()
    assert bn.running_mean.dtype == torch.float64 and bn.scratch.dtype == torch.float64
    assert bn.num_batches_tracked.dtype == torch.long
    assert "scratch" not in bn.state_dict() and "scratch" in dict(bn.named_buffers())


@pytest.mark.out_of_scope("share_memory, cuda and the other device shortcuts besides cpu")
# mirrors test_nn.py::TestNN::test_share_memory
def test_share_memory(nn):
    net = nn.Linear(2, 2)
    net.share_memory()
    assert all(p.is_shared() for p in net.parameters())


@pytest.mark.out_of_scope("pickling a whole Module")
# mirrors test_nn.py::TestNN::test_parameterlistdict_pickle
def test_pickle_a_module(nn):
    import pickle

    m = nn.ParameterList(map(nn.Parameter, [torch.rand(2), torch.rand(2)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = pickle.loads(pickle.dumps(m))
    assert len(again) == 2 and torch.equal(again[0], m[0])
