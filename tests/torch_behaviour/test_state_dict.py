"""state_dict and load_state_dict, as test/test_nn.py and test/nn/test_load_state_dict.py check
them: keys, _metadata, storage sharing, strict and non-strict loading, assign, meta parameters,
BatchNorm's version-1 checkpoints and extra state."""
from __future__ import annotations

import copy
import pickle
import warnings

import pytest
import torch

import purenn


def block_net(nn):
    """test_state_dict's and test_load_state_dict's network: a shared Linear, a BatchNorm2d, a
    block of two Conv2d and an empty slot."""
    shared = nn.Linear(5, 5)
    block = nn.Module()
    block.conv1 = nn.Conv2d(3, 3, 3, bias=True)
    block.conv2 = nn.Conv2d(3, 3, 3, bias=False)
    net = nn.Module()
    net.linear1 = shared
    net.linear2 = shared
    net.bn = nn.BatchNorm2d(2)
    net.block = block
    net.add_module("empty", None)
    return net


# mirrors test_nn.py::TestNN::test_state_dict
def test_state_dict(nn):
    net = block_net(nn)
    state_dict = net.state_dict()
    assert list(state_dict) == [
        "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "bn.weight", "bn.bias",
        "bn.running_mean", "bn.running_var", "bn.num_batches_tracked", "block.conv1.weight",
        "block.conv1.bias", "block.conv2.weight"]
    assert list(state_dict._metadata) == ["", "linear1", "linear2", "bn", "block", "block.conv1",
                                          "block.conv2"]
    assert state_dict._metadata["bn"] == {"version": 2}
    assert not any(k.startswith("empty") for k in state_dict)
    for key, value in state_dict.items():
        owner = net
        for part in key.split("."):
            owner = getattr(owner, part)
        assert value.data_ptr() == owner.data_ptr()  # shares storage: no copy
        assert not isinstance(value, nn.Parameter) and not value.requires_grad
    linear = nn.Linear(5, 5)
    small = linear.state_dict()
    assert list(small) == ["weight", "bias"] and list(small._metadata) == [""]
    assert small._metadata[""]["version"] >= 0
    assert small["weight"].data_ptr() == linear.weight.data_ptr()


# mirrors test_nn.py::TestNN::test_state_dict (no warning for a destination without _metadata)
def test_state_dict_into_a_plain_dict(nn, recwarn):
    linear = nn.Linear(5, 5)
    destination = {}
    assert linear.state_dict(destination=destination, prefix="lin.") is destination
    assert list(destination) == ["lin.weight", "lin.bias"]
    assert len(recwarn) == 0


