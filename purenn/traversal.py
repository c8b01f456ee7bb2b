"""Generated from chapters/03_traversal.ipynb — edit the chapter, then run `make export`."""
__all__ = []


# %% chapters/03_traversal.ipynb, cell 55
import warnings

import torch

from purenn.parameter import Parameter, add_to_class
from purenn.registration import Module


@add_to_class(Module)
def named_children(self):
    """Direct children as (name, module), skipping None and repeats of the same object."""
    memo = set()
    for name, module in self._modules.items():
        if module is not None and module not in memo:
            memo.add(module)
            yield name, module


@add_to_class(Module)
def children(self):
    for _, module in self.named_children():
        yield module


@add_to_class(Module)
def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
    """Every module of the tree, parent before children, each once unless remove_duplicate=False."""
    if memo is None:
        memo = set()
    if self not in memo:
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)


@add_to_class(Module)
def modules(self, remove_duplicate: bool = True):
    for _, module in self.named_modules(remove_duplicate=remove_duplicate):
        yield module


# %% chapters/03_traversal.ipynb, cell 56
@add_to_class(Module)
def _named_members(self, get_members, prefix: str = "", recurse: bool = True,
                   remove_duplicate: bool = True):
    """(dotted name, member) for each module's own members, skipping None and repeats."""
    memo = set()
    modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
    for module_prefix, module in modules:
        for name, value in get_members(module):
            if value is None or value in memo:
                continue
            if remove_duplicate:
                memo.add(value)
            yield module_prefix + ("." if module_prefix else "") + name, value


@add_to_class(Module)
def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
    yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)


@add_to_class(Module)
def parameters(self, recurse: bool = True):
    for _, param in self.named_parameters(recurse=recurse):
        yield param


@add_to_class(Module)
def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
    yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)


@add_to_class(Module)
def buffers(self, recurse: bool = True):
    for _, buf in self.named_buffers(recurse=recurse):
        yield buf


# %% chapters/03_traversal.ipynb, cell 57
@add_to_class(Module)
def get_submodule(self, target: str) -> Module:
    """The module at dotted path `target` ("" is self)."""
    if target == "":
        return self
    module = self
    for item in target.split("."):
        if not hasattr(module, item):
            raise AttributeError(module._get_name() + " has no attribute `" + item + "`")
        module = getattr(module, item)
        if not isinstance(module, Module):
            raise AttributeError("`" + item + "` is not an nn.Module")
    return module


@add_to_class(Module)
def get_parameter(self, target: str) -> Parameter:
    module_path, _, name = target.rpartition(".")
    module = self.get_submodule(module_path)
    if not hasattr(module, name):
        raise AttributeError(module._get_name() + " has no attribute `" + name + "`")
    param = getattr(module, name)
    if not isinstance(param, Parameter):
        raise AttributeError("`" + name + "` is not an nn.Parameter")
    return param


@add_to_class(Module)
def get_buffer(self, target: str) -> torch.Tensor:
    module_path, _, name = target.rpartition(".")
    module = self.get_submodule(module_path)
    if not hasattr(module, name):
        raise AttributeError(module._get_name() + " has no attribute `" + name + "`")
    if name not in module._buffers:
        raise AttributeError("`" + name + "` is not a buffer")
    return getattr(module, name)


# %% chapters/03_traversal.ipynb, cell 59
@add_to_class(Module)
def apply(self, fn):
    """Call fn on every module of the tree, children first; return self."""
    for module in self.children():
        module.apply(fn)
    fn(self)
    return self


@add_to_class(Module)
def _apply(self, fn, recurse: bool = True):
    """Apply fn to every tensor: Parameters stay the same objects when compatible; buffers are replaced."""
    if recurse:
        for module in self.children():
            module._apply(fn)
    for key, param in self._parameters.items():
        if param is None:
            continue
        with torch.no_grad():
            applied = fn(param)
        if torch._has_compatible_shallow_copy_type(param, applied):
            param.data = applied
            out = param
        else:
            out = Parameter(applied, param.requires_grad)
            self._parameters[key] = out
        if param.grad is not None:
            with torch.no_grad():
                grad = fn(param.grad)
            if torch._has_compatible_shallow_copy_type(param.grad, grad):
                out.grad.data = grad
            else:
                out.grad = grad.requires_grad_(param.grad.requires_grad)
    for key, buf in self._buffers.items():
        if buf is not None:
            self._buffers[key] = fn(buf)
    return self


# %% chapters/03_traversal.ipynb, cell 60
def _cast_floating(dtype):
    return lambda t: t.to(dtype) if t.is_floating_point() else t


_COMPLEX_WARNING = (
    "Complex modules are a new feature under active development whose design may change, and some "
    "modules might not work as expected when using complex tensors as parameters or buffers. Please "
    "file an issue at https://github.com/pytorch/pytorch/issues/new?template=bug-report.yml if a "
    "complex module does not work as expected.")


@add_to_class(Module)
def to(self, *args, **kwargs):
    """Move and/or cast parameters and buffers; only floating-point tensors change dtype."""
    device, dtype, non_blocking, memory_format = torch._C._nn._parse_to(*args, **kwargs)
    if dtype is not None and not (dtype.is_floating_point or dtype.is_complex):
        raise TypeError("nn.Module.to only accepts floating point or complex "
                        f"dtypes, but got desired dtype={dtype}")
    if dtype is not None and dtype.is_complex:
        warnings.warn(_COMPLEX_WARNING, stacklevel=2)

    def convert(t):
        cast = dtype if t.is_floating_point() or t.is_complex() else None
        try:
            if memory_format is not None and t.dim() in (4, 5):
                return t.to(device, cast, non_blocking, memory_format=memory_format)
            return t.to(device, cast, non_blocking)
        except NotImplementedError as e:
            if str(e) != "Cannot copy out of meta tensor; no data!":
                raise
            raise NotImplementedError(f"{e} Please use torch.nn.Module.to_empty() instead of "
                                      "torch.nn.Module.to() when moving module from meta to a "
                                      "different device.") from None
    return self._apply(convert)


@add_to_class(Module)
def float(self):
    return self._apply(_cast_floating(torch.float32))


@add_to_class(Module)
def double(self):
    return self._apply(_cast_floating(torch.float64))


@add_to_class(Module)
def half(self):
    return self._apply(_cast_floating(torch.float16))


@add_to_class(Module)
def cpu(self):
    return self._apply(lambda t: t.cpu())


# %% chapters/03_traversal.ipynb, cell 61
@add_to_class(Module)
def train(self, mode: bool = True):
    """Set the training flag on every module of the tree."""
    if not isinstance(mode, bool):
        raise ValueError("training mode is expected to be boolean")
    self.training = mode
    for module in self.children():
        module.train(mode)
    return self


@add_to_class(Module)
def eval(self):
    return self.train(False)


@add_to_class(Module)
def requires_grad_(self, requires_grad: bool = True):
    for param in self.parameters():
        param.requires_grad_(requires_grad)
    return self


@add_to_class(Module)
def zero_grad(self, set_to_none: bool = True) -> None:
    """Drop gradients (set_to_none=True, the default) or fill them with zeros."""
    for param in self.parameters():
        if param.grad is not None:
            if set_to_none:
                param.grad = None
            else:
                if param.grad.grad_fn is not None:
                    param.grad.detach_()
                else:
                    param.grad.requires_grad_(False)
                param.grad.zero_()
