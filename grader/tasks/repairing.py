"""Check plumbing of exercise 6 (the repair lab): random module trees as data, checkpoints broken
the way each task describes (wrapped, written by an older block version, for another head, with old
weight-norm keys, by an optimizer over fewer parameters), and the reference repairs."""
from __future__ import annotations

import sys
import warnings
from collections import OrderedDict

import torch
import torch.nn as nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from grader.checks import compare

__all__ = ["compare", "random_spec", "build", "loaded",
           "WRAPPERS", "wrapped_case", "repaired_with",
           "BlockV1", "leaf_of", "versioned_case", "migrated_with",
           "head_case", "matched_with", "resized",
           "normed_leaf", "weight_norm_case", "folded_with",
           "frozen_run", "resumed_with", "torch_side"]

NAMES = ["encoder", "decoder", "layer", "head", "norm", "mlp", "out"]


def random_spec(rng, depth=0, kinds=("linear", "bn", "relu", "tree")):
    """A random module tree, as data: (name, kind, *sizes) leaves and (name, "tree", children)."""
    spec = []
    for i in range(rng.randint(1, 3)):
        kind = rng.choice(kinds if depth < 2 else [k for k in kinds if k != "tree"])
        name = f"{rng.choice(NAMES)}{i}"
        if kind == "tree":
            spec.append((name, "tree", random_spec(rng, depth + 1, kinds)))
        elif kind == "linear":
            spec.append((name, "linear", rng.randint(1, 4), rng.randint(1, 4)))
        elif kind == "conv":
            spec.append((name, "conv", rng.randint(1, 3), rng.randint(1, 3)))
        elif kind in ("bn", "block"):
            spec.append((name, kind, rng.randint(1, 4)))
        else:
            spec.append((name, kind))
    return spec


def build(spec, seed, leaf=None):
    """The tree of `spec`, initialised from `seed`; `leaf(kind, sizes)` may build special leaves."""
    torch.manual_seed(seed)

    def make(spec):
        children = OrderedDict()
        for name, kind, *rest in spec:
            if kind == "tree":
                children[name] = make(rest[0])
            elif leaf is not None and leaf(kind, rest) is not None:
                children[name] = leaf(kind, rest)
            elif kind == "linear":
                children[name] = nn.Linear(*rest)
            elif kind == "conv":
                children[name] = nn.Conv2d(*rest, kernel_size=2)
            elif kind == "bn":
                children[name] = nn.BatchNorm1d(*rest)
            else:
                children[name] = nn.ReLU()
        return nn.Sequential(children)

    return make(spec)


def loaded(model, result):
    """What a load did: the reported keys and every value of the model afterwards."""
    if not (isinstance(result, tuple) and hasattr(result, "missing_keys")):
        return {"result": f"not load_state_dict's result: {result!r}"}
    return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys),
            "values": [(k, v.tolist()) for k, v in model.state_dict().items()]}


# -- 6.1: strip_wrappers ---------------------------------------------------------------------

WRAPPERS = {"ddp": nn.DataParallel, "compile": torch.compile}


def wrapped_case(spec, wrappers, seed=1):
    model = build(spec, seed=seed)
    for wrapper in wrappers:
        model = WRAPPERS[wrapper](model)
    return model.state_dict(), spec


def reference_strip(state_dict):
    metadata = getattr(state_dict, "_metadata", None)
    state_dict = OrderedDict(state_dict)
    if metadata is not None:
        state_dict._metadata = OrderedDict(metadata)
    while any(k.startswith(("module.", "_orig_mod.")) for k in state_dict):
        for prefix in ("_orig_mod.", "module."):
            consume_prefix_in_state_dict_if_present(state_dict, prefix)
    return state_dict


def repaired_with(strip):
    def run(state_dict, spec):
        keys_before = list(state_dict)
        repaired = strip(state_dict)
        target = build(spec, seed=2)
        return {"argument unchanged": list(state_dict) == keys_before,
                "metadata": sorted(getattr(repaired, "_metadata", {}) or {}),
                **loaded(target, target.load_state_dict(repaired, strict=False))}
    return run


# -- 6.2: a block migrated by _version --------------------------------------------------------

class BlockV1(nn.Module):
    """Version 1 of the exercise's Block: the projection was called `fc`."""

    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.norm = nn.BatchNorm1d(width)


class ReferenceBlock(nn.Module):
    """Version 2, with the migration the task specifies."""
    _version = 2

    def __init__(self, width):
        super().__init__()
        self.proj = nn.Linear(width, width)
        self.norm = nn.BatchNorm1d(width)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *rest):
        reference_upgrade(state_dict, prefix, local_metadata)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *rest)


def reference_upgrade(state_dict, prefix, local_metadata):
    if (local_metadata.get("version") or 1) < 2:
        for key in list(state_dict):
            if key.startswith(prefix + "fc."):
                state_dict[prefix + "proj." + key[len(prefix + "fc."):]] = state_dict.pop(key)


def leaf_of(block_class):
    return lambda kind, sizes: block_class(sizes[0]) if kind == "block" else None


def versioned_case(spec, version, keep_metadata=True, extra_fc=False):
    """A checkpoint of `spec` written by Block version `version` (1 or 2)."""
    source = build(spec, seed=1, leaf=leaf_of(BlockV1 if version == 1 else ReferenceBlock))
    if extra_fc:  # an `fc` that is not inside a Block must stay `fc`
        source.add_module("fc", nn.Linear(2, 2))
    state = source.state_dict()
    if not keep_metadata:
        state = {k: v for k, v in state.items()}
    return state, spec, extra_fc


