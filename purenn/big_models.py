"""Generated from chapters/07_big_models.ipynb — edit the chapter, then run `make export`."""
__all__ = ['functional_call']


# %% chapters/07_big_models.ipynb, cell 26
import torch

from purenn.parameter import add_to_class
from purenn.registration import Module


@add_to_class(Module)
def to_empty(self, *, device, recurse: bool = True):
    """Move every parameter and buffer to `device` with uninitialised storage (e.g. off meta)."""
    return self._apply(lambda t: torch.empty_like(t, device=device), recurse=recurse)


# %% chapters/07_big_models.ipynb, cell 29
def functional_call(module: Module, parameters_and_buffers: dict, args=None, kwargs=None, *,
                    tie_weights: bool = True):
    """module(*args, **kwargs) with the given tensors in place of its parameters and buffers."""
    values = dict(parameters_and_buffers)
    if tie_weights:
        names_of = {}
        for name, tensor in list(module.named_parameters(remove_duplicate=False)) + list(
                module.named_buffers(remove_duplicate=False)):
            names_of.setdefault(id(tensor), []).append(name)
        for names in names_of.values():
            given = [name for name in names if name in values]
            if len({id(values[name]) for name in given}) > 1:
                raise ValueError(f"functional_call got multiple values for keys {sorted(given)}, which are "
                                 "tied. Consider using tie_weights=False")
            for name in names if given else []:
                values[name] = values[given[0]]
    swapped = []
    try:
        for name, tensor in values.items():
            owner_name, _, attr = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            store = owner._parameters if attr in owner._parameters else owner._buffers
            swapped.append((store, attr, store.get(attr)))
            store[attr] = tensor
        args = () if args is None else args if isinstance(args, tuple) else (args,)
        return module(*args, **(kwargs or {}))
    finally:
        for store, attr, original in reversed(swapped):
            store[attr] = original
