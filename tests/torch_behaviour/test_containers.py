"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict, with the list and
dict methods and operators PyTorch's test/test_nn.py checks."""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch


def same(container, expected) -> bool:
    """The container holds exactly `expected`, the same objects in the same order."""
    got = list(container)
    return len(got) == len(expected) and all(a is b for a, b in zip(got, expected))


def linears(nn, *sizes):
    return [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]


# mirrors test_nn.py::TestNN::test_Sequential_getitem
def test_Sequential_getitem(nn):
    l1, l2, l3, l4 = linears(nn, 10, 20, 30, 40, 50)
    n = nn.Sequential(l1, l2, l3, l4)
    assert n[0] is l1 and n[1] is l2 and n[2] is l3 and n[3] is l4
    assert n[-1] is l4
    assert n[torch.tensor(3, dtype=torch.int64)] is l4
    for index, expected in [(slice(1, None), [l2, l3, l4]), (slice(3, None), [l4]),
                            (slice(None, -1), [l1, l2, l3]), (slice(None, -3), [l1]),
                            (slice(None, None, -1), [l4, l3, l2, l1])]:
        part = n[index]
        assert type(part) is nn.Sequential and same(part, expected)
    with pytest.raises(IndexError, match="index 4 is out of range"):
        n[4]


# mirrors test_nn.py::TestNN::test_Sequential_setitem
def test_Sequential_setitem(nn):
    l1, l2, l3, l4 = linears(nn, 10, 20, 30, 40, 50)
    n = nn.Sequential(l1, l2, l3)
    n[0] = l4
    n[-1] = l4
    n[torch.tensor(1, dtype=torch.int16)] = l1
    assert same(n, [l4, l1, l4])


# mirrors test_nn.py::TestNN::test_Sequential_setitem_named
def test_Sequential_setitem_named(nn):
    l1, l2, l3, l4 = linears(nn, 10, 20, 30, 40, 50)
    n = nn.Sequential(OrderedDict([("linear1", l1), ("linear2", l2), ("linear3", l3)]))
    n[0] = l4
    n[-1] = l4
    assert n.linear1 is l4 and n.linear3 is l4 and n.linear2 is l2


# mirrors test_nn.py::TestNN::test_Sequential_delitem
def test_Sequential_delitem(nn):
    l1, l2, l3, l4 = linears(nn, 10, 20, 30, 40, 50)
    n = nn.Sequential(l1, l2, l3, l4)
    del n[-1]
    assert same(n, [l1, l2, l3])
    del n[1::2]
    assert same(n, [l1, l3]) and list(n._modules) == ["0", "1"]


# mirrors test_nn.py::TestNN::test_Sequential_add
def test_Sequential_add(nn):
    l1, l2, l3, l4 = linears(nn, 1, 2, 3, 4, 5)
    n, other = nn.Sequential(l1, l2), nn.Sequential(l3, l4)
    total = n + other
    assert type(total) is nn.Sequential and same(total, [l1, l2, l3, l4])
    assert same(n, [l1, l2]) and same(other, [l3, l4])
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential class, "
                                         "but <class 'list'> is given."):
        n + [l3]


# mirrors test_nn.py::TestNN::test_Sequential_iadd
def test_Sequential_iadd(nn):
    l1, l2, l3, l4 = linears(nn, 10, 20, 30, 40, 50)
    n, n2 = nn.Sequential(l1, l2, l3), nn.Sequential(l4)
    before = n
    n += n2
    n2 += n
    assert n is before
    assert same(n, [l1, l2, l3, l4]) and same(n2, [l4, l1, l2, l3, l4])
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
        n += nn.ModuleList([l1])


# mirrors test_nn.py::TestNN::test_Sequential_mul
def test_Sequential_mul(nn):
    l1, l2, l3, l4 = linears(nn, 10, 20, 30, 40, 50)
    n = nn.Sequential(l1, l2, l3, l4)
    assert same(n * 2, [l1, l2, l3, l4, l1, l2, l3, l4])
    assert same(n, [l1, l2, l3, l4])
    with pytest.raises(TypeError, match="unsupported operand type"):
        n * 2.0
    with pytest.raises(ValueError, match="Non-positive multiplication factor 0"):
        n * 0


# mirrors test_nn.py::TestNN::test_Sequential_rmul
def test_Sequential_rmul(nn):
    l1, l2, l3, l4 = linears(nn, 10, 20, 30, 40, 50)
    n = nn.Sequential(l1, l2, l3, l4)
    assert same(2 * n, [l1, l2, l3, l4, l1, l2, l3, l4])


