"""Generated from chapters/04_state_dict.ipynb — edit the chapter, then run `make export`."""
__all__ = []


# %% chapters/04_state_dict.ipynb, cell 35
import itertools
import warnings
from collections import OrderedDict, namedtuple
from collections import abc as container_abcs

import torch

from purenn.parameter import Parameter, add_to_class
from purenn.registration import Module, _BatchNorm

_EXTRA_STATE_KEY_SUFFIX = "_extra_state"


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns: prints "<All keys matched successfully>" when both are empty."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


@add_to_class(Module)
def get_extra_state(self):
    raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called.")


@add_to_class(Module)
def set_extra_state(self, state) -> None:
    raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called.")


@add_to_class(Module)
def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
    """Write this module's own parameters and persistent buffers (detached unless keep_vars)."""
    for name, param in self._parameters.items():
        if param is not None:
            destination[prefix + name] = param if keep_vars else param.detach()
    for name, buf in self._buffers.items():
        if buf is not None and name not in self._non_persistent_buffers_set:
            destination[prefix + name] = buf if keep_vars else buf.detach()
    if getattr(self.__class__, "get_extra_state", Module.get_extra_state) is not Module.get_extra_state:
        destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()


@add_to_class(Module)
def state_dict(self, *, destination=None, prefix: str = "", keep_vars: bool = False):
    """Every parameter and persistent buffer of the tree, keyed by dotted path, with _metadata."""
    if destination is None:
        destination = OrderedDict()
        destination._metadata = OrderedDict()
    if hasattr(destination, "_metadata"):
        destination._metadata[prefix[:-1]] = dict(version=self._version)
    self._save_to_state_dict(destination, prefix, keep_vars)
    for name, module in self._modules.items():
        if module is not None:
            module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
    return destination


# %% chapters/04_state_dict.ipynb, cell 37
@add_to_class(Module)
def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                          unexpected_keys, error_msgs) -> None:
    """Load this module's own entries from state_dict; record problems in the three lists."""
    persistent = {k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set}
    local_state = {k: v for k, v in itertools.chain(self._parameters.items(), persistent.items())
                   if v is not None}
    assign = local_metadata.get("assign_to_params_buffers", False)
    for name, param in local_state.items():
        key = prefix + name
        if key not in state_dict:
            if strict:
                missing_keys.append(key)
            continue
        value = state_dict[key]
        if not torch.overrides.is_tensor_like(value):
            error_msgs.append(f'While copying the parameter named "{key}", expected torch.Tensor or '
                              f"Tensor-like object from checkpoint but received {type(value)}")
            continue
        if len(param.shape) == 0 and len(value.shape) == 1 and value.shape[0] == 1:
            value = value[0]  # checkpoints from torch 0.3 stored scalars as 1-element vectors
        if value.shape != param.shape:
            error_msgs.append(f"size mismatch for {key}: copying a param with shape {value.shape} from "
                              f"checkpoint, the shape in current model is {param.shape}.")
            continue
        if param.is_meta and not value.is_meta and not assign:
            warnings.warn(f"for {key}: copying from a non-meta parameter in the checkpoint to a meta "
                          "parameter in the current model, which is a no-op. (Did you mean to pass "
                          "`assign=True` to assign items in the state dictionary to their "
                          "corresponding key in the module instead of copying them in place?)",
                          stacklevel=2)
        try:
            with torch.no_grad():
                if assign:
                    if isinstance(param, Parameter):
                        if not isinstance(value, Parameter):
                            value = Parameter(value, requires_grad=param.requires_grad)
                        else:
                            value.requires_grad_(param.requires_grad)
                    setattr(self, name, value)
                else:
                    param.copy_(value)
        except Exception as ex:
            error_msgs.append(f'While copying the parameter named "{key}", whose dimensions in the model '
                              f"are {param.size()} and whose dimensions in the checkpoint are "
                              f"{value.size()}, an exception occurred : {ex.args}.")
    extra_key = prefix + _EXTRA_STATE_KEY_SUFFIX
    if getattr(self.__class__, "set_extra_state", Module.set_extra_state) is not Module.set_extra_state:
        if extra_key in state_dict:
            self.set_extra_state(state_dict[extra_key])
        elif strict:
            missing_keys.append(extra_key)
    elif strict and extra_key in state_dict:
        unexpected_keys.append(extra_key)
    if strict:
        for key in state_dict:
            if key.startswith(prefix) and key != extra_key:
                head, *rest = key[len(prefix):].split(".", 1)
                if (rest and head not in self._modules) or (not rest and head not in local_state):
                    unexpected_keys.append(key)


# %% chapters/04_state_dict.ipynb, cell 38
@add_to_class(Module)
def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False) -> _IncompatibleKeys:
    """Copy (or, with assign, place) every entry of state_dict into the tree; report mismatches."""
    if not isinstance(state_dict, container_abcs.Mapping):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
    missing_keys, unexpected_keys, error_msgs = [], [], []
    metadata = getattr(state_dict, "_metadata", None)
    state_dict = OrderedDict(state_dict)
    if metadata is not None:
        state_dict._metadata = metadata

    def load(module, local_state_dict, prefix=""):
        local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
        if assign:
            local_metadata["assign_to_params_buffers"] = assign
        module._load_from_state_dict(local_state_dict, prefix, local_metadata, True,
                                     missing_keys, unexpected_keys, error_msgs)
        for name, child in module._modules.items():
            if child is not None:
                child_prefix = prefix + name + "."
                load(child, {k: v for k, v in local_state_dict.items() if k.startswith(child_prefix)},
                     child_prefix)
        incompatible_keys = _IncompatibleKeys(missing_keys, unexpected_keys)  # post-hooks edit in place
        for hook in vars(module).get("_load_state_dict_post_hooks", {}).values():
            if hook(module, incompatible_keys) is not None:
                raise AssertionError(
                    "Hooks registered with ``register_load_state_dict_post_hook`` are not expected to "
                    "return new values, if incompatible_keys need to be modified, it should be done inplace.")

    load(self, state_dict)
    if strict:
        if unexpected_keys:
            error_msgs.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in unexpected_keys)))
        if missing_keys:
            error_msgs.insert(0, "Missing key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in missing_keys)))
    if error_msgs:
        raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
            self.__class__.__name__, "\n\t".join(error_msgs)))
    return _IncompatibleKeys(missing_keys, unexpected_keys)


# %% chapters/04_state_dict.ipynb, cell 40
@add_to_class(_BatchNorm)
def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                          unexpected_keys, error_msgs) -> None:
    version = local_metadata.get("version", None)
    if (version is None or version < 2) and self.track_running_stats:
        key = prefix + "num_batches_tracked"
        if key not in state_dict:
            tracked = self.num_batches_tracked  # a meta counter has no value to keep: start at 0
            state_dict[key] = (tracked if tracked is not None and not tracked.is_meta
                               else torch.tensor(0, dtype=torch.long))
    Module._load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                                 unexpected_keys, error_msgs)
