"""Traversal and the methods built on it: children, modules, parameters, buffers (plain and
named), get_submodule / get_parameter, apply, train / eval, requires_grad_, zero_grad."""
from __future__ import annotations

import itertools

import pytest
import torch


def basic_net(nn):
    """A layer with one parameter and one buffer, a net holding it, a Sequential holding the net
    (the shape of torch.testing._internal.common_nn._create_basic_net)."""
    layer = nn.Module()
    layer.layer_dummy_param = nn.Parameter(torch.empty(3, 5))
    layer.layer_dummy_buf = nn.Buffer(torch.zeros(1, 3, 3, 7))
    net = nn.Module()
    net.l1 = layer
    net.dummy_param = nn.Parameter(torch.empty(3, 5))
    net.dummy_buf = nn.Buffer(torch.zeros(7, 3, 3, 1))
    return layer, net, nn.Sequential(net)


def names(named):
    return [name for name, _ in named]


# mirrors test_nn.py::TestNN::test_parameters_and_named_parameters
def test_parameters_and_named_parameters(nn):
    layer, net, seq = basic_net(nn)
    assert names(layer.named_parameters()) == ["layer_dummy_param"]
    assert names(net.named_parameters()) == ["dummy_param", "l1.layer_dummy_param"]
    assert len(list(net.parameters())) == 2
    assert names(net.named_parameters(recurse=False)) == ["dummy_param"]
    assert len(list(net.parameters(recurse=False))) == 1
    assert names(seq.named_parameters()) == ["0.dummy_param", "0.l1.layer_dummy_param"]
    assert names(seq.named_parameters(prefix="model")) == ["model.0.dummy_param",
                                                           "model.0.l1.layer_dummy_param"]


# mirrors test_nn.py::TestNN::test_buffers_and_named_buffers
def test_buffers_and_named_buffers(nn):
    layer, net, seq = basic_net(nn)
    assert names(layer.named_buffers()) == ["layer_dummy_buf"]
    assert names(net.named_buffers()) == ["dummy_buf", "l1.layer_dummy_buf"]
    assert names(net.named_buffers(recurse=False)) == ["dummy_buf"]
    assert names(seq.named_buffers()) == ["0.dummy_buf", "0.l1.layer_dummy_buf"]
    m = nn.Module()
    m.buffer1 = nn.Buffer(torch.empty(3, 5))
    m.buffer2 = m.buffer1
    assert names(m.named_buffers()) == ["buffer1"]
    assert names(m.named_buffers(remove_duplicate=False)) == ["buffer1", "buffer2"]


# mirrors test_nn.py::TestNN::test_named_parameters_remove_duplicate
def test_named_parameters_remove_duplicate(nn):
    m1 = nn.Module()
    m1.param1 = nn.Parameter(torch.empty(3, 3))
    m1.param2 = m1.param1
    assert names(m1.named_parameters()) == ["param1"]
    assert names(m1.named_parameters(remove_duplicate=False)) == ["param1", "param2"]
    m2 = nn.Module()
    m2.mod1 = nn.Linear(3, 4, bias=False)
    m2.mod2 = m2.mod1
    assert names(m2.named_parameters()) == ["mod1.weight"]
    assert names(m2.named_parameters(remove_duplicate=False)) == ["mod1.weight", "mod2.weight"]


# mirrors test_nn.py::TestNN::test_parameters (the 2017 version: shared layers count once)
def test_shared_parameters_count_once(nn):
    shared = nn.Linear(10, 20)
    net = nn.Module()
    net.l1 = shared
    net.l2 = shared
    net.param = nn.Parameter(torch.empty(3, 5))
    seq = nn.Sequential(net, net, net, net)
    assert [len(list(m.parameters())) for m in (shared, net, seq)] == [2, 3, 3]