# mirrors test_nn.py::TestNN::test_Sequential_imul
def test_Sequential_imul(nn):
    l1, l2, l3, l4 = linears(nn, 10, 20, 30, 40, 50)
    n = nn.Sequential(l1, l2, l3, l4)
    before = n
    n *= 2
    assert n is before and same(n, [l1, l2, l3, l4] * 2)
    n *= 2
    assert same(n, [l1, l2, l3, l4] * 4)
    with pytest.raises(ValueError, match="Non-positive multiplication factor -1"):
        n *= -1
    assert len(n) == 16


# mirrors test_nn.py::TestNN::test_Sequential_append
def test_Sequential_append(nn):
    l1, l2, l3, l4 = linears(nn, 10, 20, 30, 40, 50)
    n = nn.Sequential(l1, l2, l3)
    assert n.append(l4) is n and same(n, [l1, l2, l3, l4])
    assert same(nn.Sequential(l1).append(l2).append(l4), [l1, l2, l4])


# mirrors test_nn.py::TestNN::test_Sequential_pop
def test_Sequential_pop(nn):
    l1, l2, l3, l4 = linears(nn, 1, 2, 3, 4, 5)
    n = nn.Sequential(l1, l2, l3, l4)
    assert n.pop(3) is l4
    assert same(n, [l1, l2, l3])
    assert n.pop(0) is l1 and same(n, [l2, l3])
    assert all(n[k] is module for k, module in enumerate(n))
    assert list(n._modules) == ["0", "1"]


# mirrors test_nn.py::TestNN::test_Sequential_insert
def test_Sequential_insert(nn):
    l1, l2, l3 = linears(nn, 1, 2, 3, 4)
    module = nn.Linear(4, 5)
    n = nn.Sequential(l1, l2, l3)
    assert n.insert(1, module) is n and same(n, [l1, module, l2, l3])
    other = nn.Linear(5, 6)
    n2 = nn.Sequential(l1, l2, l3)
    assert same(n2.insert(-2, other), [l1, other, l2, l3])
    n3 = nn.Sequential(l1)
    assert same(n3.insert(1, l2), [l1, l2])  # index == len appends


# mirrors test_nn.py::TestNN::test_Sequential_insert_fail_case
def test_Sequential_insert_fail_case(nn):
    l1, l2, l3 = linears(nn, 1, 2, 3, 4)
    n = nn.Sequential(l1, l2, l3)
    with pytest.raises(IndexError, match="Index out of range: -5"):
        n.insert(-5, nn.Linear(5, 6))
    with pytest.raises(IndexError, match="Index out of range: 4"):
        n.insert(4, nn.Linear(5, 6))
    with pytest.raises(AssertionError, match="module should be of type: <class '"):
        n.insert(1, [nn.Linear(6, 7)])
    assert same(n, [l1, l2, l3])


# mirrors test_nn.py::TestNN::test_Sequential_extend
def test_Sequential_extend(nn):
    l1, l2, l3, l4 = linears(nn, 10, 20, 30, 40, 50)
    n1, n2, n3 = nn.Sequential(l1, l2), nn.Sequential(l3, l4), nn.Sequential(l1, l2)
    for layer in n2:
        n1.append(layer)
    assert n3.extend(n2) is n3
    assert same(n3, list(n1)) and same(n3, [l1, l2, l3, l4])
    assert same(nn.Sequential().extend([l4, l3]), [l4, l3])


# Sequential.forward chains its children (test_nn.py's module tests call it everywhere)
def test_Sequential_forward_chains(nn):
    torch.manual_seed(0)
    first, second = nn.Linear(3, 4), nn.Linear(4, 2)
    x = torch.randn(5, 3)
    assert torch.equal(nn.Sequential(first, nn.ReLU(), second)(x), second(torch.relu(first(x))))


