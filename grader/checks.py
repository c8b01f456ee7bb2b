"""Compare a learner's code with real torch, case by case, one printed line per case.

Every `check` and `hidden-check` cell of an exercise calls `compare`. Its printed lines are the
cell's output: a solution stores the all-pass output, so nbval flags any difference, and the
learner reads the first case where their code and torch disagree.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

PASS, FAIL = "\u2713", "\u2717"
WIDTH = 160  # longest repr shown for one side of a difference

Case = tuple[str, Callable[[], tuple]]


class CheckFailed(AssertionError):
    """Raised by `compare` when at least one case differs from torch."""


def outcome(run: Callable[[], Any]) -> tuple[str, Any]:
    """Run `run()` and return ("value", result) or ("raises", "Type: message")."""
    try:
        return ("value", run())
    except Exception as err:  # the exception *is* the observed behaviour
        return ("raises", f"{type(err).__name__}: {err}")


@contextmanager
def forbidden(task: str, targets: Iterable[tuple]) -> Iterator[None]:
    """Within the block, calling any `owner.name` in `targets` raises: the learner's code must
    rebuild that behaviour, not call it. A target `(owner, name, when)` blocks only the calls
    for which `when(*args)` is true (e.g. only on the learner's own class)."""
    saved = [(owner, name, owner.__dict__[name], when[0] if when else None)
             for owner, name, *when in targets]

    def blocker(qualname: str, original: Callable[..., Any], when) -> Callable[..., Any]:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            if when is None or when(*args):
                raise RuntimeError(f"Exercise {task} must not call {qualname}")
            return original(*args, **kwargs)
        return blocked

    try:
        for owner, name, original, when in saved:
            setattr(owner, name, blocker(f"{owner.__name__}.{name}", original, when))
        yield
    finally:
        for owner, name, original, _ in saved:
            setattr(owner, name, original)


def first_difference(yours: Any, torch: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """Return (path, yours, torch) for the first place two plain values differ, else None."""
    if isinstance(yours, (list, tuple)) and isinstance(torch, (list, tuple)):
        for i, (a, b) in enumerate(zip(yours, torch)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        if len(yours) != len(torch):
            return (f"{path} length", len(yours), len(torch))
        return None
    if isinstance(yours, Mapping) and isinstance(torch, Mapping):
        for key in list(torch) + [k for k in yours if k not in torch]:
            if key not in yours or key not in torch:
                return (f"{path}[{key!r}]", yours.get(key, "<missing>"), torch.get(key, "<missing>"))
            found = first_difference(yours[key], torch[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if type(yours) is not type(torch) or yours != torch:
        return (path, yours, torch)
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= WIDTH else text[: WIDTH - 3] + "..."


def describe_outcome(result: tuple[str, Any]) -> Any:
    """Turn an outcome into the value shown to the learner."""
    kind, value = result
    return value if kind == "value" else f"raises {value}"


def compare(
    task: str,
    cases: Iterable[Case],
    yours: Callable[..., Any],
    torch_ref: Callable[..., Any],
    observe: Callable[[Any], Any] = lambda result: result,
    summary: bool = False,
    forbid: Iterable[tuple] = (),
) -> None:
    """Run each case on `yours` and on `torch_ref`, print one line per case, fail on any difference.

    A case is `(label, make_args)`; `make_args()` builds fresh arguments for each side, so neither
    side sees objects the other one changed. `observe` turns a return value into plain data
    (lists, tuples, dicts, str, numbers) to compare. With `summary=True` (hidden, randomized
    checks) only failing cases and one final count are printed, so the output does not depend
    on the random cases drawn. `forbid` lists (owner, attribute) pairs — the torch functions the
    task rebuilds — that raise while `yours` runs (see `forbidden`).
    """
    cases, forbid = list(cases), list(forbid)

    def run_yours(args: tuple) -> Any:
        with forbidden(task, forbid):
            return yours(*args)

    failed = 0
    for label, make_args in cases:
        got = outcome(lambda: observe(run_yours(make_args())))
        want = outcome(lambda: observe(torch_ref(*make_args())))
        diff = first_difference(got, want)
        if diff is None:
            if not summary:
                print(f"{PASS} {label}")
            continue
        failed += 1
        path, a, b = diff
        if path in ("[0]", "[1]", ""):  # one side raised, or the values differ at the top
            a, b, where = describe_outcome(got), describe_outcome(want), ""
        else:
            where = f"at {path[len('[1]'):].strip()}: "
        print(f"{FAIL} {label} \u2014 {where}yours: {_short(a)}  torch: {_short(b)}")
    if summary and not failed:
        print(f"{PASS} all {len(cases)} randomized cases match torch")
    if failed:
        raise CheckFailed(f"Task {task}: {failed} of {len(cases)} cases differ from torch")