# mirrors test_nn.py::TestNN::test_children
def test_children(nn):
    l1, l2, l3, l4 = (nn.Linear(2, 2) for _ in range(4))
    subnet = nn.Sequential(l3, l4)
    s = nn.Sequential(l1, l2, l1, l2, subnet)
    children = list(s.children())
    assert len(children) == 3
    assert all(a is b for a, b in zip(children, [l1, l2, subnet]))


# mirrors test_nn.py::TestNN::test_named_children
def test_named_children_skip_repeats(nn):
    l1, l2, l3, l4 = (nn.Linear(2, 2) for _ in range(4))
    subnet = nn.Sequential(l3, l4)
    s = nn.Sequential()
    for name, module in [("layer1", l1), ("layer2", l2), ("layer3", l1), ("layer4", l2),
                         ("subnet", subnet)]:
        s.add_module(name, module)
    got = list(s.named_children())
    assert names(got) == ["layer1", "layer2", "subnet"]
    assert all(a is b for (_, a), b in zip(got, [l1, l2, subnet]))


# mirrors test_nn.py::TestNN::test_modules
def test_modules(nn):
    shared = nn.Linear(10, 20)
    net = nn.Module()
    net.l1 = shared
    net.l2 = shared
    net.param = torch.empty(3, 5)
    s = nn.Sequential(net, net, net, net)
    got = list(s.modules())
    assert len(got) == 3 and all(a is b for a, b in zip(got, [s, net, shared]))


# mirrors test_nn.py::TestNN::test_named_modules
def test_named_modules(nn):
    shared, l1, l2 = nn.Linear(10, 20), nn.Linear(10, 20), nn.Linear(10, 20)
    block = nn.Sequential()
    block.add_module("linear1", l1)
    block.add_module("linear2", l2)
    net = nn.Module()
    net.l1 = shared
    net.l2 = shared
    net.param = torch.empty(3, 5)
    net.block = block
    s = nn.Sequential(net, net)
    expected = [("", s), ("0", net), ("0.l1", shared), ("0.block", block),
                ("0.block.linear1", l1), ("0.block.linear2", l2)]
    got = list(s.named_modules())
    assert names(got) == names(expected)
    assert all(a is b for (_, a), (_, b) in zip(got, expected))
    every = list(s.named_modules(remove_duplicate=False))
    assert names(every) == ["", "0", "0.l1", "0.l2", "0.block", "0.block.linear1",
                            "0.block.linear2", "1", "1.l1", "1.l2", "1.block",
                            "1.block.linear1", "1.block.linear2"]


# mirrors test_nn.py::TestNN::test_set_submodule (its get_submodule half)
def test_get_submodule(nn):
    net = nn.Module()
    net.t = nn.Module()
    lin = nn.Linear(1, 2)
    net.t.l = lin
    assert net.get_submodule("t.l") is lin
    assert net.get_submodule("") is net
    with pytest.raises(AttributeError, match="Module has no attribute `a`"):
        net.get_submodule("a.l")
    net.foo = "bar"
    with pytest.raises(AttributeError, match="`foo` is not an nn.Module"):
        net.get_submodule("foo")


@pytest.mark.out_of_scope("set_submodule")
# mirrors test_nn.py::TestNN::test_set_submodule
def test_set_submodule(nn):
    net = nn.Module()
    net.t = nn.Module()
    net.set_submodule("t.l", nn.Linear(2, 1))
    assert isinstance(net.get_submodule("t.l"), nn.Linear)


# the get_parameter counterpart of test_get_buffer_from_submodules
def test_get_parameter(nn):
    net = nn.Sequential(nn.Linear(2, 3))
    assert net.get_parameter("0.weight") is net[0].weight
    with pytest.raises(AttributeError, match="Linear has no attribute `nope`"):
        net.get_parameter("0.nope")
    net[0].register_buffer("buf", torch.zeros(1))
    with pytest.raises(AttributeError, match="`buf` is not an nn.Parameter"):
        net.get_parameter("0.buf")


