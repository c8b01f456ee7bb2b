"""Check plumbing of exercise 7 (load without doubling memory): small language-model-like trees,
their checkpoints in temporary files, the process's peak resident memory, and what a correct load
determines about the model."""
from __future__ import annotations

import mmap
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn

from grader.checks import compare

__all__ = ["compare", "architecture", "checkpoint_of", "peak_mib", "described",
           "loaded_by", "by_spec"]


def architecture(vocab, width, depth, tie, frozen):
    """A zero-argument builder of a small language-model-like tree (what `build` is in the task)."""
    def build():
        layers = OrderedDict(embed=nn.Embedding(vocab, width))
        for i in range(depth):
            layers[f"block{i}"] = nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width))
        layers["out"] = nn.Linear(width, vocab, bias=False)
        model = nn.Sequential(layers)
        if tie:
            model.out.weight = model.embed.weight
        if frozen:
            model.embed.requires_grad_(False)
        return model
    return build


_checkpoints: set[Path] = set()  # files checkpoint_of wrote that no case has used up yet


def checkpoint_of(build, seed):
    """Write the state dict of a trained-looking build() to a fresh temporary file; return its path.
    The side of the case that loads it (loaded_by, by_spec) removes it when done: a check draws up
    to ten of them, some 80 MiB, and a kernel stopped without a clean exit would leave them all."""
    torch.manual_seed(seed)
    model = build()
    with torch.no_grad():
        for buffer in model.buffers():
            buffer.add_(torch.randint_like(buffer, 1, 5))
    path = Path(tempfile.mkdtemp(prefix="nn-module-checkpoint-")) / "model.pt"
    _checkpoints.add(path)
    torch.save(model.state_dict(), path)
    return path


def _used_up(path) -> None:
    """Remove a checkpoint of checkpoint_of's and its folder; any other path is left alone. (A
    model that still maps the file keeps its pages: on Linux the data lives until unmapped.)"""
    if isinstance(path, Path) and path in _checkpoints:
        _checkpoints.discard(path)
        shutil.rmtree(path.parent, ignore_errors=True)


def peak_mib():
    """This process's peak resident memory (VmHWM), in MiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as clear:  # "5": reset the peak to the current size
        clear.write("5")


def reset_peak():
    """The reset under its public name, which an answer of 7.1 is refused (grader.forbid):
    resetting the peak inside the measured call would hide it. The checks call `_reset_peak`, a
    function of its own: on the learner's turn the gate refuses every caller."""
    _reset_peak()


def described(model, path):
    """Everything a correct load determines, as plain data."""
    if not isinstance(model, nn.Module):
        return {"result": f"not a model: {type(model).__name__}"}
    expected = torch.load(path, weights_only=True)
    entries = model.state_dict(keep_vars=True)
    ties = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        ties.setdefault(id(param), []).append(name)
    return {"keys": list(entries),
            "values equal": [k for k, v in entries.items() if not (k in expected and torch.equal(v.detach(), expected[k]))] == [],
            "dtypes and devices": sorted({(str(v.dtype), str(v.device)) for v in entries.values()}),
            "parameters": [(n, type(p).__name__, p.requires_grad) for n, p in model.named_parameters(remove_duplicate=False)],
            "ties": sorted(names for names in ties.values() if len(names) > 1)}


def _raise_peak_by(mib: float) -> None:
    """Touch `mib` MiB of fresh anonymous memory and unmap it: the recorded peak now stands that far
    above the current size. (An mmap of its own, not the allocator's: freed memory that malloc kept
    would be counted again under the load.)"""
    with mmap.mmap(-1, int(mib * 2**20)) as canary:
        pages = torch.frombuffer(canary, dtype=torch.uint8)
        pages.fill_(1)
        del pages


def loaded_by(load: Callable) -> Callable:
    """load(path, build), described; with a bound, whether the peak memory grew by at most bound x the file.

    The peak is the process's own, which the process can reset (/proc/self/clear_refs): a load that
    doubles memory and resets the peak before returning would look small. So before the call the
    peak is raised to 90% of the bound; a peak found below that afterwards was reset inside the
    call, and fails the bound like a peak above it."""
    def run(path, build, bound=None):
        # torch imports torch._dynamo the first time a layer is built on meta: not in the measured call.
        # (Imported here, not at the top, so the grading kernels of other exercises, which import this
        # module to gate reset_peak, do not pay for it.)
        import torch._dynamo  # noqa: F401
        allowed = None if bound is None else bound * os.path.getsize(path) / 2**20
        _reset_peak()
        start = peak_mib()
        if allowed is not None:
            _raise_peak_by(0.9 * allowed)
        floor = peak_mib()
        try:
            model = load(path, build)
            top = peak_mib()
            result = described(model, path)
        finally:
            _used_up(path)
        if allowed is not None:
            result["peak within the bound"] = floor <= top <= start + allowed
        return result
    return run


def by_spec(path, build, bound=None):
    """What the task asks for, built the ordinary way: build(), then load_state_dict copies."""
    try:
        model = build()
        model.load_state_dict(torch.load(path, weights_only=True))
        result = described(model, path)
    finally:
        _used_up(path)
    return dict(result, **({} if bound is None else {"peak within the bound": True}))
