"""Check plumbing of exercise 5 (checkpoints you can trust): small models trained on fixed data,
checkpoint files written the way the task specifies (with plain torch.save), files with one
fault each, a torch.save that dies halfway, and generators to capture and restore."""
from __future__ import annotations

import argparse
import atexit
import io
import os
import random
import shutil
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.checks import compare

__all__ = ["compare", "CheckpointError", "make_model", "make_optimizer", "train", "same", "frozen_names",
           "trained", "saved_by", "save_cases", "random_save_cases", "crash_cases",
           "crash_while_saving", "resume_case", "resumed_with", "random_resume_cases",
           "bad_file", "BAD_FILES", "load_outcome", "through_a_file", "uninterrupted",
           "torch_side", "NO_REFERENCE_SAVE", "NO_REFERENCE_LOAD"]


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be trusted: unreadable, unsafe, or not for this model."""


DATA = torch.Generator().manual_seed(5)
X, Y = torch.randn(96, 6, generator=DATA), torch.randn(96, 2, generator=DATA)
SCRATCH_PREFIX = "nn-module-checks-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def scratch_dir() -> Path:
    """This kernel's directory for the checks' files (`nn-module-checks-<pid>-...` in the temp
    directory). A kernel is stopped with a kill, which runs no exit handler, so each new one
    first removes the directories of kernels that no longer run."""
    for old in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = old.name[len(SCRATCH_PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)  # never follows a link
    made = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, made, True)
    return made


_SCRATCH = scratch_dir()


def fresh_dir() -> Path:
    """An empty directory of its own for one case."""
    return Path(tempfile.mkdtemp(dir=_SCRATCH))


def make_model(seed: int, width: int = 8, batchnorm: bool = True, dropout: float = 0.0,
               frozen_first: bool = False) -> nn.Sequential:
    """A small MLP; optionally BatchNorm, dropout, and a frozen first layer."""
    torch.manual_seed(seed)
    layers = [nn.Linear(6, width)] + ([nn.BatchNorm1d(width)] if batchnorm else [])
    layers += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, 2)]
    model = nn.Sequential(*layers)
    if frozen_first:
        model[0].requires_grad_(False)
    return model


def make_optimizer(kind: str, model: nn.Module, lr: float = 0.05) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def train(model: nn.Module, optimizer: torch.optim.Optimizer, start: int, stop: int) -> None:
    """Steps start..stop-1 over fixed batches (so a resume can continue where it stopped)."""
    model.train()
    for step in range(start, stop):
        rows = slice(8 * (step % 12), 8 * (step % 12) + 8)
        loss = F.mse_loss(model(X[rows]), Y[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def same(a, b) -> bool:
    """Exact equality of nested state: tensors with torch.equal, the rest with ==."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def frozen_names(model: nn.Module) -> set[str]:
    """The state-dict keys of the parameters that do not require grad."""
    return {name for name, p in model.named_parameters() if not p.requires_grad}


# -- 5.1: save_checkpoint -------------------------------------------------------------------

def trained(seed: int, kind: str, **arch) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A model and its optimizer after three training steps."""
    model = make_model(seed, **arch)
    optimizer = make_optimizer(kind, model)
    train(model, optimizer, 0, 3)
    return model, optimizer


def spec_payload(model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int,
                 trainable_only: bool) -> dict:
    """The dict the file format specifies."""
    frozen = frozen_names(model) if trainable_only else set()
    return {"model": OrderedDict((k, v) for k, v in model.state_dict().items() if k not in frozen),
            "optimizer": optimizer.state_dict(), "epoch": epoch, "trainable_only": trainable_only}


def spec_save(path, model, optimizer, epoch, trainable_only=False) -> None:
    """Torch's side of 5.1: the specified format, serialised by torch.save into memory first, so
    a torch.save that fails leaves `path` as it was."""
    buffer = io.BytesIO()
    torch.save(spec_payload(model, optimizer, epoch, trainable_only), buffer)
    Path(path).write_bytes(buffer.getvalue())


def file_contents(model, optimizer, path: Path) -> dict:
    """What a checkpoint file holds, read back with the safe loader, next to the model's state."""
    saved = torch.load(path, weights_only=True)
    return {"keys": sorted(saved), "model_keys": list(saved["model"]),
            "model_values_match": same(saved["model"], {k: v for k, v in model.state_dict().items()
                                                        if k in saved["model"]}),
            "optimizer_matches": same(saved["optimizer"], optimizer.state_dict()),
            "epoch": saved["epoch"], "trainable_only": saved["trainable_only"],
            "file mode": oct(Path(path).stat().st_mode & 0o777),
            "files": sorted(p.name for p in Path(path).parent.iterdir())}


