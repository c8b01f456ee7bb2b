"""purenn against torch.nn on the same 1,000-module tree, in one process.

    python -m bench.modules [--repeat 7]

Builds the same tree with both libraries (same seed, so the same weights), checks that the two
trees agree (module count, state_dict keys and values, a forward pass, loading each library's
state_dict into the other), then times each operation on both, interleaved, and prints the
best and median time per call, the spread (max - min, as a percentage of the best) and the ratio
purenn/torch. Figures only: nothing here asserts on a time.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections import OrderedDict

import torch

import purenn

STAGES, BLOCKS, WIDTH = 27, 6, 8
N_MODULES = 1 + STAGES * (1 + BLOCKS * 6)  # root + stages + 6 modules per block = 1,000
READS = 100_000  # attribute reads and calls in the micro-benchmarks
SEED = 0

_classes: dict = {}


def classes(nn):
    """Block and Passthrough, defined once per library (`torch.nn` or `purenn`)."""
    if nn not in _classes:
        class Block(nn.Module):
            """Linear -> BatchNorm1d -> ReLU -> Dropout, the last two in a ModuleList or a ModuleDict."""

            def __init__(self, width: int, as_dict: bool) -> None:
                super().__init__()
                self.linear = nn.Linear(width, width)
                self.norm = nn.BatchNorm1d(width)
                if as_dict:
                    self.post = nn.ModuleDict({"relu": nn.ReLU(), "drop": nn.Dropout(0.1)})
                else:
                    self.post = nn.ModuleList([nn.ReLU(), nn.Dropout(0.1)])

            def forward(self, x):
                x = self.norm(self.linear(x))
                for layer in (self.post.values() if isinstance(self.post, nn.ModuleDict) else self.post):
                    x = layer(x)
                return x

        class Passthrough(nn.Module):
            """forward returns its input: calling it costs only the Module call machinery."""

            def forward(self, x):
                return x

        _classes[nn] = Block, Passthrough
    return _classes[nn]


def build(nn, seed: int = SEED):
    """The 1,000-module tree: Sequential of 27 stages, each a Sequential of 6 Blocks (6 modules each)."""
    torch.manual_seed(seed)
    Block, _ = classes(nn)
    return nn.Sequential(OrderedDict(
        (f"stage{s}", nn.Sequential(*(Block(WIDTH, as_dict=b % 2 == 1) for b in range(BLOCKS))))
        for s in range(STAGES)))


def check_agreement(t_model, p_model) -> dict:
    """Both trees are the same tree, and each library loads the other's state_dict."""
    counts = {lib: len(list(m.modules())) for lib, m in (("torch", t_model), ("purenn", p_model))}
    assert counts["torch"] == counts["purenn"] == N_MODULES, counts
    t_sd, p_sd = t_model.state_dict(), p_model.state_dict()
    assert list(t_sd) == list(p_sd), "state_dict keys differ"
    assert all(torch.equal(t_sd[k], p_sd[k]) for k in t_sd), "same seed, different weights"
    assert dict(t_sd._metadata) == dict(p_sd._metadata), "state_dict _metadata differs"
    # interop: each library loads the other's state_dict (strict), from a different seed
    t_other, p_other = build(torch.nn, seed=SEED + 1), build(purenn, seed=SEED + 1)
    t_result, p_result = t_other.load_state_dict(p_sd), p_other.load_state_dict(t_sd)
    assert str(t_result) == str(p_result) == "<All keys matched successfully>", (t_result, p_result)
    assert all(torch.equal(v, p_sd[k]) for k, v in t_other.state_dict().items())
    assert all(torch.equal(v, t_sd[k]) for k, v in p_other.state_dict().items())
    x = torch.randn(32, WIDTH)
    with torch.no_grad():
        out_t, out_p = t_model.eval()(x), p_model.eval()(x)
    assert torch.equal(out_t, out_p), "forward passes differ"
    return {"modules": counts["torch"], "parameters": len(list(t_model.parameters())),
            "entries": len(t_sd), "params": sum(p.numel() for p in t_model.parameters())}


