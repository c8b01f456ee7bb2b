"""Generated from chapters/06_repairing.ipynb — edit the chapter, then run `make export`."""
__all__ = ['RemovableHandle']


# %% chapters/06_repairing.ipynb, cell 48
import inspect
import itertools
from collections import OrderedDict

from purenn.parameter import add_to_class
from purenn.registration import Module


class RemovableHandle:
    """Returned by every register_*_hook method: `remove()` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict) -> None:
        self.hooks, self.id = hooks, next(RemovableHandle._ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()


def _hooks(module: Module, kind: str) -> dict:
    """The module's hooks of one kind (an ordered dict, created on first use)."""
    return module.__dict__.setdefault(kind, OrderedDict())


def _register(module: Module, kind: str, hook) -> RemovableHandle:
    handle = RemovableHandle(_hooks(module, kind))
    handle.hooks[handle.id] = hook
    return handle


@add_to_class(Module)
def register_state_dict_pre_hook(self, hook) -> RemovableHandle:
    """hook(module, prefix, keep_vars) runs before the module writes its entries."""
    return _register(self, "_state_dict_pre_hooks", hook)


@add_to_class(Module)
def register_state_dict_post_hook(self, hook) -> RemovableHandle:
    """hook(module, state_dict, prefix, local_metadata) may edit the entries in place."""
    return _register(self, "_state_dict_hooks", hook)


@add_to_class(Module)
def register_load_state_dict_pre_hook(self, hook) -> RemovableHandle:
    """hook(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors) runs
    before the module reads its entries, and may rewrite them."""
    return _register(self, "_load_state_dict_pre_hooks", hook)


@add_to_class(Module)
def register_load_state_dict_post_hook(self, hook) -> RemovableHandle:
    """hook(module, incompatible_keys) runs after the module's subtree is loaded."""
    return _register(self, "_load_state_dict_post_hooks", hook)


# %% chapters/06_repairing.ipynb, cell 50
_state_dict_without_hooks = inspect.unwrap(Module.state_dict)
_load_from_state_dict_without_hooks = inspect.unwrap(Module._load_from_state_dict)


@add_to_class(Module)
def state_dict(self, *, destination=None, prefix: str = "", keep_vars: bool = False):
    """Chapter 4's state_dict between the module's pre-hooks and post-hooks."""
    for hook in _hooks(self, "_state_dict_pre_hooks").values():
        hook(self, prefix, keep_vars)
    destination = _state_dict_without_hooks(self, destination=destination, prefix=prefix, keep_vars=keep_vars)
    local_metadata = getattr(destination, "_metadata", {}).get(prefix[:-1], dict(version=self._version))
    for hook in _hooks(self, "_state_dict_hooks").values():
        if hook(self, destination, prefix, local_metadata) is not None:
            raise RuntimeError("state_dict post-hook must return None")
    return destination


@add_to_class(Module)
def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                          unexpected_keys, error_msgs) -> None:
    """Run the load pre-hooks, then chapter 4's _load_from_state_dict."""
    for hook in _hooks(self, "_load_state_dict_pre_hooks").values():
        hook(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
    _load_from_state_dict_without_hooks(self, state_dict, prefix, local_metadata, strict, missing_keys,
                                        unexpected_keys, error_msgs)


Module.state_dict.__wrapped__ = _state_dict_without_hooks
Module._load_from_state_dict.__wrapped__ = _load_from_state_dict_without_hooks