def saved_by(save: Callable) -> Callable:
    """save(path, model, optimizer, epoch, trainable_only) into a fresh directory, then read back."""
    def run(model, optimizer, epoch, trainable_only):
        path = fresh_dir() / "ckpt.pt"
        save(path, model, optimizer, epoch, trainable_only)
        return file_contents(model, optimizer, path)
    return run


def save_cases() -> list:
    return [
        ("SGD, full", lambda: (*trained(0, "sgd"), 3, False)),
        ("Adam, full", lambda: (*trained(1, "adam"), 7, False)),
        ("frozen first layer, full", lambda: (*trained(2, "sgd", frozen_first=True), 1, False)),
        ("frozen first layer, trainable_only", lambda: (*trained(2, "sgd", frozen_first=True), 1, True)),
        ("Adam, no BatchNorm, trainable_only",
         lambda: (*trained(3, "adam", batchnorm=False, frozen_first=True), 9, True)),
    ]


def random_save_cases(rng: random.Random, count: int) -> list:
    cases = []
    for i in range(count):
        arch = {"width": rng.randint(2, 12), "batchnorm": rng.random() < 0.5, "frozen_first": rng.random() < 0.5}
        trainable_only = arch["frozen_first"] and rng.random() < 0.7
        seed, kind, epoch = rng.randrange(10**6), rng.choice(["sgd", "adam"]), rng.randrange(100)
        code = (f"model, optimizer = trained({seed}, {kind!r}, **{arch})\n"
                f"save_checkpoint('ckpt.pt', model, optimizer, {epoch}, {trainable_only})")
        cases.append((f"random model {i}\n{code}",
                      lambda s=seed, k=kind, a=arch, e=epoch, t=trainable_only: (*trained(s, k, **a), e, t)))
    return cases


class DiskFull(OSError):
    """What the dying torch.save raises."""


def _dying_save(halfway: bool) -> Callable:
    def save(obj, f, *args, **kwargs):
        if halfway and isinstance(f, (str, os.PathLike)):
            Path(f).write_bytes(b"half a checkpoint")
        elif halfway:
            f.write(b"half a checkpoint")
        raise DiskFull("no space left on device")
    return save


def _previous_checkpoint() -> bytes:
    buffer = io.BytesIO()
    torch.save({"model": make_model(9).state_dict(), "epoch": 0}, buffer)
    return buffer.getvalue()


def crash_cases() -> list:
    """(previous file or None, how torch.save behaves) for the atomicity check."""
    return [(label, lambda p=previous, d=death: (fresh_dir() / "ckpt.pt", _previous_checkpoint() if p else None, d))
            for label, previous, death in [
                ("no previous file, the save succeeds", False, None),
                ("a previous file, the save succeeds", True, None),
                ("a previous file, torch.save dies halfway", True, "halfway"),
                ("a previous file, torch.save dies before writing", True, "before writing"),
                ("no previous file, torch.save dies halfway", False, "halfway")]]


