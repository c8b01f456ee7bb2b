"""Generated from chapters/07_big_models.ipynb — edit the chapter, then run `make export`."""
__all__ = ['functional_call']


# %% chapters/07_big_models.ipynb, cell 26
import warnings

import torch

import purenn.repairing  # noqa: F401  (the load hooks are in place before the meta check wraps them)
from purenn.parameter import add_to_class
from purenn.registration import Module


@add_to_class(Module)
def to_empty(self, *, device, recurse: bool = True):
    """Move every parameter and buffer to `device` with uninitialised storage (e.g. off meta)."""
    return self._apply(lambda t: torch.empty_like(t, device=device), recurse=recurse)


# %% chapters/07_big_models.ipynb, cell 28
_load_without_meta_check = Module._load_from_state_dict
if getattr(_load_without_meta_check, "_checks_meta", False):
    _load_without_meta_check = _load_without_meta_check.__wrapped__


@add_to_class(Module)
def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                          unexpected_keys, error_msgs) -> None:
    """Warn, as torch does, for each real entry that a copy into a meta tensor would drop."""
    if not local_metadata.get("assign_to_params_buffers", False):
        persistent = {k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set}
        for name, tensor in list(self._parameters.items()) + list(persistent.items()):
            value = state_dict.get(prefix + name)
            if (tensor is not None and tensor.is_meta and isinstance(value, torch.Tensor)
                    and not value.is_meta and value.shape == tensor.shape):
                warnings.warn(f"for {prefix + name}: copying from a non-meta parameter in the checkpoint to a meta "
                              "parameter in the current model, which is a no-op. (Did you mean to pass "
                              "`assign=True` to assign items in the state dictionary to their corresponding key "
                              "in the module instead of copying them in place?)", stacklevel=2)
    _load_without_meta_check(self, state_dict, prefix, local_metadata, strict, missing_keys,
                             unexpected_keys, error_msgs)


Module._load_from_state_dict.__wrapped__ = _load_without_meta_check
Module._load_from_state_dict._checks_meta = True


# %% chapters/07_big_models.ipynb, cell 30
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