# mirrors test_nn.py::TestNN::test_ModuleList
def test_ModuleList(nn):
    modules = [nn.ReLU(), nn.Linear(5, 5)]
    module_list = nn.ModuleList(modules)

    def check():
        assert len(module_list) == len(modules)
        assert same(module_list, modules)
        assert same(list(module_list.children()), modules)
        assert all(module_list[i] is modules[i] for i in range(len(modules)))

    check()
    modules += [nn.Conv2d(3, 4, 3)]
    module_list += [modules[-1]]
    check()
    modules = modules + [nn.Conv2d(3, 4, 3, bias=False), nn.ReLU()]
    module_list = module_list + nn.ModuleList(modules[-2:])
    assert type(module_list) is nn.ModuleList
    check()
    modules.insert(1, nn.Linear(3, 2))
    module_list.insert(1, modules[1])
    check()
    modules.append(nn.Flatten())
    module_list.append(modules[-1])
    check()
    next_modules = [nn.Linear(5, 5), nn.Dropout()]
    modules.extend(next_modules)
    module_list.extend(next_modules)
    check()
    modules[2] = nn.Conv2d(5, 3, 2)
    module_list[2] = modules[2]
    check()
    modules[-1] = nn.Conv2d(5, 2, 1)
    module_list[-1] = modules[-1]
    check()
    idx = torch.tensor(2, dtype=torch.int32)
    modules[2] = nn.Conv2d(5, 3, 2)
    module_list[idx] = modules[2]
    assert module_list[idx] is modules[2]
    check()
    for part in (slice(1, None), slice(3, None), slice(None, -1), slice(None, -3), slice(None, None, -1)):
        assert type(module_list[part]) is nn.ModuleList and same(module_list[part], modules[part])
    del module_list[-1]
    assert same(module_list, modules[:-1])
    del module_list[1::2]
    assert same(module_list, modules[:-1][0::2])
    with pytest.raises(TypeError):
        module_list += nn.ReLU()
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable, but got ReLU"):
        module_list.extend(nn.ReLU())


# mirrors test_nn.py::TestNN::test_ModuleList (pop and extend from modules())
def test_ModuleList_pop_and_extend(nn):
    modules = [nn.ReLU(), nn.Linear(5, 5), nn.Conv2d(3, 4, 3)]
    module_list = nn.ModuleList(modules)
    assert module_list.pop(1) is modules.pop(1)
    assert same(module_list, modules)
    assert all(module_list[k] is m for k, m in enumerate(module_list))
    s = nn.Sequential(OrderedDict([("layer1", nn.Linear(1, 2)), ("sub", nn.Sequential(nn.Linear(2, 2)))]))
    from_tree = nn.ModuleList()
    from_tree.extend(s.modules())
    assert same(from_tree, list(s.modules()))
    with pytest.raises(NotImplementedError):
        module_list(torch.rand(1, 3))


# mirrors test_nn.py::TestNN::test_ModuleDict
def test_ModuleDict(nn):
    modules = OrderedDict([("act", nn.ReLU()), ("conv", nn.Conv2d(10, 10, 5)), ("fc", nn.Linear(5, 5))])
    module_dict = nn.ModuleDict(modules)

    def check():
        assert len(module_dict) == len(modules)
        assert same(list(module_dict.children()), list(modules.values()))
        assert list(module_dict) == list(modules) == list(module_dict.keys())
        assert all(module_dict[k] is modules[k] for k in modules)
        assert all(modules[k] is v for k, v in module_dict.items())
        assert same(list(module_dict.values()), list(modules.values()))
        assert all(k in module_dict for k in modules)

    check()
    modules["conv"] = nn.Conv2d(3, 4, 3)
    module_dict["conv"] = modules["conv"]
    check()
    next_modules = [("fc2", nn.Linear(5, 5)), ("act", nn.Dropout())]
    modules.update(next_modules)
    module_dict.update(next_modules)
    check()
    next_modules = OrderedDict([("fc3", nn.Linear(5, 5)), ("act2", nn.Dropout())])
    modules.update(next_modules)
    module_dict.update(next_modules)
    check()
    next_modules = {"fc4": nn.Linear(5, 5), "act3": nn.Dropout()}
    modules.update(next_modules.items())
    module_dict.update(next_modules)  # a plain dict keeps its own order in a ModuleDict
    check()
    next_modules = nn.ModuleDict([("fc5", nn.Linear(5, 5)), ("act4", nn.Dropout())])
    modules.update(next_modules)
    module_dict.update(next_modules)
    check()
    del module_dict["fc"]
    del modules["fc"]
    check()
    with pytest.raises(TypeError, match="ModuleDict.update should be called with an iterable of "
                                        "key/value pairs, but got ReLU"):
        module_dict.update(nn.ReLU())
    with pytest.raises(TypeError, match="ModuleDict update sequence element #0 should be Iterable; isReLU"):
        module_dict.update([nn.ReLU()])
    with pytest.raises(ValueError, match="ModuleDict update sequence element #0 has length 1; 2 is required"):
        module_dict.update([[nn.ReLU()]])
    with pytest.raises(TypeError):
        module_dict[1] = nn.ReLU()
    check()
    module_dict = nn.ModuleDict(nn.Sequential(modules).named_children())
    check()
    assert module_dict.pop("conv") is modules.pop("conv")
    check()
    module_dict.clear()
    modules.clear()
    assert len(module_dict) == 0
    check()
    with pytest.raises(NotImplementedError):
        module_dict(torch.rand(1, 3))