def migrated_with(block_class):
    def run(state, spec, extra_fc):
        target = build(spec, seed=2, leaf=leaf_of(block_class))
        if extra_fc:
            target.add_module("fc", nn.Linear(2, 2))
        return loaded(target, target.load_state_dict(state, strict=False))
    return run


# -- 6.3: load_matching -----------------------------------------------------------------------

def head_case(pretrained_spec, finetune_spec):
    return build(pretrained_spec, seed=1).state_dict(), finetune_spec


def matched_with(load):
    def run(state, spec):
        target = build(spec, seed=2)
        return loaded(target, load(target, state))
    return run


def reference_matching(model, state_dict):
    own = model.state_dict()
    return model.load_state_dict({k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape},
                                 strict=False)


def resized(spec, rng):
    """A copy of spec with some sizes changed and some leaves dropped or renamed."""
    out = []
    for name, kind, *rest in spec:
        roll = rng.random()
        if kind == "tree":
            out.append((name, kind, resized(rest[0], rng)))
        elif roll < 0.15:
            continue
        elif roll < 0.25:
            out.append((name + "new", kind, *rest))
        elif roll < 0.5 and rest:
            out.append((name, kind, *[rng.randint(1, 4) for _ in rest]))
        else:
            out.append((name, kind, *rest))
    return out


# -- 6.4: fold_weight_norm --------------------------------------------------------------------

def normed_leaf(chosen):
    """Linear and Conv2d leaves whose sizes are in `chosen` get the old weight norm."""
    def leaf(kind, sizes):
        if kind in ("linear", "conv") and tuple(sizes) in chosen:
            layer = nn.Linear(*sizes) if kind == "linear" else nn.Conv2d(*sizes, kernel_size=2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                return torch.nn.utils.weight_norm(layer)
        return None
    return leaf


def _weights(model):
    """Every weight as the forward pass uses it (weight norm recomputes `weight` before forward)."""
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            hook(module, None)
    return {name: module.weight for name, module in model.named_modules() if hasattr(module, "weight")}


def weight_norm_case(spec, chosen):
    source = build(spec, seed=1, leaf=normed_leaf(chosen))
    with torch.no_grad():  # make the norms differ from 1, as after training
        for name, param in source.named_parameters():
            if name.endswith("_g"):
                param.mul_(torch.linspace(0.5, 2.0, param.numel()).view_as(param))
    return source.state_dict(), spec, {k: v.detach().clone() for k, v in _weights(source).items()}


def folded_with(fold):
    def run(state, spec, expected):
        target = build(spec, seed=2)
        folded = fold(state)
        result = target.load_state_dict(folded, strict=False)
        return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys),
                "weights": {k: torch.allclose(target.get_submodule(k).weight, w, atol=1e-6) for k, w in expected.items()},
                "others": [(k, v.tolist()) for k, v in target.state_dict().items() if not k.endswith("weight")]}
    return run


def reference_fold(state_dict):
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.endswith("_v") and key[:-2] + "_g" in state_dict:
            out[key[:-2]] = torch._weight_norm(value, state_dict[key[:-2] + "_g"], 0)
        elif not (key.endswith("_g") and key[:-2] + "_v" in state_dict):
            out[key] = value
    return out


# -- 6.5: resume_unfrozen ---------------------------------------------------------------------

def frozen_run(spec, frozen_prefix, steps, seed):
    """Train `spec` with the parameters under frozen_prefix frozen; return the model's and Adam's state."""
    model = build(spec, seed=seed)
    for name, param in model.named_parameters():
        param.requires_grad_(not name.startswith(frozen_prefix))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        sum((p * p).sum() for p in model.parameters()).backward()
        optimizer.step()
    return model.state_dict(), optimizer.state_dict(), spec, frozen_prefix


def resumed_with(resume):
    def run(model_state, saved, spec, frozen_prefix, lr=0.001):
        model = build(spec, seed=99)
        model.load_state_dict(model_state)
        optimizer = resume(model, saved, frozen_prefix, lr)
        for _ in range(2):
            optimizer.zero_grad()
            sum((p * p * torch.arange(p.numel()).view_as(p)).sum() for p in model.parameters()).backward()
            optimizer.step()
        state = optimizer.state_dict()
        return {"groups": [(len(g["params"]), g["lr"]) for g in state["param_groups"]],
                "state": {k: {n: t.tolist() for n, t in v.items()} for k, v in state["state"].items()},
                "values": [(k, v.tolist()) for k, v in model.state_dict().items()]}
    return run


def reference_resume(model, saved, frozen_prefix, lr):
    named = list(model.named_parameters())
    optimizer = torch.optim.Adam([p for n, p in named if not n.startswith(frozen_prefix)], lr=0.01)
    optimizer.load_state_dict(saved)
    optimizer.add_param_group({"params": [p for n, p in named if n.startswith(frozen_prefix)], "lr": lr})
    return optimizer


# The checks reach the reference repairs as `torch_side.reference_strip` and so on: attributes of
# this module, looked up when called, which grader.forbid refuses to an answer of the task they
# solve (a name imported into the notebook would keep the original).
torch_side = sys.modules[__name__]