def _read_registered(layer, n: int = READS) -> None:
    for _ in range(n):
        layer.weight  # in _parameters, not in __dict__: every read goes through __getattr__


def _read_plain(layer, n: int = READS) -> None:
    for _ in range(n):
        layer.in_features  # an ordinary instance attribute, found in __dict__


def _call(module, x, n: int = READS) -> None:
    for _ in range(n):
        module(x)


def operations(nn):
    """(name, callable) for one library; the callables share one tree, built once here."""
    _, Passthrough = classes(nn)
    model = build(nn)
    sd = model.state_dict()
    linear = model.stage0[0].linear
    passthrough = Passthrough()
    x = torch.randn(32, WIDTH)
    eval_model = build(nn).eval()

    def forward():
        with torch.no_grad():
            eval_model(x)

    return [
        ("construct (1,000 modules)", lambda: build(nn)),
        ("1k x bare Module()", lambda: [nn.Module() for _ in range(1000)]),
        ("list(modules())", lambda: list(model.modules())),
        ("list(named_parameters())", lambda: list(model.named_parameters())),
        ("state_dict()", lambda: model.state_dict()),
        ("load_state_dict(own)", lambda: model.load_state_dict(sd)),
        ("forward, eval, no_grad", forward),
        (f"{READS // 1000}k x linear.weight", lambda: _read_registered(linear)),
        (f"{READS // 1000}k x linear.in_features", lambda: _read_plain(linear)),
        (f"{READS // 1000}k x passthrough(x)", lambda: _call(passthrough, x)),
    ]


def _sample(fn, number: int) -> float:
    """Seconds per call of fn, over `number` calls in a row."""
    gc.collect()
    gc.disable()  # as timeit does: a collection triggered inside one side would skew one sample
    try:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    finally:
        gc.enable()


def _calibrate(fn, target: float = 0.1) -> int:
    """Calls per sample so that a sample lasts about `target` seconds (best of 3 single calls)."""
    once = min(_sample(fn, 1) for _ in range(3))
    return max(1, min(10_000, round(target / once)))


def measure(repeat: int) -> list[dict]:
    """Time every operation on both libraries, interleaved (torch, purenn, purenn, torch, ...)."""
    t_ops, p_ops = operations(torch.nn), operations(purenn)
    rows = []
    for (name, t_fn), (_, p_fn) in zip(t_ops, p_ops):
        p_fn()  # warm-up (calibration warms torch's side)
        number = _calibrate(t_fn)
        ts, ps = [], []
        for i in range(repeat):
            if i % 2 == 0:
                ts.append(_sample(t_fn, number))
                ps.append(_sample(p_fn, number))
            else:
                ps.append(_sample(p_fn, number))
                ts.append(_sample(t_fn, number))
        rows.append({"name": name, "number": number, "torch": ts, "purenn": ps})
    return rows


def _spread(samples: list[float]) -> float:
    return 100 * (max(samples) - min(samples)) / min(samples)


def ratios(row: dict) -> tuple[float, float]:
    """purenn/torch from the best samples and from the medians."""
    t, p = row["torch"], row["purenn"]
    return min(p) / min(t), statistics.median(p) / statistics.median(t)


def print_table(rows: list[dict], repeat: int) -> None:
    print(f"{'operation':<27} {'calls':>5} | {'torch ms':>8} {'median':>7} {'spread':>6} | "
          f"{'purenn ms':>9} {'median':>7} {'spread':>6} | {'purenn/torch':>12} {'median':>6}")
    for row in rows:
        t, p = row["torch"], row["purenn"]
        best, med = ratios(row)
        print(f"{row['name']:<27} {row['number']:>5} | {1e3 * min(t):8.3f} {1e3 * statistics.median(t):7.3f} "
              f"{_spread(t):5.0f}% | {1e3 * min(p):9.3f} {1e3 * statistics.median(p):7.3f} "
              f"{_spread(p):5.0f}% | {best:11.2f}x {med:5.2f}x")
    print(f"(ms per call: best and median of {repeat} samples of `calls` calls each; spread = "
          "(max - min) / min;\n torch and purenn samples alternate; GC collected before and off "
          "during each sample; the ratio is best/best, then median/median)")


