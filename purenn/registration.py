"""Generated from chapters/02_registration.ipynb and chapters/02b_containers.ipynb — edit the chapter, then run `make export`."""
__all__ = ['Module', 'Sequential', 'ModuleList', 'ModuleDict', 'ParameterList', 'ParameterDict', 'Linear', 'Conv2d', 'BatchNorm1d', 'BatchNorm2d', 'Embedding', 'ReLU', 'Flatten', 'Dropout']


# %% chapters/02_registration.ipynb, cell 51
import inspect
import itertools
import operator
from collections import OrderedDict
from collections import abc as container_abcs

import torch

from purenn.parameter import Buffer, Parameter, add_to_class


def _addindent(text: str, spaces: int) -> str:
    """Indent every line but the first (blank lines stay empty), as torch's repr does."""
    first, *rest = text.split("\n")
    if not rest:
        return text
    return "\n".join([first] + [" " * spaces + line if line.strip() else "" for line in rest])


def _forward_unimplemented(self, *input):
    raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')


# %% chapters/02_registration.ipynb, cell 53
class Module:
    """Base class of every purenn layer: torch.nn.Module's parameter management, rebuilt."""

    training: bool
    _version: int = 1
    forward = _forward_unimplemented

    def __init__(self, *args, **kwargs) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword "
                            f"argument '{next(iter(kwargs))}'")
        if args:
            raise TypeError(f"{type(self).__name__}.__init__() takes 1 positional argument "
                            f"but {len(args) + 1} were given")
        super().__setattr__("training", True)
        super().__setattr__("_parameters", {})
        super().__setattr__("_buffers", {})
        super().__setattr__("_non_persistent_buffers_set", set())
        super().__setattr__("_modules", {})

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def __getattr__(self, name: str):
        # reads the dicts through self.__dict__, so it never calls itself on a half-built object
        for store in ("_parameters", "_buffers", "_modules"):
            if store in self.__dict__:
                values = self.__dict__[store]
                if name in values:
                    return values[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            super().__delattr__(name)

    def __dir__(self) -> list[str]:
        keys = (dir(self.__class__) + list(self.__dict__) + list(self._parameters)
                + list(self._modules) + list(self._buffers))
        return sorted(key for key in keys if not key[0].isdigit())


# %% chapters/02_registration.ipynb, cell 55
def _check_name(module: Module, kind: str, name, store: str) -> None:
    """torch's checks of a new parameter or buffer name, in torch's order and words."""
    if store not in module.__dict__:
        raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {torch.typename(name)}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain "."')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if hasattr(module, name) and name not in module.__dict__[store]:
        raise KeyError(f"attribute '{name}' already exists")


@add_to_class(Module)
def register_parameter(self, name: str, param: Parameter | None) -> None:
    """Add `param` (or a None placeholder) to `_parameters` under `name`."""
    _check_name(self, "parameter", name, "_parameters")
    if param is None:
        self._parameters[name] = None
    elif not isinstance(param, Parameter):
        raise TypeError(f"cannot assign '{torch.typename(param)}' object to parameter '{name}' "
                        "(torch.nn.Parameter or None required)")
    elif param.grad_fn:
        raise ValueError(
            f"Cannot assign non-leaf Tensor to parameter '{name}'. Model "
            f"parameters must be created explicitly. To express '{name}' "
            "as a function of another Tensor, compute the value in "
            "the forward() method.")
    else:
        self._parameters[name] = param


@add_to_class(Module)
def register_buffer(self, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None:
    """Add `tensor` to `_buffers`; non-persistent buffers stay out of state_dict()."""
    _check_name(self, "buffer", name, "_buffers")
    if tensor is not None and not (isinstance(tensor, torch.Tensor)
                                     or hasattr(tensor, "__torch_function__")):
        raise TypeError(f"cannot assign '{torch.typename(tensor)}' object to buffer '{name}' "
                        "(torch Tensor or None required)")
    self._buffers[name] = tensor
    if persistent:
        self._non_persistent_buffers_set.discard(name)
    else:
        self._non_persistent_buffers_set.add(name)


@add_to_class(Module)
def add_module(self, name: str, module: "Module | None") -> None:
    """Add a child module to `_modules` under `name`."""
    if not isinstance(module, Module) and module is not None:
        raise TypeError(f"{torch.typename(module)} is not a Module subclass")
    elif not isinstance(name, str):
        raise TypeError(f"module name should be a string. Got {torch.typename(name)}")
    elif hasattr(self, name) and name not in self._modules:
        raise KeyError(f"attribute '{name}' already exists")
    elif "." in name:
        raise KeyError(f'module name can\'t contain ".", got: {name}')
    elif name == "":
        raise KeyError('module name can\'t be empty string ""')
    self._modules[name] = module


Module.register_module = Module.add_module


# %% chapters/02_registration.ipynb, cell 57
def _remove_from(name: str, *stores) -> None:
    for store in stores:
        if name in store:
            if isinstance(store, dict):
                del store[name]
            else:
                store.discard(name)


def _register_buffer_compat(module: Module, name: str, value, persistent: bool) -> None:
    """Call register_buffer, leaving `persistent` out for a subclass override that lacks it."""
    if getattr(module.register_buffer, "__func__", None) is Module.register_buffer or (
            "persistent" in inspect.signature(module.register_buffer).parameters):
        module.register_buffer(name, value, persistent)
    elif not persistent:
        raise RuntimeError("Registering a non-persistent buffer on a Module subclass that implements "
                           "register_buffer() without the persistent argument is not allowed.")
    else:
        module.register_buffer(name, value)


@add_to_class(Module)
def __setattr__(self, name: str, value) -> None:
    params = self.__dict__.get("_parameters")
    if isinstance(value, Parameter):
        if params is None:
            raise AttributeError("cannot assign parameters before Module.__init__() call")
        _remove_from(name, self.__dict__, self._buffers, self._modules, self._non_persistent_buffers_set)
        self.register_parameter(name, value)
    elif params is not None and name in params:
        if value is not None:
            raise TypeError(f"cannot assign '{torch.typename(value)}' as parameter '{name}' "
                            "(torch.nn.Parameter or None expected)")
        self.register_parameter(name, value)
    else:
        modules = self.__dict__.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            _remove_from(name, self.__dict__, self._parameters, self._buffers,
                         self._non_persistent_buffers_set)
            modules[name] = value
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{torch.typename(value)}' as child module '{name}' "
                                "(torch.nn.Module or None expected)")
            modules[name] = value
        else:
            buffers = self.__dict__.get("_buffers")
            if isinstance(value, Buffer) or buffers is not None and name in buffers:
                if value is not None and not (isinstance(value, torch.Tensor)
                                              or hasattr(value, "__torch_function__")):
                    raise TypeError(f"cannot assign '{torch.typename(value)}' as buffer '{name}' "
                                    "(torch.nn.Buffer, torch.Tensor or None expected)")
                if isinstance(value, Buffer):
                    persistent = value.persistent
                else:
                    persistent = name not in self._non_persistent_buffers_set
                _register_buffer_compat(self, name, value, persistent)
            else:
                super(Module, self).__setattr__(name, value)


# %% chapters/02_registration.ipynb, cell 59
@add_to_class(Module)
def _get_name(self) -> str:
    return self.__class__.__name__


@add_to_class(Module)
def extra_repr(self) -> str:
    """One line (or several) of constructor arguments; override in your own modules."""
    return ""


@add_to_class(Module)
def __repr__(self) -> str:
    extra_lines = self.extra_repr().split("\n") if self.extra_repr() else []
    child_lines = [f"({key}): {_addindent(repr(module), 2)}" for key, module in self._modules.items()]
    lines = extra_lines + child_lines
    main = self._get_name() + "("
    if lines:
        if len(extra_lines) == 1 and not child_lines:
            main += extra_lines[0]
        else:
            main += "\n  " + "\n  ".join(lines) + "\n"
    return main + ")"


# %% chapters/02b_containers.ipynb, cell 11
def _abs_index(container, idx) -> int:
    """Turn a possibly negative index into an absolute one, with torch's IndexError."""
    idx = operator.index(idx)
    if not -len(container) <= idx < len(container):
        raise IndexError(f"index {idx} is out of range")
    return idx % len(container) if len(container) else idx


def _renumber(container) -> None:
    values = list(container._modules.values())
    container._modules = OrderedDict((str(i), module) for i, module in enumerate(values))


def _pop(container, key):
    """Remove the entry at `key` (index, slice or dict key) and return it."""
    value = container[key]
    del container[key]
    return value


def _repeat_factor(seq, times) -> int:
    """torch's checks of the factor in `seq * times`."""
    if not isinstance(times, int):
        raise TypeError(f"unsupported operand type(s) for *: {type(seq)} and {type(times)}")
    if times <= 0:
        raise ValueError(f"Non-positive multiplication factor {times} for {type(seq)}")
    return times


def _only_sequential(other) -> None:
    if not isinstance(other, Sequential):
        raise ValueError("add operator supports only objects of Sequential class, "
                         f"but {type(other)} is given.")


class Sequential(Module):
    """Children called in order; built from modules or an OrderedDict of them."""

    def __init__(self, *args) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_abs_index(self, idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, list(self._modules)[_abs_index(self, idx)], module)

    def __delitem__(self, idx) -> None:
        keys = list(self._modules)
        for key in (keys[idx] if isinstance(idx, slice) else [keys[_abs_index(self, idx)]]):
            delattr(self, key)
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __dir__(self) -> list[str]:
        return [key for key in super().__dir__() if not key.isdigit()]

    pop = _pop

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> "Sequential":
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> "Sequential":
        """Put `module` at `index`, shifting the children from there one place up."""
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        index = index + n if index < 0 else index
        for i in range(n, index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module
        return self

    def __add__(self, other) -> "Sequential":
        _only_sequential(other)
        return Sequential().extend(self).extend(other)

    def __iadd__(self, other) -> "Sequential":
        _only_sequential(other)
        return self.extend(list(other))

    def __mul__(self, times: int) -> "Sequential":
        return Sequential().extend(list(self) * _repeat_factor(self, times))

    __rmul__ = __mul__

    def __imul__(self, times: int) -> "Sequential":
        return self.extend(list(self) * (_repeat_factor(self, times) - 1))

    def forward(self, input):
        for module in self:
            input = module(input)
        return input


# %% chapters/02b_containers.ipynb, cell 12
class ModuleList(Module):
    """A list of modules, registered under "0", "1", ...; it has no forward of its own."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self += modules

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[str(_abs_index(self, idx))]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, str(_abs_index(self, idx)), module)

    def __delitem__(self, idx) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, str(_abs_index(self, idx)))
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules) -> "ModuleList":
        return self.extend(modules)

    def __add__(self, other) -> "ModuleList":
        return ModuleList(itertools.chain(self, other))

    pop = _pop

    def __dir__(self) -> list[str]:
        return [key for key in super().__dir__() if not key.isdigit()]

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> "ModuleList":
        if not isinstance(modules, container_abcs.Iterable):
            raise TypeError("ModuleList.extend should be called with an iterable, but got "
                            + type(modules).__name__)
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self

    def insert(self, index: int, module: Module) -> None:
        for i in range(len(self._modules), index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module

    def __repr__(self) -> str:
        """Fold runs of identical children into "(0-2): 3 x Child(...)", as torch does."""
        reprs = [repr(module) for module in self]
        if not reprs:
            return self._get_name() + "()"
        lines, start = [], 0
        for text, run in itertools.groupby(reprs):
            n = len(list(run))
            head = f"({start}): " if n == 1 else f"({start}-{start + n - 1}): {n} x "
            lines.append(_addindent(head + text, 2))
            start += n
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


# %% chapters/02b_containers.ipynb, cell 13
class _Keyed:
    """len, iteration, `in` and keys() of a dict-like container, over its ordered keys."""

    def _ordered_keys(self) -> dict:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._ordered_keys())

    def __iter__(self):
        return iter(self._ordered_keys())

    def __contains__(self, key: str) -> bool:
        return key in self._ordered_keys()

    def keys(self):
        return self._ordered_keys().keys()


def _key_value_pairs(pairs, caller: str, kind: str):
    """Check an iterable of (key, value) pairs as torch's update() does, then yield them."""
    if not isinstance(pairs, container_abcs.Iterable):
        raise TypeError(f"{caller}.update should be called with an iterable of key/value pairs, "
                        f"but got {type(pairs).__name__}")
    for j, pair in enumerate(pairs):
        if not isinstance(pair, container_abcs.Iterable):
            raise TypeError(f"{kind} update sequence element #{j} should be Iterable; is"
                            + type(pair).__name__)
        if len(pair) != 2:
            raise ValueError(f"{kind} update sequence element #{j} has length {len(pair)}; 2 is required")
        yield pair[0], pair[1]


class ModuleDict(_Keyed, Module):
    """A dict of modules; keys keep their insertion order."""

    def _ordered_keys(self) -> dict:
        return self._modules

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def clear(self) -> None:
        self._modules.clear()

    pop = _pop

    def update(self, modules) -> None:
        if isinstance(modules, (container_abcs.Mapping, ModuleDict)):
            pairs = modules.items()
        else:
            pairs = _key_value_pairs(modules, "ModuleDict", "ModuleDict")
        for key, module in pairs:
            self[key] = module


# %% chapters/02b_containers.ipynb, cell 15
def _describe_entry(key, value, dtype_name) -> str:
    if isinstance(value, torch.Tensor):
        kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
        size = "x".join(str(s) for s in value.size())
        return f"  ({key}): {kind} containing: [{dtype_name(value)} of size {size}]"
    return f"  ({key}): Object of type: {type(value).__name__}"


class ParameterList(Module):
    """A list of parameters registered under "0", "1", ...; tensors are wrapped into Parameters."""

    def __init__(self, values=None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            out = self.__class__()
            for i in range(*idx.indices(len(self))):
                out.append(self[i])
            return out
        return getattr(self, str(_abs_index(self, idx)))

    def __setitem__(self, idx: int, param) -> None:
        idx = _abs_index(self, idx)
        if isinstance(param, torch.Tensor) and not isinstance(param, Parameter):
            param = Parameter(param)
        setattr(self, str(idx), param)

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return iter(self[i] for i in range(len(self)))

    def __iadd__(self, values) -> "ParameterList":
        return self.extend(values)

    def __dir__(self) -> list[str]:
        return [key for key in super().__dir__() if not key.isdigit()]

    def append(self, value) -> "ParameterList":
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values) -> "ParameterList":
        if not isinstance(values, container_abcs.Iterable) or isinstance(values, torch.Tensor):
            raise TypeError("ParameterList.extend should be called with an iterable, but got "
                            + type(values).__name__)
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(_describe_entry(k, p, lambda t: t.dtype) for k, p in enumerate(self))

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(_Keyed, Module):
    """A dict of parameters; tensors are wrapped into Parameters."""

    def _ordered_keys(self) -> dict:
        return self._keys

    def __init__(self, parameters=None) -> None:
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    def _key_to_attr(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError("Index given to ParameterDict cannot be used as a key as it is not a "
                            f"string (type is '{type(key).__name__}'). Open an issue on github if "
                            "you need non-string keys.")
        return key

    def __getitem__(self, key: str):
        return getattr(self, self._key_to_attr(key))

    def __setitem__(self, key: str, value) -> None:
        self._keys[key] = None
        attr = self._key_to_attr(key)
        if isinstance(value, torch.Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, attr, value)

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, self._key_to_attr(key))

    def items(self):
        return ((k, self[k]) for k in self._keys)

    def values(self):
        return (self[k] for k in self._keys)

    def update(self, parameters) -> None:
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs = parameters.items()
        elif isinstance(parameters, container_abcs.Mapping):
            pairs = sorted(parameters.items())
        else:
            pairs = _key_value_pairs(parameters, "ParametersDict", "ParameterDict")
        for key, value in pairs:
            self[key] = value

    def __reversed__(self):
        return reversed(self._keys)

    def copy(self) -> "ParameterDict":
        """A new ParameterDict holding the same parameters (not copies of them), in order."""
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    pop = _pop

    def get(self, key: str, default=None):
        return self[key] if key in self else default

    def setdefault(self, key: str, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def popitem(self) -> tuple:
        """Remove and return the last inserted (key, parameter) pair."""
        if not self._keys:
            raise KeyError("popitem(): dictionary is empty")
        key = next(reversed(self._keys))
        return key, _pop(self, key)

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def fromkeys(self, keys, default=None) -> "ParameterDict":
        return ParameterDict((key, default) for key in keys)

    def __or__(self, other: "ParameterDict") -> "ParameterDict":
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: "ParameterDict") -> "ParameterDict":
        merged = other.copy()
        merged.update(self)
        return merged

    def __ior__(self, other: "ParameterDict") -> "ParameterDict":
        self.update(other)
        return self

    def extra_repr(self) -> str:
        return "\n".join(_describe_entry(k, p, torch.typename) for k, p in self.items())

    def __call__(self, input):
        raise RuntimeError("ParameterDict should not be called.")


# %% chapters/02b_containers.ipynb, cell 21
import math

import torch.nn.functional as F
from torch.nn import init


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _weight_and_bias(module: Module, shape: tuple, bias: bool, device, dtype) -> None:
    """Register `weight` of `shape` and `bias` of shape[0] (or a None bias), uninitialised."""
    module.weight = Parameter(torch.empty(shape, device=device, dtype=dtype))
    if bias:
        module.bias = Parameter(torch.empty(shape[0], device=device, dtype=dtype))
    else:
        module.register_parameter("bias", None)


def _fan_in_uniform_(module: Module) -> None:
    """torch's default for Linear and Conv: kaiming_uniform_(a=sqrt(5)), bias U(+-1/sqrt(fan_in))."""
    init.kaiming_uniform_(module.weight, a=math.sqrt(5))
    if module.bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(module.weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(module.bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b, with weight [out_features, in_features]."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        _weight_and_bias(self, (out_features, in_features), bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _fan_in_uniform_(self)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _check_conv_args(in_channels, out_channels, stride, padding, groups, padding_mode) -> None:
    """torch's constructor checks of a convolution, in torch's order and words."""
    if groups <= 0:
        raise ValueError("groups must be a positive integer")
    if in_channels % groups != 0:
        raise ValueError("in_channels must be divisible by groups")
    if out_channels % groups != 0:
        raise ValueError("out_channels must be divisible by groups")
    if isinstance(padding, str):
        strings = {"same", "valid"}  # a set, printed in the same order as torch prints its own
        if padding not in strings:
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {strings}")
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
    modes = {"zeros", "reflect", "replicate", "circular"}
    if padding_mode not in modes:
        raise ValueError(f"padding_mode must be one of {modes}, but got padding_mode='{padding_mode}'")


def _pads_for_f_pad(padding, kernel_size: tuple, dilation: tuple) -> list[int]:
    """The padding as F.pad wants it (last dimension first, each side): [left, right, top, bottom].
    'same' splits d*(k-1) with the extra element on the right/bottom; 'valid' is no padding."""
    if padding == "valid":
        return [0, 0] * len(kernel_size)
    if padding == "same":
        totals = [d * (k - 1) for d, k in zip(dilation, kernel_size)]
        return [side for total in reversed(totals) for side in (total // 2, total - total // 2)]
    return [p for p in reversed(padding) for _ in range(2)]


class Conv2d(Module):
    """2-D convolution, weight [out_channels, in_channels / groups, kH, kW]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__()
        stride = _pair(stride)
        _check_conv_args(in_channels, out_channels, stride, padding, groups, padding_mode)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _pair(kernel_size), stride
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.dilation, self.padding_mode = _pair(dilation), padding_mode
        self._reversed_padding_repeated_twice = _pads_for_f_pad(self.padding, self.kernel_size, self.dilation)
        _weight_and_bias(self, (out_channels, in_channels // groups, *self.kernel_size), bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _fan_in_uniform_(self)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.padding_mode == "zeros":
            return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
        return F.conv2d(padded, self.weight, self.bias, self.stride, (0, 0), self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        s += ", bias=False" if self.bias is None else ""
        return s + (f", padding_mode={self.padding_mode}" if self.padding_mode != "zeros" else "")


# %% chapters/02b_containers.ipynb, cell 23
class _BatchNorm(Module):
    """Normalise over the batch; learnable weight/bias, running statistics as buffers."""

    _version = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 *, bias: bool = True) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        factory = {"device": device, "dtype": dtype}
        if affine:
            self.weight = Parameter(torch.empty(num_features, **factory))
            if bias:
                self.bias = Parameter(torch.empty(num_features, **factory))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Back to the statistics of no batch: mean 0, variance 1, no batch counted."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: torch.Tensor) -> None:
        raise NotImplementedError

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        tracked = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if tracked else None,
                            self.running_var if tracked else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """BatchNorm over (N, C) or (N, C, L) inputs."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    """BatchNorm over (N, C, H, W) inputs."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


# %% chapters/02b_containers.ipynb, cell 24
class Embedding(Module):
    """A lookup table of num_embeddings vectors; the padding_idx row starts at zero."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if padding_idx > 0 and padding_idx >= num_embeddings or padding_idx < -num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            if padding_idx < 0:
                padding_idx += num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(torch.empty((num_embeddings, embedding_dim), device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with torch.no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class ReLU(Module):
    """max(x, 0), elementwise."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Flatten(Module):
    """Flatten dims start_dim..end_dim into one."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Zero each element with probability p in training mode, scaling the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