# mirrors test_nn.py::TestNN::test_ParameterList
def test_ParameterList(nn):
    def make_param():
        return nn.Parameter(torch.randn(2, 2))

    parameters = [make_param(), make_param()]
    param_list = nn.ParameterList(parameters)

    def check():
        assert len(parameters) == len(param_list)
        assert same(param_list, parameters)
        assert same(list(param_list.parameters()), [p for p in parameters if isinstance(p, nn.Parameter)])
        assert all(param_list[i] is parameters[i] for i in range(len(parameters)))

    check()
    parameters += [make_param()]
    param_list += [parameters[-1]]
    check()
    parameters.append(make_param())
    param_list.append(parameters[-1])
    check()
    next_params = [make_param(), make_param()]
    parameters.extend(next_params)
    param_list.extend(next_params)
    check()
    parameters[2] = make_param()
    param_list[2] = parameters[2]
    check()
    parameters[-1] = make_param()
    param_list[-1] = parameters[-1]
    check()
    idx = torch.tensor(2, dtype=torch.int32)
    parameters[2] = make_param()
    param_list[idx] = parameters[2]
    assert param_list[idx] is parameters[2]
    check()
    for part in (slice(1, None), slice(3, None), slice(None, -1), slice(None, -3), slice(None, None, -1)):
        assert type(param_list[part]) is nn.ParameterList and same(param_list[part], parameters[part])
    with pytest.raises(TypeError):
        param_list += make_param()
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable, but got Parameter"):
        param_list.extend(make_param())
    s = nn.Sequential(nn.Linear(1, 2), nn.Sequential(nn.Linear(2, 3)))
    parameters = list(s.parameters())
    param_list = nn.ParameterList()
    param_list.extend(s.parameters())
    check()
    param_list.append(torch.rand(2, 2))
    assert isinstance(param_list[-1], nn.Parameter)
    parameters.append(param_list[-1])
    param_list.extend([torch.rand(2, 2), "foo"])
    assert isinstance(param_list[-2], nn.Parameter) and param_list[-1] == "foo"
    parameters.extend(param_list[-2:])
    param_list += ["bar", torch.rand(2, 2)]
    assert param_list[-2] == "bar" and isinstance(param_list[-1], nn.Parameter)
    parameters += param_list[-2:]
    check()


# mirrors test_nn.py::TestNN::test_ParameterList_meta
def test_ParameterList_repr_of_a_meta_parameter(nn):
    p = nn.Parameter(torch.empty(1, device="meta"))
    assert str(p) == ("Parameter containing:\n"
                      "tensor(..., device='meta', size=(1,), requires_grad=True)")
    assert str(nn.ParameterList([p])) == ("ParameterList(  (0): Parameter containing: "
                                          "[torch.float32 of size 1])")


# mirrors test_nn.py::TestNN::test_parameterlistdict_setting_attributes
def test_parameter_containers_build_and_switch_mode_without_warnings(nn, recwarn):
    plist = nn.ParameterList(map(nn.Parameter, [torch.rand(2), torch.rand(2)]))
    plist.train()
    plist.eval()
    pdict = nn.ParameterDict({"a": nn.Parameter(torch.rand(2)), "b": nn.Parameter(torch.rand(2))})
    pdict.train()
    pdict.eval()
    assert len(recwarn) == 0
    assert not plist.training and not pdict.training


def pdict_of(nn, *names):
    return OrderedDict((name, nn.Parameter(torch.randn(10, 10))) for name in names)


def check_pdict(parameters, parameter_dict):
    """test_ParameterDict's check(): same keys, order and objects through every view."""
    assert len(parameter_dict) == len(parameters)
    named = list(parameter_dict.named_parameters())
    tensors = {k: v for k, v in parameters.items() if isinstance(v, torch.Tensor)}
    assert [k for k, _ in named] == list(tensors)
    assert all(tensors[k] is v for k, v in named)
    assert list(parameter_dict) == list(parameters) == list(parameter_dict.keys())
    assert all(parameter_dict[k] is parameters[k] for k in parameters)
    assert all(parameters[k] is v for k, v in parameter_dict.items())
    assert all(a is b for a, b in zip(parameter_dict.values(), parameters.values()))
    assert all(k in parameter_dict for k in parameters)