def crash_while_saving(save: Callable) -> Callable:
    """Run save() of epoch 2 over `previous` (if any) with torch.save behaving as `death` says;
    observe what was raised, what the file holds afterwards and which files are left."""
    def run(target: Path, previous: bytes | None, death: str | None):
        if previous is not None:
            target.write_bytes(previous)
        model, optimizer = trained(4, "sgd")
        real_save = torch.save
        if death is not None:
            torch.save = _dying_save(death == "halfway")
        try:
            save(target, model, optimizer, 2)
            outcome = "returned"
        except DiskFull:
            outcome = "the error propagated"
        finally:
            torch.save = real_save
        if not target.exists():
            holds = None
        elif target.read_bytes() == previous:
            holds = "the previous file"
        else:
            try:
                holds = {"epoch": torch.load(target, weights_only=True)["epoch"],
                         "model_matches": same(torch.load(target, weights_only=True)["model"],
                                               model.state_dict())}
            except Exception as err:
                holds = f"an unreadable file ({type(err).__name__})"
        return {"outcome": outcome, "file_holds": holds,
                "files_in_the_directory": sorted(p.name for p in target.parent.iterdir())}
    return run


# -- 5.2: load_checkpoint -------------------------------------------------------------------

def resume_case(seed: int, kind: str, stop: int, trainable_only: bool = False, **arch) -> tuple:
    """Train to stop//2, write the checkpoint (spec_save), rebuild from another seed; also the
    reference model and optimizer trained without interruption to `stop`."""
    model = make_model(seed, **arch)
    optimizer = make_optimizer(kind, model)
    train(model, optimizer, 0, stop // 2)
    path = fresh_dir() / "ckpt.pt"
    spec_save(path, model, optimizer, stop // 2, trainable_only)
    reference = make_model(seed, **arch)
    reference_opt = make_optimizer(kind, reference)
    train(reference, reference_opt, 0, stop)
    # the "new process": different initial values, except frozen layers, which come from the same
    # pretrained source and so are not in a trainable-only file
    fresh = make_model(seed + 1000, **arch)
    if trainable_only:
        fresh[0].load_state_dict(make_model(seed, **arch)[0].state_dict())
    return path, fresh, make_optimizer(kind, fresh), stop, reference, reference_opt


def resumed_with(load: Callable) -> Callable:
    """load(path, model, optimizer), then train on to `stop` and compare with the reference."""
    def run(path, model, optimizer, stop, reference, reference_opt):
        epoch = load(path, model, optimizer)
        train(model, optimizer, epoch, stop)
        return {"epoch": epoch, "model_identical": same(model.state_dict(), reference.state_dict()),
                "optimizer_identical": same(optimizer.state_dict(), reference_opt.state_dict())}
    return run


def torch_load(path, model, optimizer) -> int:
    """Torch's side of a resume: the safe loader, load_state_dict (strict for a full file)."""
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"], strict=not checkpoint["trainable_only"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]


def random_resume_cases(rng: random.Random, count: int) -> list:
    cases = []
    for i in range(count):
        frozen = rng.random() < 0.5
        arch = {"width": rng.randint(2, 12), "batchnorm": rng.random() < 0.5, "frozen_first": frozen,
                "dropout": 0.0}
        seed, kind, stop = rng.randrange(10**6), rng.choice(["sgd", "adam"]), rng.randint(2, 14)
        trainable_only = frozen and rng.random() < 0.7
        code = (f"path, model, optimizer, *_ = resume_case({seed}, {kind!r}, {stop}, "
                f"trainable_only={trainable_only}, **{arch})\nload_checkpoint(path, model, optimizer)")
        cases.append((f"random resume {i}\n{code}",
                      lambda s=seed, k=kind, n=stop, t=trainable_only, a=arch: resume_case(s, k, n, t, **a)))
    return cases


BAD_FILES = ["a good full checkpoint", "a good trainable-only checkpoint", "truncated", "not a checkpoint",
             "unsafe pickle", "a missing key", "an unexpected key", "trainable-only, a trainable key missing"]


def bad_file(kind: str) -> tuple:
    """A checkpoint file of one kind (good, or with one fault), and a fresh model and optimizer."""
    source = make_model(0, frozen_first=True)
    optimizer = make_optimizer("sgd", source)
    train(source, optimizer, 0, 2)
    epoch = 1 + BAD_FILES.index(kind)
    state = source.state_dict()
    path = fresh_dir() / "ckpt.pt"
    payload = spec_payload(source, optimizer, epoch, False)
    if kind == "a good full checkpoint":
        torch.save(payload, path)
    elif kind == "a good trainable-only checkpoint":
        torch.save(spec_payload(source, optimizer, epoch, True), path)
    elif kind == "truncated":
        torch.save(payload, path)
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "not a checkpoint":
        path.write_text("hello")
    elif kind == "unsafe pickle":
        torch.save(dict(payload, config=argparse.Namespace(lr=0.1)), path)
    elif kind == "a missing key":
        torch.save(dict(payload, model=OrderedDict(list(state.items())[1:])), path)
    elif kind == "an unexpected key":
        torch.save(dict(payload, model=OrderedDict(state, extra=torch.zeros(1))), path)
    elif kind == "trainable-only, a trainable key missing":
        torch.save(dict(payload, trainable_only=True, model=OrderedDict(
            (k, v) for k, v in state.items() if not k.startswith("0.") and k != "4.bias")), path)
    model = make_model(0, frozen_first=True)  # the frozen layer as in the file's source
    return path, model, make_optimizer("sgd", model)


def load_outcome(load: Callable) -> Callable:
    """load(path, model, optimizer): refused with a CheckpointError that names the file, or the
    epoch returned and the state the model and optimizer were left in."""
    def run(path, model, optimizer):
        try:
            epoch = load(path, model, optimizer)
        except CheckpointError as err:
            return {"outcome": "CheckpointError", "message_names_the_file": str(path) in str(err)}
        return {"outcome": "loaded", "epoch": epoch,
                "model": {k: v.tolist() for k, v in model.state_dict().items()},
                "optimizer_state": [[v.tolist() if isinstance(v, torch.Tensor) else v for v in s.values()]
                                    for s in optimizer.state_dict()["state"].values()]}
    return run


def torch_checked_load(path, model, optimizer) -> int:
    """Torch's side of 5.2: a file is refused when torch.load(weights_only=True) or a strict
    load_state_dict refuses it (for a trainable-only file, when the missing keys are not exactly
    the frozen parameters, as the task states)."""
    try:
        checkpoint = torch.load(path, weights_only=True)
        result = model.load_state_dict(checkpoint["model"], strict=not checkpoint["trainable_only"])
    except Exception as err:
        raise CheckpointError(f"{path}: {type(err).__name__}") from err
    if checkpoint["trainable_only"] and (set(result.missing_keys) != frozen_names(model)
                                         or result.unexpected_keys):
        raise CheckpointError(f"{path}: not for this model")
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]


# -- 5.3: capture_rng / restore_rng ---------------------------------------------------------

def _draws() -> list:
    return [torch.rand(3).tolist(), [random.random() for _ in range(3)], np.random.rand(3).tolist()]


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def through_a_file(capture: Callable, restore: Callable) -> Callable:
    """(seed, skip): capture after `skip` draws, save and safely reload the state, scramble
    every generator, restore, draw."""
    def run(seed: int, skip: int):
        _seed_all(seed)
        for _ in range(skip):
            _draws()
        path = fresh_dir() / "rng.pt"
        torch.save(capture(), path)
        _seed_all(seed + 1)
        restore(torch.load(path, weights_only=True))
        return _draws()
    return run


def uninterrupted(seed: int, skip: int) -> list:
    """Torch's side of 5.3: the draws that follow `skip` draws, without an interruption."""
    _seed_all(seed)
    for _ in range(skip):
        _draws()
    return _draws()


# The checks reach torch's side of 5.1 and 5.2 as `torch_side.spec_save` and so on: attributes
# of this module, looked up when called, which a check's forbid list swaps for a refusal while an
# answer runs (a name imported into the notebook would keep the original).
torch_side = sys.modules[__name__]
NO_REFERENCE_SAVE = ((torch_side, "spec_save"),)
NO_REFERENCE_LOAD = ((torch_side, "torch_load"), (torch_side, "torch_checked_load"))