# mirrors test_nn.py::TestNN::test_train_errors_for_invalid_mode
def test_train_refuses_a_non_bool_mode(nn):
    class SubclassNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l1 = nn.Linear(2, 2)

    for mode, module in itertools.product(["invalid_str", torch.device("cpu")],
                                          [SubclassNet(), nn.Sequential(nn.Linear(2, 2))]):
        with pytest.raises(ValueError, match="training mode is expected to be boolean"):
            module.train(mode)
        assert module.training is True


# the train/eval flag reaches every module (test_nn.py::TestNN::test_batchnorm_eval relies on it)
def test_train_and_eval_set_the_flag_on_the_whole_tree(nn):
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert net.eval() is net
    assert [m.training for m in net.modules()] == [False] * 5
    net.train()
    assert [m.training for m in net.modules()] == [True] * 5


# mirrors test_nn.py::TestNN::test_requires_grad_
def test_requires_grad_(nn):
    _, _, module = basic_net(nn)
    assert list(module.buffers()) and list(module.parameters())
    for requires_grad in (False, True):
        assert module.requires_grad_(requires_grad) is module
        assert all(p.requires_grad is requires_grad for p in module.parameters())
        assert all(not b.requires_grad for b in module.buffers())


# mirrors test_nn.py::TestNN::test_zero_grad
def test_zero_grad(nn):
    i = torch.randn(2, 5, requires_grad=True)
    module = nn.Linear(5, 5)
    for p in module.parameters():
        p.requires_grad = False
    module.zero_grad()
    module.weight.requires_grad = True
    module.zero_grad()
    assert module.weight.grad is None
    module(i).sum().backward()
    assert module.weight.grad is not None and module.weight.grad.abs().sum() > 0
    module.zero_grad()
    assert module.weight.grad is None
    module.bias.requires_grad = True
    module(i).sum().backward()
    assert module.weight.grad.abs().sum() > 0 and module.bias.grad.abs().sum() > 0
    module.zero_grad(set_to_none=False)
    assert torch.equal(module.weight.grad, torch.zeros_like(module.weight))
    assert torch.equal(module.bias.grad, torch.zeros_like(module.bias))
    module.zero_grad()
    assert module.weight.grad is None and module.bias.grad is None


# mirrors test_nn.py::TestNN::test_no_grad
def test_forward_under_no_grad_builds_no_graph(nn):
    module = nn.Conv2d(2, 5, kernel_size=3, padding=1)
    x = torch.randn(1, 2, 10, 10)
    assert module(x).requires_grad
    with torch.no_grad():
        out = module(x)
    assert not out.requires_grad
    with pytest.raises(RuntimeError):
        out.backward(torch.ones(1, 5, 10, 10))


# Module.apply: children first, then the module itself (test_nn.py uses it in test_apply-style
# initialisation, e.g. module.apply(init_fn) in TestNNInit)
def test_apply_visits_children_before_parents_and_returns_self(nn):
    inner = nn.Linear(2, 2)
    net = nn.Sequential(nn.Sequential(inner), nn.ReLU())
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "Sequential", "ReLU", "Sequential"]


# mirrors test_nn.py::TestNN::test_call_supports_python_dict_output (without its backward hook)
def test_call_returns_whatever_forward_returns(nn):
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l1 = nn.Linear(10, 20)

        def forward(self, inputs):
            return {"output": self.l1(inputs).sum()}

    out = Net()(torch.randn(5, 10))
    assert set(out) == {"output"}
    out["output"].backward()


# a module without forward raises NotImplementedError naming it (test_ModuleList/test_ModuleDict)
def test_module_without_forward(nn):
    with pytest.raises(NotImplementedError, match='Module \\[ModuleList\\] is missing the required '
                                                  '"forward" function'):
        nn.ModuleList()(torch.rand(1, 3))


# module.py's named_modules: a caller's memo marks subtrees as already visited
def test_named_modules_with_a_memo_and_a_prefix(nn):
    _, net, seq = basic_net(nn)
    assert names(seq.named_modules(prefix="m")) == ["m", "m.0", "m.0.l1"]
    assert names(seq.named_modules(memo={net.l1})) == ["", "0"]