# keep_vars=True returns the Parameters themselves (test_load_state_dict_assign_meta relies on it)
def test_state_dict_keep_vars(nn):
    linear = nn.Linear(2, 2)
    kept = linear.state_dict(keep_vars=True)
    assert kept["weight"] is linear.weight and kept["bias"] is linear.bias


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict_invalid
def test_load_state_dict_refuses_non_tensors(nn):
    m = nn.Linear(2, 2, bias=False)
    for value in (((1.0, 1.0), (2.0, 2.0)), [[1.0, 1.0], [2.0, 2.0]]):
        with pytest.raises(RuntimeError, match="expected torch.Tensor or Tensor-like object from "
                                               "checkpoint but received"):
            m.load_state_dict({"weight": value})


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict_type
def test_load_state_dict_refuses_non_mappings(nn):
    m = nn.Module()
    for value in ("", 2):
        with pytest.raises(TypeError, match="Expected state_dict to be dict-like, got"):
            m.load_state_dict(value)


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict (loading, and a DDP
# checkpoint after consume_prefix_in_state_dict_if_present)
def test_load_state_dict_copies_values(nn):
    net = block_net(nn)
    dtype = net.block.conv1.bias.dtype
    new_values = {"linear1.weight": torch.ones(5, 5), "block.conv1.bias": torch.arange(1, 4, dtype=dtype),
                  "bn.running_mean": torch.randn(2)}
    state_dict = net.state_dict()
    state_dict.update(new_values)
    ddp_state_dict = net.state_dict()
    ddp_state_dict.update({f"module.{k}": v for k, v in new_values.items()})
    consume = (torch.nn.modules.utils.consume_prefix_in_state_dict_if_present if nn is torch.nn
               else purenn.consume_prefix_in_state_dict_if_present)
    consume(ddp_state_dict, "module.")
    for sd in (state_dict, ddp_state_dict):
        result = net.load_state_dict(sd)
        assert (result.missing_keys, result.unexpected_keys) == ([], [])
        assert "Incompatible" not in str(result)
        assert str(result) == "<All keys matched successfully>"
        for key, value in new_values.items():
            assert torch.equal(net.state_dict()[key], value)


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict (unexpected and
# missing keys, strict and not)
def test_load_state_dict_reports_unexpected_and_missing_keys(nn):
    net = block_net(nn)
    for extra in ("extra", "extra.param"):
        state_dict = net.state_dict()
        state_dict[extra] = torch.ones(5)
        with pytest.raises(RuntimeError, match=f'Unexpected key\\(s\\) in state_dict: "{extra}"'):
            net.load_state_dict(state_dict)
        result = net.load_state_dict(state_dict, strict=False)
        assert (result.missing_keys, result.unexpected_keys) == ([], [extra])
        assert "Incompatible" in str(result)
    state_dict = net.state_dict()
    del state_dict["linear1.weight"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "linear1.weight"'):
        net.load_state_dict(state_dict)
    result = net.load_state_dict(state_dict, strict=False)
    assert (result.missing_keys, result.unexpected_keys) == (["linear1.weight"], [])
    state_dict["extra.param"] = torch.ones(5)
    with pytest.raises(RuntimeError, match=f"Error\\(s\\) in loading state_dict for Module:\n\t"
                                           f'Missing key\\(s\\) in state_dict: "linear1.weight". \n\t'
                                           f'Unexpected key\\(s\\) in state_dict: "extra.param". '):
        net.load_state_dict(state_dict)
    result = net.load_state_dict(state_dict, strict=False)
    assert (result.missing_keys, result.unexpected_keys) == (["linear1.weight"], ["extra.param"])


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict (wrong size, and a
# non-strict partial load that leaves the rest alone)
def test_load_state_dict_size_mismatch_and_partial_load(nn):
    net = block_net(nn)
    state_dict = net.state_dict()
    state_dict["bn.running_mean"] = torch.rand(14, 4)
    for strict in (True, False):
        with pytest.raises(RuntimeError, match="size mismatch for bn.running_mean: copying a param with "
                                               "shape torch.Size\\(\\[14, 4\\]\\) from checkpoint, the "
                                               "shape in current model is torch.Size\\(\\[2\\]\\)."):
            net.load_state_dict(state_dict, strict=strict)
    old = copy.deepcopy(net.state_dict())
    partial = {"linear1.weight": torch.ones(5, 5), "block.conv1.bias": torch.arange(1, 4, dtype=torch.float),
               "bn.running_mean": torch.randn(2), "nonexistent_key": torch.rand(3)}
    net.load_state_dict(partial, strict=False)
    new = net.state_dict()
    for key, value in new.items():
        source = key.replace("linear2.", "linear1.")  # linear2 is linear1
        expected = partial[source] if source in partial else old[key]
        assert torch.equal(value, expected), key


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict_BC
def test_load_state_dict_BC_batchnorm_version_1(nn):
    bn = nn.BatchNorm2d(3)
    bn.num_batches_tracked.fill_(7)
    state_dict = bn.state_dict()
    del state_dict["num_batches_tracked"]
    state_dict._metadata[""]["version"] = 1
    bn.load_state_dict(state_dict)  # the checkpoint has no counter: the module keeps its own
    assert bn.num_batches_tracked.dtype == torch.long and bn.num_batches_tracked.item() == 7
    fresh = nn.BatchNorm2d(3)
    del state_dict._metadata[""]["version"]
    fresh.load_state_dict(state_dict)
    assert fresh.num_batches_tracked.dtype == torch.long and fresh.num_batches_tracked.item() == 0
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "num_batches_tracked"'):
        state_dict._metadata[""]["version"] = 2  # a version-2 checkpoint must have it
        fresh.load_state_dict(state_dict)


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict_child (without its
# pre-hook: a 3-level tree of deep copies, 4 wide instead of 10 to stay fast)
def test_load_state_dict_of_a_deep_tree(nn):
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    for _ in range(3):
        model = nn.Sequential(*[copy.deepcopy(model) for _ in range(4)])
    state_dict = model.state_dict()
    assert len(state_dict) == 128 and "3.3.3.bias" in state_dict
    model.load_state_dict({k: torch.full_like(v, 3.0) for k, v in state_dict.items()})
    assert all(torch.equal(p, torch.full_like(p, 3.0)) for p in model.parameters())


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict_custom
def test_load_state_dict_with_custom_save_and_load(nn):
    class CustomState(nn.Module):
        def __init__(self):
            super().__init__()
            self.param = nn.Parameter(torch.ones(1))
            self.sub = nn.Linear(5, 5)

        def _save_to_state_dict(self, destination, prefix, keep_vars):
            destination[prefix + "serialized"] = self.param.data + 1

        def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                                  unexpected_keys, error_msgs):
            self.param.data.copy_(state_dict[prefix + "serialized"] - 1)

    m = nn.Sequential(CustomState())
    with torch.no_grad():
        m[0].param[0] = 10
        m[0].sub.weight[0, 0] = 555
    state_dict = m.state_dict()
    assert state_dict["0.serialized"].item() == 11
    assert "0.sub.weight" in state_dict and "0.param" not in state_dict
    mm = nn.Sequential(CustomState())
    assert mm[0].param[0].item() == 1
    mm.load_state_dict(state_dict)
    assert mm[0].param[0].item() == 10 and mm[0].sub.weight[0, 0].item() == 555


class _MetaNet:
    """test_load_state_dict_assign_meta's module: Linear -> BatchNorm1d, plus a frozen parameter."""

    @staticmethod
    def build(nn):
        class MyModule(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(3, 5)
                self.bn = nn.BatchNorm1d(5)
                self.x = nn.Parameter(torch.rand(5), requires_grad=False)

            def forward(self, input):
                return self.x + self.bn(self.fc1(input))

        return MyModule


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict_assign_meta
@pytest.mark.parametrize("keep_vars", [True, False])
def test_load_state_dict_assign_into_meta_module(nn, keep_vars):
    MyModule = _MetaNet.build(nn)
    torch.manual_seed(0)
    net = MyModule()
    state_dict = net.state_dict(keep_vars=keep_vars)
    for value in state_dict.values():
        value.requires_grad_(False)
    with torch.device("meta"):
        net_meta = MyModule()
    old = net_meta.state_dict(keep_vars=True)
    net_meta.load_state_dict(state_dict, assign=True)
    new = net_meta.state_dict(keep_vars=True)
    for key, value in state_dict.items():
        if key.endswith(("weight", "bias")) or key == "x":
            if keep_vars:
                assert new[key] is value  # the Parameter itself is placed
            else:
                assert new[key] is not old[key] and isinstance(new[key], nn.Parameter)
            assert new[key].requires_grad == old[key].requires_grad
        else:
            assert new[key] is value  # buffers are placed as they are
        assert not new[key].is_meta and torch.equal(new[key], value)
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in net_meta.named_parameters()]
    assert [n for n, _ in net.named_buffers()] == [n for n, _ in net_meta.named_buffers()]
    t = torch.randn(4, 3)
    assert torch.equal(net(t), net_meta(t.clone()))


class _Momentum:
    """SGD with momentum over a module's parameters() as they are when it is built, its state
    indexed by position as torch.optim's state_dict is (written out here: the first step of a
    torch.optim optimizer imports torch._dynamo, seconds this suite does not need to spend)."""

    def __init__(self, params, lr=0.1, momentum=0.9):
        self.params, self.lr, self.momentum = list(params), lr, momentum
        self.state = {}

    def step(self):
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:  # frozen parameters are skipped, as torch.optim skips them
                    continue
                buf = self.state.setdefault(i, torch.zeros_like(p))
                buf.mul_(self.momentum).add_(p.grad)
                p.sub_(self.lr * buf)
                p.grad = None


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict_assign_with_optimizer
def test_load_state_dict_assign_then_optimize(nn):
    MyModule = _MetaNet.build(nn)
    torch.manual_seed(0)
    net = MyModule()
    opt = _Momentum(net.parameters())
    x = torch.randn(4, 3)
    for _ in range(3):
        net(x).sum().backward()
        opt.step()
    opt_state, net_state = copy.deepcopy(opt.state), copy.deepcopy(net.state_dict())
    with torch.device("meta"):
        net_meta = MyModule()
    before = list(net_meta.parameters())
    net_meta.load_state_dict(net_state, assign=True)
    assert all(a is not b for a, b in zip(before, net_meta.parameters()))  # new objects: build
    opt2 = _Momentum(net_meta.parameters())                                # the optimizer after
    opt2.state = opt_state
    for _ in range(3):
        for model, optimizer in ((net, opt), (net_meta, opt2)):
            model(x.clone()).sum().backward()
            optimizer.step()
    for (k1, v1), (k2, v2) in zip(net.state_dict().items(), net_meta.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    assert all(torch.equal(opt.state[i], opt2.state[i]) for i in opt.state)


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict_assign_shape_stride
def test_load_state_dict_assign_accepts_other_strides_but_not_other_shapes(nn):
    net = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5))
    state_dict = net.state_dict()
    state_dict["0.weight"] = torch.randn(3, 5).transpose(0, 1)
    net2 = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5))
    net2.load_state_dict(state_dict, strict=False, assign=True)
    assert net2[0].weight.stride() == (1, 5)
    state_dict["0.weight"] = torch.randn(2, 4)
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight: copying a param with shape"):
        net2.load_state_dict(state_dict, strict=False, assign=True)


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict_warn_assign
def test_copying_into_a_meta_parameter_warns(nn):
    with torch.device("meta"):
        m = nn.Linear(3, 5)
    state_dict = m.state_dict()
    state_dict["weight"] = torch.empty_like(state_dict["weight"], device="cpu")
    with pytest.warns(UserWarning, match="for weight: copying from a non-meta parameter in the "
                                         "checkpoint to a meta parameter in the current model, which "
                                         "is a no-op. \\(Did you mean to pass `assign=True`"):
        m.load_state_dict(state_dict)
    assert m.weight.is_meta


# with assign=True the same load places the tensors and says nothing
def test_assigning_into_a_meta_parameter_does_not_warn(nn):
    with torch.device("meta"):
        m = nn.Linear(3, 5)
    state_dict = {"weight": torch.ones(5, 3), "bias": torch.zeros(5)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.load_state_dict(state_dict, assign=True)
    assert not m.weight.is_meta and torch.equal(m.weight, torch.ones(5, 3))


# the meta branch of _NormBase._load_from_state_dict (batchnorm.py): an old checkpoint without
# num_batches_tracked, assigned into a meta BatchNorm, gives a real counter tensor(0)
def test_meta_batchnorm_assign_without_counter_gets_a_real_zero(nn):
    with torch.device("meta"):
        bn = nn.BatchNorm1d(4)
    bn.load_state_dict({}, assign=True, strict=False)
    assert not bn.num_batches_tracked.is_meta
    assert bn.num_batches_tracked.dtype == torch.long and bn.num_batches_tracked.item() == 0
    assert bn.running_mean.is_meta  # what the checkpoint did not have stays where it was


# mirrors test_load_state_dict.py::TestLoadStateDict::test_load_state_dict_with_unexpected_key
def test_unexpected_key_under_a_known_prefix(nn):
    class MyModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(5, 10)

    m = MyModule()
    for bad in ("fc1.bad_suffix", "fc1.weight.bad_suffix"):
        state_dict = m.state_dict()
        state_dict[bad] = torch.randn(5, 10)
        with pytest.raises(RuntimeError, match="Unexpected key"):
            m.load_state_dict(state_dict)
        assert bad in m.load_state_dict(state_dict, strict=False).unexpected_keys


# mirrors test_nn.py::TestNN::test_extra_state
def test_extra_state(nn):
    class SubModule(nn.Module):
        def __init__(self, foo):
            super().__init__()
            self.foo = foo

        def get_extra_state(self):
            return {"foo": self.foo}

        def set_extra_state(self, state):
            self.foo = state["foo"]

    class MyModule(nn.Module):
        def __init__(self, foo, bar):
            super().__init__()
            self.sub = SubModule(foo)
            self.bar = bar

        def get_extra_state(self):
            return {"bar": self.bar}

        def set_extra_state(self, state):
            self.bar = state["bar"]

    m, m2 = MyModule(3, "something"), MyModule(5, "something else")
    assert list(m.state_dict()) == ["_extra_state", "sub._extra_state"]
    m2.load_state_dict(m.state_dict())
    assert m.state_dict() == m2.state_dict()
    assert (m2.bar, m2.sub.foo) == ("something", 3)


# mirrors test_nn.py::TestNN::test_extra_state_non_dict
def test_extra_state_of_any_type(nn):
    class MyModule(nn.Module):
        def __init__(self, foo):
            super().__init__()
            self.foo = foo

        def get_extra_state(self):
            return self.foo

        def set_extra_state(self, state):
            self.foo = state

    for state in ("something", 5, MyModule(3)):
        m, m2 = MyModule(state), MyModule("something else")
        m2.load_state_dict(m.state_dict())
        assert m2.foo is state


# mirrors test_nn.py::TestNN::test_extra_state_missing_set_extra_state
def test_extra_state_without_setter_is_unexpected(nn):
    class MyModule(nn.Module):
        def get_extra_state(self):
            return {"foo": 5}

    m = MyModule()
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "_extra_state"'):
        m.load_state_dict(m.state_dict())


# mirrors test_nn.py::TestNN::test_extra_state_missing_get_extra_state
def test_extra_state_without_getter_is_missing(nn):
    class MyModule(nn.Module):
        def set_extra_state(self):
            pass

    m = MyModule()
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "_extra_state"'):
        m.load_state_dict(m.state_dict())


# the design's interoperability claim, checked the way test_load_state_dict checks a round trip
def test_state_dict_loads_across_libraries_and_through_torch_save(nn, tmp_path):
    torch.manual_seed(0)
    other = purenn if nn is torch.nn else torch.nn

    def build(lib):
        return lib.Sequential(lib.Conv2d(1, 2, 3), lib.BatchNorm2d(2), lib.Flatten(), lib.Linear(8, 3))

    source, target = build(nn), build(other)
    source[1].num_batches_tracked.fill_(4)
    path = tmp_path / "checkpoint.pt"
    torch.save(source.state_dict(), path)
    loaded = torch.load(path, weights_only=True)
    assert str(target.load_state_dict(loaded)) == "<All keys matched successfully>"
    x = torch.randn(2, 1, 4, 4)
    source.eval(), target.eval()
    assert torch.equal(source(x), target(x))
    assert pickle.loads(pickle.dumps(loaded))["1.num_batches_tracked"].item() == 4