# mirrors test_nn.py::TestNN::test_ParameterDict (setting, update in all its forms, deleting)
def test_ParameterDict_update(nn):
    parameters = pdict_of(nn, "p1", "p2", "p3")
    parameter_dict = nn.ParameterDict(parameters)
    check_pdict(parameters, parameter_dict)
    parameters["p4"] = nn.Parameter(torch.randn(10, 10))
    parameter_dict["p4"] = parameters["p4"]
    check_pdict(parameters, parameter_dict)
    next_parameters = list(pdict_of(nn, "p5", "p2").items())
    parameters.update(next_parameters)
    parameter_dict.update(next_parameters)
    check_pdict(parameters, parameter_dict)
    next_parameters = pdict_of(nn, "p6", "p5")
    parameters.update(next_parameters)
    parameter_dict.update(next_parameters)
    check_pdict(parameters, parameter_dict)
    next_parameters = dict(pdict_of(nn, "p8", "p7"))
    parameters.update(sorted(next_parameters.items()))  # a plain dict is added in key order
    parameter_dict.update(next_parameters)
    check_pdict(parameters, parameter_dict)
    next_parameters = nn.ParameterDict(list(pdict_of(nn, "p10", "p9").items()))
    parameters.update(next_parameters)
    parameter_dict.update(next_parameters)
    check_pdict(parameters, parameter_dict)
    del parameter_dict["p3"]
    del parameters["p3"]
    check_pdict(parameters, parameter_dict)
    with pytest.raises(TypeError, match="ParametersDict.update should be called with an iterable of "
                                        "key/value pairs, but got int"):
        parameter_dict.update(1)
    with pytest.raises(TypeError, match="ParameterDict update sequence element #0 should be Iterable; isint"):
        parameter_dict.update([1])
    with pytest.raises(ValueError, match="ParameterDict update sequence element #0 has length 10; 2 is required"):
        parameter_dict.update(nn.Parameter(torch.randn(10, 10)))
    check_pdict(parameters, parameter_dict)


# mirrors test_nn.py::TestNN::test_ParameterDict (pop, reversed, copy, popitem)
def test_ParameterDict_pop_reversed_copy_popitem(nn):
    parameters = pdict_of(nn, "p1", "p2", "p3", "p4")
    parameter_dict = nn.ParameterDict(parameters)
    assert parameter_dict.pop("p4") is parameters.pop("p4")
    check_pdict(parameters, parameter_dict)
    assert list(reversed(parameter_dict)) == ["p3", "p2", "p1"]
    copy = parameter_dict.copy()
    assert type(copy) is nn.ParameterDict and copy is not parameter_dict
    check_pdict(parameters, copy)
    parameter_dict["p20"] = nn.Parameter(torch.randn(10, 10))
    copy["p21"] = nn.Parameter(torch.randn(9, 10))
    assert "p20" in parameter_dict and "p20" not in copy
    assert "p21" not in parameter_dict and "p21" in copy
    parameter_dict.pop("p20")
    check_pdict(parameters, parameter_dict)
    p = nn.Parameter(torch.randn(10, 10))
    parameter_dict["p12"] = p
    key, value = parameter_dict.popitem()
    assert key == "p12" and value is p
    check_pdict(parameters, parameter_dict)
    with pytest.raises(KeyError):
        nn.ParameterDict().popitem()


# mirrors test_nn.py::TestNN::test_ParameterDict (setdefault, get)
def test_ParameterDict_setdefault_and_get(nn):
    parameters = pdict_of(nn, "p1")
    parameter_dict = nn.ParameterDict(parameters)
    parameters["p11"] = nn.Parameter(torch.randn(10, 10))
    assert parameter_dict.setdefault("p11", parameters["p11"]) is parameters["p11"]
    assert parameter_dict["p11"] is parameters["p11"]
    check_pdict(parameters, parameter_dict)
    other = nn.Parameter(torch.randn(10, 10))
    assert parameter_dict.setdefault("p11", other) is parameters["p11"]
    check_pdict(parameters, parameter_dict)
    assert parameter_dict.setdefault("p26") is None
    del parameter_dict["p26"]
    check_pdict(parameters, parameter_dict)
    temp = nn.Parameter(torch.randn(10, 10))
    assert parameter_dict.get("p11") is parameters["p11"]
    assert parameter_dict.get("p11", temp) is parameters["p11"]
    assert parameter_dict.get("p18") is None
    assert parameter_dict.get("p18", temp) is temp


