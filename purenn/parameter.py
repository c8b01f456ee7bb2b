"""Generated from chapters/01_parameter.ipynb — edit the chapter, then run `make export`."""
__all__ = ['add_to_class', 'Parameter', 'Buffer']


# %% chapters/01_parameter.ipynb, cell 49
import torch
from torch._C import _disabled_torch_function_impl


def add_to_class(cls):
    """Decorator: attach the function to `cls` as a method, so a class can grow across cells."""
    def register(fn):
        setattr(cls, fn.__name__, fn)
    return register


# %% chapters/01_parameter.ipynb, cell 51
class _FlagMeta(torch._C._TensorMeta):
    """isinstance(t, Marker) is also True for any tensor carrying the marker's `_flag` attribute."""

    def __instancecheck__(cls, instance) -> bool:
        flag = cls.__dict__.get("_flag")  # only the marker itself, not its subclasses
        if flag and isinstance(instance, torch.Tensor) and getattr(instance, flag, False):
            return True
        return super().__instancecheck__(instance)


# %% chapters/01_parameter.ipynb, cell 53
class Parameter(torch.Tensor, metaclass=_FlagMeta):
    """A Tensor that `Module.__setattr__` registers as a parameter (rebuilds torch.nn.Parameter)."""

    _flag = "_is_param"

    def __new__(cls, data: torch.Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = torch.empty(0)
        if type(data) is torch.Tensor or type(data) is Parameter:
            return torch.Tensor._make_subclass(cls, data, requires_grad)
        t = data.detach().requires_grad_(requires_grad)
        if type(t) is not type(data):
            raise RuntimeError(
                f"Creating a Parameter from an instance of type {type(data).__name__} "
                "requires that detach() returns an instance of the same type, but return "
                f"type {type(t).__name__} was found instead. To use the type as a "
                "Parameter, please correct the detach() semantics defined by "
                "its __torch_dispatch__() implementation.")
        t._is_param = True
        return t


# %% chapters/01_parameter.ipynb, cell 55
@add_to_class(Parameter)
def __repr__(self) -> str:
    plain = torch.Tensor._make_subclass(torch.Tensor, self.data, self.requires_grad)
    return "Parameter containing:\n" + repr(plain)


@add_to_class(Parameter)
def __deepcopy__(self, memo: dict):
    if id(self) not in memo:
        data = self.data.clone(memory_format=torch.preserve_format)
        memo[id(self)] = type(self)(data, self.requires_grad)
    return memo[id(self)]


@add_to_class(Parameter)
def __reduce_ex__(self, proto: int):
    return (type(self), (self.data, self.requires_grad))


Parameter.__torch_function__ = _disabled_torch_function_impl


# %% chapters/01_parameter.ipynb, cell 57
class Buffer(torch.Tensor, metaclass=_FlagMeta):
    """A Tensor that `Module.__setattr__` registers as a buffer (rebuilds torch.nn.Buffer)."""

    _flag = "_is_buffer"

    def __new__(cls, data: torch.Tensor | None = None, *, persistent: bool = True):
        if data is None:
            data = torch.empty(0)
        t = data.detach().requires_grad_(data.requires_grad)
        t.persistent = persistent
        t._is_buffer = True
        return t


Buffer.__torch_function__ = _disabled_torch_function_impl
