"""Check plumbing of exercise 1 (`nn.Parameter`): observers and random values for tasks 1.1-1.3."""
from __future__ import annotations

import copy
import random
from collections.abc import Callable

import torch
import torch.nn as nn

from grader.checks import compare

__all__ = ["compare", "torch_kind", "random_value", "observe_copy", "with_grad", "copied_by",
           "random_param", "observe_init", "seeded", "random_init_case",
           "NO_SETATTR", "NO_COPY", "NO_INIT"]

NO_SETATTR = ((nn.Module, "__setattr__"),)
NO_COPY = ((copy, "deepcopy"), (nn.Parameter, "__deepcopy__"))
NO_INIT = ((nn.init, "uniform_"), (nn.init, "_no_grad_uniform_"))


def torch_kind(value) -> str:
    """Where torch's `module.x = value` stores x: parameter, buffer, module or attribute."""
    module = nn.Module()
    module.x = value
    for kind, store in [("parameter", module._parameters), ("buffer", module._buffers),
                        ("module", module._modules)]:
        if "x" in store:
            return kind
    return "attribute"


def random_value(rng: random.Random):
    """A random value a learner might assign to a module attribute."""
    shape = [rng.randint(1, 4) for _ in range(rng.randint(0, 3))]
    dtype = rng.choice([torch.float32, torch.float64, torch.float16])
    base = torch.randn(shape, dtype=dtype)
    param = nn.Parameter(base.clone(), requires_grad=rng.random() < 0.7)
    makers = [
        lambda: param,
        lambda: base,
        lambda: base.requires_grad_(True),
        lambda: param * rng.uniform(-2, 2),
        lambda: param.view(-1),
        lambda: param.clone(),
        lambda: param.detach(),
        lambda: param.data,
        lambda: copy.deepcopy(param),
        lambda: nn.Buffer(base, persistent=rng.random() < 0.5),
        lambda: rng.choice([nn.Linear(2, 2), nn.ReLU(), nn.Sequential(), nn.ParameterList([param])]),
        lambda: rng.choice([[param], (param,), {"w": param}, [nn.ReLU()]]),
        lambda: rng.choice([None, 3, 2.5, "weight", True]),
        lambda: nn.parameter.UninitializedBuffer(),
    ]
    return rng.choice(makers)()


def observe_copy(pair) -> dict:
    """Everything `copy.deepcopy(param)` decides about its result, as plain data."""
    original, copied = pair
    return {
        "type": type(copied).__name__,
        "requires_grad": copied.requires_grad,
        "is_leaf": copied.is_leaf,
        "dtype": str(copied.dtype),
        "shape": list(copied.shape),
        "stride": list(copied.stride()),
        "values": copied.detach().tolist(),
        "shares_storage": copied.untyped_storage().data_ptr() == original.untyped_storage().data_ptr(),
        "grad": None if copied.grad is None else copied.grad.tolist(),
    }


def with_grad(param: nn.Parameter) -> nn.Parameter:
    """`param` after one backward pass, so that it has a `.grad`."""
    (param * torch.arange(1.0, param.numel() + 1).view(param.shape)).sum().backward()
    return param


def copied_by(copier: Callable) -> Callable:
    """A function of a Parameter returning (the Parameter, its copy by `copier`)."""
    return lambda param: (param, copier(param))


def random_param(rng: random.Random) -> nn.Parameter:
    """A random Parameter: shape, dtype, layout, requires_grad and sometimes a .grad."""
    shape = [rng.randint(1, 5) for _ in range(rng.randint(0, 3))]
    dtype = rng.choice([torch.float32, torch.float64, torch.bfloat16])
    data = torch.randn(shape, dtype=dtype)
    if data.dim() >= 2 and rng.random() < 0.5:
        data = data.transpose(0, 1)
    param = nn.Parameter(data, requires_grad=rng.random() < 0.7)
    if param.requires_grad and rng.random() < 0.5:
        with_grad(param) if dtype != torch.bfloat16 else param.sum().backward()
    return param


def observe_init(pair) -> dict:
    """What an in-place initialiser did to its tensor, and what it returned."""
    tensor, returned = pair
    return {
        "returns_its_argument": returned is tensor,
        "type": type(tensor).__name__,
        "is_leaf": tensor.is_leaf,
        "requires_grad": tensor.requires_grad,
        "grad_fn": type(tensor.grad_fn).__name__ if tensor.grad_fn is not None else None,
        "values": tensor.detach().tolist(),
    }


def seeded(init: Callable) -> Callable:
    """init(tensor, bound) run right after torch.manual_seed(seed)."""
    def run(tensor, bound, seed):
        torch.manual_seed(seed)
        return tensor, init(tensor, bound)
    return run


def random_init_case(rng: random.Random) -> tuple[str, Callable]:
    """(code, make_args) of a random initialisation case: the code rebuilds the arguments."""
    shape = [rng.randint(1, 6) for _ in range(rng.randint(1, 3))]
    dtype = rng.choice([torch.float32, torch.float64])
    kind = rng.choice(["param", "frozen", "tensor"])
    seed, bound = rng.randrange(10**6), round(rng.uniform(0.01, 3), 4)

    def make():
        data = torch.empty(shape, dtype=dtype)
        tensor = data if kind == "tensor" else nn.Parameter(data, requires_grad=kind == "param")
        return tensor, bound, seed
    data = f"torch.empty({shape}, dtype={dtype})"
    made = data if kind == "tensor" else f"nn.Parameter({data}, requires_grad={kind == 'param'})"
    code = f"tensor = {made}\ntorch.manual_seed({seed})\ninit_uniform_(tensor, {bound})"
    return code, make
