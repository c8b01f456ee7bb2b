"""Compare a learner's code with real torch, case by case, one printed line per case.

Every `check` and `hidden-check` cell of an exercise calls `compare`. Its printed lines are the
cell's output: a solution stores the all-pass output, so nbval flags any difference, and the
learner reads the first case where their code and torch disagree.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from grader import forbid as rebuilt
from grader import sandbox

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
    """Within the block, the learner's code may not call any `owner.name` in `targets`: the task
    asks them to rebuild that behaviour. Only direct calls from outside torch are blocked, so
    torch's own code (a layer's constructor, a method calling itself recursively) runs as usual.
    A target `(owner, name, when)` blocks only the calls for which `when(*args)` is true."""
    saved = [(owner, name, owner.__dict__[name], when[0] if when else None)
             for owner, name, *when in targets]

    def blocker(qualname: str, original: Callable[..., Any], when) -> Callable[..., Any]:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.split(".")[0] != "torch" and (when is None or when(*args)):
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


def _step(path: str, key: Any) -> str:
    """`path` extended by one list index or dict key, written as a Python expression would be:
    `[2]`, `.unexpected_keys` (a name; no dot at the start), `['0.weight']`."""
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def first_difference(yours: Any, torch: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """Return (path, yours, torch) for the first place two plain values differ, else None.

    The path reads like the expression that reaches the value: `unexpected_keys[0]`,
    `[3].name`, `state['0.weight']`."""
    if isinstance(yours, (list, tuple)) and isinstance(torch, (list, tuple)):
        for i, (a, b) in enumerate(zip(yours, torch)):
            found = first_difference(a, b, _step(path, i))
            if found:
                return found
        if len(yours) != len(torch):  # show the first item that only one side has
            n = min(len(yours), len(torch))
            return (_step(path, n), yours[n] if len(yours) > n else "<missing>",
                    torch[n] if len(torch) > n else "<missing>")
        return None
    if isinstance(yours, Mapping) and isinstance(torch, Mapping):
        for key in list(torch) + [k for k in yours if k not in torch]:
            if key not in yours or key not in torch:
                return (_step(path, key), yours.get(key, "<missing>"), torch.get(key, "<missing>"))
            found = first_difference(yours[key], torch[key], _step(path, key))
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


def difference_line(label: str, got: tuple[str, Any], want: tuple[str, Any]) -> str | None:
    """The ✗ line for a case whose outcomes differ ("yours: ...  torch: ..."), else None.

    A label's first line names the case; further lines, if any, are code that rebuilds the case
    (a random tree as constructor calls) and are shown under the difference, ready to paste."""
    diff = first_difference(got, want)
    if diff is None:
        return None
    path, a, b = diff
    if path in ("[0]", "[1]", ""):  # one side raised, or the values differ at the top
        a, b, where = describe_outcome(got), describe_outcome(want), ""
    else:
        where = f"at {path[len('[1]'):].lstrip('.')}: "
    name, _, code = str(label).partition("\n")
    line = f"{FAIL} {name} \u2014 {where}yours: {_short(a)}  torch: {_short(b)}"
    if code.strip():
        line += "\n    rebuild this case:\n" + "\n".join(f"        {row}" for row in code.splitlines())
    return line


def raises_on_failure(graded: bool) -> bool:
    """Whether a failing check raises `CheckFailed` (stopping the notebook) or reports and
    continues. Under the grader (`graded`) or with GRADER_CHECKS=raise in the environment, each
    check cell fails on its own; in a learner's own run "Run All" reaches every task."""
    return graded or os.environ.get("GRADER_CHECKS") == "raise"


def report_failure(task: str, failed: int, total: int, graded: bool) -> None:
    """End a check with `failed` of `total` cases differing: raise, or print one summary line."""
    message = f"Task {task}: {failed} of {total} cases differ from torch"
    if raises_on_failure(graded):
        raise CheckFailed(message)
    print(f"{FAIL} {message} (the grader counts this check as failed)")


def observe_for_grader(run: sandbox.CheckRun, cases: list[Case], yours: Callable[..., Any],
                       observe: Callable[[Any], Any]) -> None:
    """Under the grader, in the learner's kernel: report what `yours` does on every case, as
    data. Torch's side comes from the reference kernel and the grader judges, so nothing is
    printed or raised here (a `print` in an answer cannot change a verdict)."""
    with run:
        for index, (label, make_args) in enumerate(cases):
            run.before(index)
            kind, args = built = outcome(make_args)  # the case is built as the check's own code
            # from here until its record is written, all that runs counts as the learner's
            with rebuilt.learners_turn(args if kind == "value" else ()):
                got = outcome(lambda: observe(yours(*args))) if kind == "value" else built
                run.record(index, label, got, None)
    run.finish(len(cases))


def compare(
    task: str,
    cases: Iterable[Case],
    yours: Callable[..., Any],
    torch_ref: Callable[..., Any],
    observe: Callable[[Any], Any] = lambda result: result,
    summary: bool = False,
    forbid: Iterable[tuple] | None = None,
) -> None:
    """Run each case on `yours` and on `torch_ref`, print one line per case, fail on any difference.

    A case is `(label, make_args)`; `make_args()` builds fresh arguments for each side, so neither
    side sees objects the other one changed. `observe` turns a return value into plain data
    (lists, tuples, dicts, str, numbers) to compare. With `summary=True` (hidden, randomized
    checks) only failing cases and one final count are printed, so the output does not depend
    on the random cases drawn. `forbid` lists (owner, attribute) pairs — the torch functions the
    task rebuilds — that raise while `yours` runs (see `forbidden`); by default the task's list
    in grader.forbid.

    Under the grader (`python -m grader`), each case is also reported as data to the grading
    kernel's guard (grader.sandbox); printing and failing are unchanged.
    """
    cases = list(cases)
    forbid = list(rebuilt.targets(task) if forbid is None else forbid)

    def run_yours(args: tuple) -> Any:
        with forbidden(task, forbid):
            return yours(*args)

    run = sandbox.begin(sys._getframe(1), task)  # None unless a grader runs this cell
    if run is not None and run.learner:
        return observe_for_grader(run, cases, yours, observe)
    failed = 0
    with run if run is not None else nullcontext():
        for index, (label, make_args) in enumerate(cases):
            if run is not None:
                run.before(index)
            got = outcome(lambda: observe(run_yours(make_args())))
            if run is not None:
                run.before(index)
            want = outcome(lambda: observe(torch_ref(*make_args())))
            if run is not None:
                run.record(index, label, got, want)
            line = difference_line(label, got, want)
            if line is None:
                if not summary:
                    print(f"{PASS} {label}")
                continue
            failed += 1
            print(line)
    if run is not None:
        run.finish(len(cases))
    if summary and not failed:
        print(f"{PASS} all {len(cases)} randomized cases match torch")
    if failed:
        report_failure(task, failed, len(cases), graded=run is not None)