# mirrors test_nn.py::TestNN::test_ParameterDict (|=, | and the reflected |)
def test_ParameterDict_or_operators(nn):
    parameters = pdict_of(nn, "p1", "p2")
    parameter_dict = nn.ParameterDict(parameters)
    second = pdict_of(nn, "p13", "p2", "p3")
    parameters.update(second)
    before = parameter_dict
    parameter_dict |= nn.ParameterDict(second)
    assert parameter_dict is before
    check_pdict(parameters, parameter_dict)
    parameter_dict |= nn.ParameterDict(OrderedDict())
    check_pdict(parameters, parameter_dict)
    third = pdict_of(nn, "p20", "p21")
    parameters.update(third)
    merged = parameter_dict | nn.ParameterDict(third)
    assert merged is not parameter_dict and "p20" not in parameter_dict
    check_pdict(parameters, merged)
    fourth = pdict_of(nn, "p23", "p24")
    fourth.update(parameters)
    reflected = nn.ParameterDict(pdict_of(nn, "p23", "p24")) | merged
    assert list(reflected) == list(fourth)
    assert all(reflected[k] is merged[k] for k in merged)


# mirrors test_nn.py::TestNN::test_ParameterDict (clear, fromkeys, wrapping plain tensors)
def test_ParameterDict_clear_fromkeys_and_wrapping(nn):
    parameter_dict = nn.ParameterDict(pdict_of(nn, "p1", "p2"))
    parameter_dict.clear()
    assert len(parameter_dict) == 0 and list(parameter_dict.parameters()) == []
    temp = nn.Parameter(torch.randn(10, 10))
    empty = parameter_dict.fromkeys(["p19", "p20"])
    assert type(empty) is nn.ParameterDict and dict(empty.items()) == {"p19": None, "p20": None}
    filled = parameter_dict.fromkeys(["p19", "p20"], temp)
    assert list(filled) == ["p19", "p20"] and filled["p19"] is temp and filled["p20"] is temp
    assert len(parameter_dict) == 0
    parameter_dict["p21"] = torch.rand(2, 2)
    assert isinstance(parameter_dict["p21"], nn.Parameter)
    parameter_dict.update({"p22": torch.rand(2, 2), "foo": "bar"})
    assert isinstance(parameter_dict["p22"], nn.Parameter) and parameter_dict["foo"] == "bar"
    assert list(parameter_dict) == ["p21", "foo", "p22"]
    with pytest.raises(TypeError, match="Index given to ParameterDict cannot be used as a key as it is "
                                        "not a string \\(type is 'int'\\)"):
        parameter_dict[1]


# ParameterList / ParameterDict refuse to be called (container.py, kept by test_nn's containers)
def test_parameter_containers_are_not_callable(nn):
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        nn.ParameterList()(1)
    with pytest.raises(RuntimeError, match="ParameterDict should not be called."):
        nn.ParameterDict()(1)


# mirrors test_nn.py::TestNN::test_container_copy
def test_deepcopy_of_a_module_is_independent(nn):
    import copy

    model = nn.Sequential(nn.Linear(4, 5))
    x = torch.randn(2, 4)
    twin = copy.deepcopy(model)
    assert torch.equal(model(x), twin(x))
    twin[0].weight.data[:] = 2
    assert not torch.equal(model(x), twin(x))
    assert type(twin[0].weight) is type(model[0].weight)


# container.py's ParameterList / ParameterDict extra_repr: tensors by dtype and size, other
# objects by type (ParameterList names the dtype, ParameterDict the tensor type)
def test_parameter_container_reprs(nn):
    assert repr(nn.ParameterList([torch.zeros(2, 3), "x"])) == (
        "ParameterList(\n"
        "    (0): Parameter containing: [torch.float32 of size 2x3]\n"
        "    (1): Object of type: str\n)")
    assert repr(nn.ParameterDict({"a": torch.zeros(2), "b": 3})) == (
        "ParameterDict(\n"
        "    (a): Parameter containing: [torch.FloatTensor of size 2]\n"
        "    (b): Object of type: int\n)")
