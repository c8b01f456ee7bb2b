"""Check plumbing of exercise 1 (`nn.Parameter`): observers and random values for tasks 1.1-1.3."""
from __future__ import annotations

import copy
import random
from collections.abc import Callable

import torch
import torch.nn as nn

from grader.checks import compare

__all__ = ["compare", "torch_kind", "random_value", "observe_copy", "with_grad", "copied_by",
           "random_param", "observe_init", "seeded", "random_init_case"]

def torch_kind(value) -> str:
    """Where torch's `module.x = value` stores x: parameter, buffer, module or attribute."""
    module = nn.Module()
    module.x = value
    for kind, store in [("parameter", module._parameters), ("buffer", module._buffers),
                        ("module", module._modules)]:
        if "x" in store:
            return kind
    return "attribute"


def _built(code: str, name: str):
    """Run `code` (the lines a learner sees) and return the variable `name` it defines, so the
    shown code and the case cannot drift apart. It is compiled under this file's name: the
    grader's own code, which the gate lets call the functions the exercise rebuilds."""
    namespace = {"torch": torch, "nn": nn, "copy": copy, "with_grad": with_grad}
    exec(compile(code, f"{__file__} (generated)", "exec"), namespace)
    return namespace[name]


def random_value(rng: random.Random) -> tuple[str, object]:
    """(code, value): a random value a learner might assign to a module attribute, and the
    code that builds it into `value`."""
    shape = [rng.randint(1, 4) for _ in range(rng.randint(0, 3))]
    dtype = rng.choice(["torch.float32", "torch.float64", "torch.float16"])
    setup = (f"base = torch.randn({shape}, dtype={dtype})\n"
             f"param = nn.Parameter(base.clone(), requires_grad={rng.random() < 0.7})\n")
    expression = rng.choice([
        lambda: "param", lambda: "base", lambda: "base.requires_grad_(True)",
        lambda: f"param * {round(rng.uniform(-2, 2), 3)}", lambda: "param.view(-1)",
        lambda: "param.clone()", lambda: "param.detach()", lambda: "param.data",
        lambda: "copy.deepcopy(param)", lambda: f"nn.Buffer(base, persistent={rng.random() < 0.5})",
        lambda: rng.choice(["nn.Linear(2, 2)", "nn.ReLU()", "nn.Sequential()", "nn.ParameterList([param])"]),
        lambda: rng.choice(["[param]", "(param,)", "{'w': param}", "[nn.ReLU()]"]),
        lambda: rng.choice(["None", "3", "2.5", "'weight'", "True"]),
        lambda: "nn.parameter.UninitializedBuffer()",
    ])()
    code = f"{setup}value = {expression}"
    return code, _built(code, "value")


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


def random_param(rng: random.Random) -> tuple[str, nn.Parameter]:
    """(code, param): a random Parameter (shape, dtype, layout, requires_grad, sometimes a
    .grad) and the code that builds it."""
    shape = [rng.randint(1, 5) for _ in range(rng.randint(0, 3))]
    dtype = rng.choice(["torch.float32", "torch.float64", "torch.bfloat16"])
    data = f"torch.randn({shape}, dtype={dtype})"
    if len(shape) >= 2 and rng.random() < 0.5:
        data += ".transpose(0, 1)"
    requires_grad = rng.random() < 0.7
    code = f"param = nn.Parameter({data}, requires_grad={requires_grad})"
    if requires_grad and rng.random() < 0.5:
        code += "\nwith_grad(param)" if dtype != "torch.bfloat16" else "\nparam.sum().backward()"
    return code, _built(code, "param")


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
