"""Generated from chapters/07_big_models.ipynb — edit the chapter, then run `make export`."""
__all__ = ['functional_call']


# %% chapters/07_big_models.ipynb, cell 29
import torch

from purenn.parameter import add_to_class
from purenn.registration import Module


@add_to_class(Module)
def to_empty(self, *, device, recurse: bool = True):
    """Move every parameter and buffer to `device` with uninitialised storage (e.g. off meta)."""
    return self._apply(lambda t: torch.empty_like(t, device=device), recurse=recurse)


# %% chapters/07_big_models.ipynb, cell 32
from collections import Counter
from collections.abc import Sequence

_MISSING = object()  # what a swap returns for a name the module did not have


def _one_dict(dicts) -> dict:
    """functional_call's tensors as one dict: the dict itself, or a list/tuple of dicts merged."""
    if isinstance(dicts, dict):
        return dicts
    if not isinstance(dicts, Sequence):
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, "
                         f"but got {type(dicts)}")
    if not all(isinstance(d, dict) for d in dicts):
        raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
    repeated = [key for key, count in Counter(key for d in dicts for key in d).items() if count > 1]
    if repeated:
        raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
    return {key: value for d in dicts for key, value in d.items()}


def _named_tensors(module: Module) -> list:
    """(name, tensor) for every parameter and buffer, under every name it has."""
    return list(module.named_parameters(remove_duplicate=False)) + list(module.named_buffers(remove_duplicate=False))


def _with_ties(module: Module, values: dict) -> dict:
    """values, plus every name tied to a given one; one tensor for two tied names is an error."""
    names_of = {}
    for name, tensor in _named_tensors(module):
        names_of.setdefault(id(tensor), []).append(name)
    values = dict(values)
    for names in names_of.values():
        given = [name for name in names if name in values]
        if len({id(values[name]) for name in given}) > 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(names)}, which are "
                             "tied. Consider using tie_weights=False")
        for name in names if given else []:
            values[name] = values[given[0]]
    return values


def _check_keys(module: Module, values: dict) -> None:
    """strict=True: the names must be exactly the module's parameters and buffers."""
    names = {name for name, _ in _named_tensors(module)}
    errors = [f"{kind} key(s): {', '.join(map(repr, sorted(keys)))}." for kind, keys in
              (("Unexpected", set(values) - names), ("Missing", names - set(values))) if keys]
    if errors:
        raise RuntimeError(f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(errors))


def _swap(module: Module, name: str, tensor):
    """Put tensor (or, for _MISSING, nothing) under the dotted name; return what was there."""
    if tensor is not _MISSING and tensor is not None and not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{tensor} is not an instance of torch.Tensor")
    owner_name, _, attr = name.rpartition(".")
    owner = module.get_submodule(owner_name)
    for store in (owner._parameters, owner._buffers):
        if attr in store:
            original = store[attr]
            if tensor is _MISSING:
                del store[attr]
            else:
                store[attr] = tensor
            return original
    original = getattr(owner, attr, _MISSING)  # any other name: a plain attribute, borrowed too
    if original is not _MISSING and original is not None and not isinstance(original, torch.Tensor):
        raise TypeError(f"attribute `{attr}`: {original} is not an instance of torch.Tensor")
    if tensor is not _MISSING:
        setattr(owner, attr, tensor)
    elif original is not _MISSING:
        delattr(owner, attr)
    return original


def functional_call(module: Module, parameter_and_buffer_dicts, args=None, kwargs=None, *,
                    tie_weights: bool = True, strict: bool = False):
    """module(*args, **kwargs) with the given tensors in place of its parameters and buffers."""
    given = _one_dict(parameter_and_buffer_dicts)
    values = _with_ties(module, given) if tie_weights else given
    if strict:
        _check_keys(module, values)
    swapped = []
    try:
        for name, tensor in values.items():
            swapped.append((name, _swap(module, name, tensor)))
        args = () if args is None else args if isinstance(args, tuple) else (args,)
        return module(*args, **(kwargs or {}))
    finally:
        left = {name: _swap(module, name, original) for name, original in reversed(swapped)}
        given.update((name, left[name]) for name in given if name in left)