def hook_containers(nn) -> tuple[int, int]:
    """(number of dicts and sets a bare Module() creates, number of instance attributes)."""
    state = vars(nn.Module())
    return sum(isinstance(v, (dict, set)) for v in state.values()), len(state)


EXPLANATION = """\
Why torch.nn.Module costs what it costs at the Python level (torch/nn/modules/module.py):
  construct   Module.__init__ sets {t_attrs} instance attributes, {t_containers} of them fresh dicts/sets
              (11 are hook OrderedDicts, empty unless a hook is registered) and logs API usage
              once per call; purenn's sets {p_attrs}, {p_containers} of them containers. Each `self.x = ...`
              runs Module.__setattr__: isinstance against Parameter, Module, Buffer (the tensor
              ones with a Python __instancecheck__), register_parameter's hasattr (an
              AttributeError raised by __getattr__ for a new name), the global registration hooks.
  attribute   registered names live in _parameters/_buffers/_modules, not in __dict__: each read
              of layer.weight misses the normal lookup and runs the Python __getattr__ (in both).
  call        module(x) is _wrapped_call_impl -> _call_impl: a compiled-call check, a tracing
              check and eight hook-dict truth tests before forward; purenn's __call__ is forward.
  traversal   named_parameters is _named_members over the recursive named_modules generator, one
              generator frame per tree level per module; the same algorithm in both libraries.
  state_dict  per module: pre-hook loop, _save_to_state_dict, recursion, post-hook loop.
  load        load_state_dict's load() calls _load_from_state_dict per module (pre-hooks, lazy/
              meta/swap checks, copy_ under no_grad, a scan of its keys for unexpected ones),
              filters the parent's dict by prefix for each child, runs the post-hook loop."""


def explain() -> str:
    t_containers, t_attrs = hook_containers(torch.nn)
    p_containers, p_attrs = hook_containers(purenn)
    return EXPLANATION.format(t_containers=t_containers, t_attrs=t_attrs,
                              p_containers=p_containers, p_attrs=p_attrs)


def run(repeat: int = 7, verbose: bool = True) -> dict:
    """Check, measure, print; return {operation: purenn/torch ratio of the best samples}."""
    # The tensors are tiny: one intra-op thread measures the Python-level cost, and avoids the
    # OpenMP workers' waits that dominate when the other core is busy with someone else's job.
    torch.set_num_threads(1)
    t_model, p_model = build(torch.nn), build(purenn)
    facts = check_agreement(t_model, p_model)
    print(f"tree: {facts['modules']} modules in both libraries (torch {torch.__version__}, 1 thread), "
          f"{facts['parameters']} parameters ({facts['params']} numbers), "
          f"{facts['entries']} state_dict entries; same weights from seed {SEED}; each library "
          "loads the other's state_dict (strict): all keys matched; forward outputs equal")
    rows = measure(repeat)
    print_table(rows, repeat)
    if verbose:
        print(explain())
    return {row["name"]: ratios(row)[0] for row in rows}


def summary(ratios: dict) -> str:
    short = [("construct", "construct"), ("named_parameters", "named_parameters"),
             ("state_dict", "state_dict"), ("load_state_dict", "load"), ("forward", "forward"),
             ("linear.weight", "getattr")]
    parts = []
    for needle, label in short:
        name = next(n for n in ratios if needle in n)
        parts.append(f"{label} {ratios[name]:.2f}x")
    return "purenn/torch " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="samples per operation and library")
    args = parser.parse_args()
    print("bench: " + summary(run(args.repeat)))


if __name__ == "__main__":
    main()
