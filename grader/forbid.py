"""The torch functions each task rebuilds, as data, and the gate that makes them refuse.

A task asks the learner to rebuild a piece of torch; calling that piece instead would pass every
check without rebuilding anything. `REBUILT` lists, per task, the torch functions concerned.

Under the grader, the learner's kernel gives each of these functions a gated body before any
learner code runs (`install`): the function object stays the same (torch keeps working, saved
references keep their identity), but its code now begins with a call to `gate`, and the original
code object is no longer referenced anywhere in the kernel. While a check of task T runs
(`armed`), a gated function of T's list refuses any call unless every caller between it and the
running check is pristine code (torch itself, the grader's package, the standard library, a check
or setup cell, or a stand-in the check bound), so delegating through a wrapper, a saved
reference, a thread, a returned generator, a proxy or a torch utility finds nothing to call.
Outside the grader (a learner's own notebook) `grader.checks.forbidden` gives the same message by
swapping the functions for the duration of a check.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import os
import sys
import textwrap
import types
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

_TRAVERSAL = tuple(f"torch.nn.Module.{name}" for name in (
    "named_modules", "modules", "named_children", "children", "named_parameters", "parameters",
    "named_buffers", "buffers", "_named_members", "get_submodule", "get_parameter"))
_SAVING_AND_LOADING = tuple(f"torch.nn.Module.{name}" for name in (
    "state_dict", "_save_to_state_dict", "load_state_dict", "_load_from_state_dict",
    "named_modules", "modules", "named_children", "children", "named_parameters", "parameters",
    "named_buffers", "buffers", "_named_members")) + (
    "torch.nn.modules.batchnorm._NormBase._load_from_state_dict",)

# A name ending in "@foreign" matters only outside the grader (`grader.checks.forbidden`, which
# swaps the function during a check rather than asking who calls it): there it refuses only calls
# whose first argument (self) is not an instance of a class defined by torch, so torch's own
# objects keep working. In a grading kernel the gate refuses every call from learner code, on
# torch's objects too: a torch module that shares a learner object's `__dict__` would otherwise
# carry the call out on the learner's behalf.
REBUILT: dict[str, tuple[str, ...]] = {
    "1.1": ("torch.nn.Module.__setattr__",),
    "1.2": ("copy.deepcopy", "torch.nn.Parameter.__deepcopy__"),
    "1.3": ("torch.nn.init.uniform_", "torch.nn.init._no_grad_uniform_"),
    "2.1": ("torch.nn.Module.__setattr__@foreign",),
    "2.2": ("torch.nn.Module.__getattr__@foreign",),
    "2.3": ("torch.nn.Module.__delattr__@foreign",),
    "2.4": ("torch.nn.Module.register_buffer@foreign",),
    "3.1": _TRAVERSAL, "3.2": _TRAVERSAL, "3.3": _TRAVERSAL, "3.4": _TRAVERSAL,
    "4.1": _SAVING_AND_LOADING, "4.2": _SAVING_AND_LOADING,
    # exercise 5's checks compute torch's side with the grader's own reference code
    "5.1": ("grader.tasks.checkpointing.spec_save",),
    "5.2": ("grader.tasks.checkpointing.torch_load", "grader.tasks.checkpointing.torch_checked_load"),
    # exercise 6's checks compare with the reference repairs, exercise 7's reset the peak it measures
    "6.1": ("grader.tasks.repairing.reference_strip",),
    "6.2": ("grader.tasks.repairing.reference_upgrade",),
    "6.3": ("grader.tasks.repairing.reference_matching",),
    "6.4": ("grader.tasks.repairing.reference_fold",),
    "6.5": ("grader.tasks.repairing.reference_resume",),
    "7.1": ("grader.tasks.big_models.reset_peak",),
}


def names(task: str) -> list[str]:
    """The dotted names of the functions task `task` rebuilds, without their "@when" part."""
    return [dotted.partition("@")[0] for dotted in REBUILT.get(task, ())]


def _split(dotted: str) -> tuple[str, str, str]:
    """'torch.nn.Module.state_dict@foreign' -> ('torch.nn.Module', 'state_dict', 'foreign')."""
    dotted, _, when = dotted.partition("@")
    owner, _, name = dotted.rpartition(".")
    return owner, name, when


def _resolve(path: str) -> Any:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def foreign_self(self: Any = None, *args: Any, **kwargs: Any) -> bool:
    """True when `self` is not an instance of a class torch defines (a learner's class), judged
    by its class's module (outside the grader; see "@foreign" above)."""
    return not type(self).__module__.startswith("torch")


STDLIB = (os.path.dirname(os.__file__) + os.sep, "<frozen ")


def stdlib(filename: str) -> bool:
    """True for the standard library's own files (not the packages installed beside it)."""
    return filename.startswith(STDLIB) and f"-packages{os.sep}" not in filename


def targets(task: str) -> list[tuple]:
    """`(owner, name)` or `(owner, name, when)` of each function task `task` rebuilds."""
    out = []
    for dotted in REBUILT.get(task, ()):
        owner, name, when = _split(dotted)
        out.append((_resolve(owner), name) + ((foreign_self,) if when == "foreign" else ()))
    return out


# -- the gate, inside a grading kernel ---------------------------------------------------------

_armed: dict[str, str] = {}  # dotted name -> task, while a check of it runs (or `seal`ed)
_allowed: set[str] = set()  # dotted names a check bound to an answer name (stand-ins)
_trusted_files: set[str] = set()
_check_files: set[str] = set()
_trusted_roots: tuple[str, ...] = ()
_codes: dict[types.CodeType, str] = {}  # gated code (and a gated generator's body) -> name
on_refusal: Callable[[str, str], None] | None = None  # (name, task) -> None, set by the guard
_sealed = False  # set by `seal`: armed at every moment, not only while a check runs
# Rebuilt functions that plain Python calls for an answer of any task: an attribute a module
# lacks (`hasattr`) goes through __getattr__, `module.x = v` and `del module.x` through
# __setattr__ and __delattr__, and __setattr__ registers a buffer through register_buffer. When
# sealed, these are armed during their own task's checks only; every other rebuilt function of
# the exercise is armed during every check, so an answer called by one task's check cannot
# compute torch's results for another task's hidden cases either.
IMPLICIT = frozenset(f"torch.nn.Module.{name}" for name in (
    "__getattr__", "__setattr__", "__delattr__", "register_buffer"))


def _trusted(filename: str) -> bool:
    return filename in _trusted_files or filename.startswith(_trusted_roots)


def pristine(filename: str) -> bool:
    """True for code the gate lets call a rebuilt function: torch's, the grader's, the standard
    library's, a check's or a setup cell's (learner code must not compile anything under such a
    name; grader.sandbox refuses it)."""
    return filename in _check_files or _trusted(filename) or stdlib(filename)


def _from_a_check(frame: types.FrameType | None, name: str, args: tuple) -> bool:
    """True when every caller from `frame` up to a running check cell is pristine code, so the
    call did not start in learner code (directly, or through a torch utility that calls the
    function on the learner's behalf); False for a thread or callback that no check started.
    On the learner's turn (`learners_turn`, and while an iterator the learner's code returned is
    advanced: see `learner_returns`) only a stand-in the check bound may call, and the four
    functions plain Python reaches (IMPLICIT) may run on an object the check built itself."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if _codes.get(frame.f_code) in _allowed:
            return True  # a stand-in the check bound for an answer called it
        if filename in _check_files or (
                _sealed and filename in _trusted_files and frame.f_code.co_name == "<module>"):
            # a check, or a setup cell itself (not a function it defines), called it
            return not _learners_turn or (name in IMPLICIT and bool(args) and _built(args[0]))
        if not (_trusted(filename) or stdlib(filename)):
            return False
        frame = frame.f_back
    return False


def gate(name: str, args: tuple) -> None:
    """Called first by every gated function: refuse the call when its task forbids it."""
    task = _armed.get(name)
    if task is None or name in _allowed:
        return
    if _from_a_check(sys._getframe(2), name, args):
        return
    if on_refusal is not None:
        on_refusal(name, task)
    raise RuntimeError(f"Exercise {task} must not call {name}")


# -- what learner code returns -----------------------------------------------------------------
#
# A lazy iterator made in learner code and returned unstarted (`map(nn.Module.named_modules,
# [module])`, a chain of them, a torch generator made by a function no task gates) runs its
# calls only when a check consumes it: no learner frame is then on the stack (C iterators have
# none), so the frame walk above would take the check for the caller. The learner's answer
# functions therefore return through a trampoline that hands out every iterator they return
# (also inside a returned tuple, list or dict) as a generator whose every step counts as the
# learner's own: a gated call made while it advances is refused.

_learners_turn = 0  # > 0 while an iterator returned by learner code advances
_returning: set[int] = set()  # ids of the functions given a trampoline (kept alive below)
_kept: list[types.FunctionType] = []


_check_built: dict[int, tuple] = {}  # id -> (object, its class, its __dict__) on the learner's turn


def _built(obj: Any) -> bool:
    """True for an object of the arguments the check built for the case on the learner's turn,
    still of the class and with the `__dict__` it was built with."""
    kept = _check_built.get(id(obj))
    return kept is not None and kept[0] is obj and type(obj) is kept[1] \
        and object.__getattribute__(obj, "__dict__") is kept[2]


def _objects_in(value: Any, depth: int = 0) -> Iterator[Any]:
    """`value` and the items of the tuples, lists and dicts in it (a few levels down)."""
    yield value
    kind = type(value)
    if depth < 3 and kind in (tuple, list, dict):
        for item in (value.values() if kind is dict else value):
            yield from _objects_in(item, depth + 1)


@contextmanager
def learners_turn(built: tuple = ()) -> Iterator[None]:
    """While the block runs, every armed function refuses every call but a stand-in's: a check
    wraps in it the whole span from handing the arguments it `built` to the learner's function
    to holding plain data, so an object the learner returned cannot run torch's code for the
    check when the check uses it (a class whose `__iter__` is a `functools.partial` of torch's
    function runs no learner frame for the walk to see). The functions plain Python reaches
    (IMPLICIT) still run, from pristine code, on the objects in `built` (torch's own error
    messages look attributes up on the values a case stores)."""
    global _learners_turn
    saved = dict(_check_built)
    for obj in _objects_in(built):
        stores = getattr(obj, "__dict__", None)
        if type(stores) is dict:
            _check_built[id(obj)] = (obj, type(obj), stores)
    _learners_turn += 1
    try:
        yield
    finally:
        _learners_turn -= 1
        _check_built.clear()
        _check_built.update(saved)


def _advanced_as_learner(iterator: Any) -> Iterator[Any]:
    while True:
        with learners_turn():
            try:
                item = next(iterator)
            except StopIteration as stop:
                return stop.value
        yield item


LAZY_MODULES = ("builtins", "itertools", "_collections", "collections", "functools", "operator")


def _is_iterator(value: Any) -> bool:
    """True for the iterators that can call a function later on their own: generators, and the
    iterators of the builtins, itertools, collections and torch (`map`, `filter`, `chain`, ...).
    Other objects are left alone: a file or a learner's own class keeps its whole interface (a
    learner's class runs learner code, which the frame walk sees anyway)."""
    kind = type(value)
    if not callable(getattr(kind, "__next__", None)):
        return False
    module = getattr(kind, "__module__", "") or ""
    return isinstance(value, types.GeneratorType) or module in LAZY_MODULES \
        or module.split(".")[0] == "torch"


def attributed(value: Any, depth: int = 0) -> Any:
    """`value` with every iterator in it (at its top, or in a tuple, list or dict in it) made to
    advance as the learner's code; anything else is returned as it is (lists and dicts in place)."""
    if _is_iterator(value):
        return _advanced_as_learner(value)
    if depth >= 4:
        return value
    kind = type(value)
    if kind is tuple:
        items = tuple(attributed(v, depth + 1) for v in value)
        return items if any(a is not b for a, b in zip(items, value)) else value
    if kind is list:
        for i, item in enumerate(value):
            new = attributed(item, depth + 1)
            if new is not item:
                value[i] = new
    elif kind is dict:
        for key, item in list(value.items()):
            new = attributed(item, depth + 1)
            if new is not item:
                value[key] = new
    return value


def learner_returns(function: types.FunctionType) -> None:
    """Make every call of the learner's `function` return `attributed(...)` of its result. The
    function object stays the same (the check holds it); its code becomes a trampoline, compiled
    under the learner cell's own file name, that calls a copy of the original."""
    if id(function) in _returning:
        return
    code = function.__code__
    original = types.FunctionType(code, function.__globals__, function.__name__,
                                  function.__defaults__, function.__closure__)
    original.__kwdefaults__ = function.__kwdefaults__
    original.__qualname__ = function.__qualname__

    def call(args: tuple, kwargs: dict) -> Any:
        return attributed(original(*args, **kwargs))

    free = code.co_freevars  # the trampoline must have as many free variables as the original
    inner = ("    def trampoline(*__args, __grader_call=None, **__kwargs):\n"
             + (f"        if False: ({', '.join(free)},)\n" if free else "")
             + "        return __grader_call(__args, __kwargs)\n")
    source = f"def _make({', '.join(free)}):\n" + inner + "    return trampoline\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, code.co_filename, "exec", dont_inherit=True), namespace)
    trampoline = namespace["_make"](*free).__code__.replace(co_name=code.co_name,
                                                             co_qualname=code.co_qualname,
                                                             co_firstlineno=code.co_firstlineno)
    function.__code__ = trampoline
    function.__defaults__ = None
    function.__kwdefaults__ = {"__grader_call": call}
    _returning.add(id(function))
    _kept.append(function)


@contextmanager
def armed(task: str, allowed: Iterable[str] = ()) -> Iterator[None]:
    """While the block runs, the functions of `task` refuse calls from learner code (except the
    `allowed` ones, which the check itself bound to an answer name)."""
    saved = dict(_armed), set(_allowed)
    if _sealed:  # the other tasks' stay armed, but for those plain Python reaches (`hasattr`)
        for name in IMPLICIT:
            _armed.pop(name, None)
    for name in names(task):
        _armed[name] = task
    _allowed.update(allowed)
    try:
        yield
    finally:
        _armed.clear()
        _armed.update(saved[0])
        _allowed.clear()
        _allowed.update(saved[1])


def seal(tasks: Iterable[str]) -> None:
    """Arm the functions of every task in `tasks` for the rest of the process: code of the
    learner's that runs while no check does (a cell's top level, a thread it left running)
    cannot call them, so it cannot compute torch's results ahead of a check. Pristine code keeps
    calling them: a check, and a setup cell's own top level. While a check runs (`armed`), they
    stay armed but for the IMPLICIT ones of other tasks."""
    global _sealed
    for task in tasks:
        for name in names(task):
            _armed.setdefault(name, task)
    _sealed = True


_GATE = "\0grader.forbid.gate"  # compiled as the callee, then replaced by `gate` itself


def _gated_code(function: types.FunctionType, owner: Any, dotted: str) -> types.CodeType:
    """`function`'s code with a call to `gate` first (for a generator function: a plain function
    that calls `gate`, then returns the generator, so the refusal happens at the call). The code
    holds `gate` among its constants rather than finding it through its globals or builtins: a
    copy of the code made with other globals (`types.FunctionType(code, {...})`) still calls it."""
    source = textwrap.dedent(inspect.getsource(function))
    tree = ast.parse(source)
    node = tree.body[0]
    assert isinstance(node, ast.FunctionDef) and node.name == function.__name__
    node.decorator_list = []
    params = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
    params += [a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None]
    call = ast.parse(f"{_GATE!r}({dotted!r}, ({', '.join(params[:1])}{',' if params else ''}))").body
    body = node.body
    if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _own_nodes(node)):
        inner = ast.parse(f"def _gated_body():\n    nonlocal {', '.join(params)}\n    pass\n"
                          if params else "def _gated_body():\n    pass\n").body[0]
        inner.body[-1:] = body
        node.body = call + [inner] + ast.parse("return _gated_body()").body
    else:
        node.body = call + body
    wrapper = tree
    if "__class__" in function.__code__.co_freevars or not isinstance(owner, types.ModuleType):
        wrapper = ast.Module(body=[ast.ClassDef(name=owner.__name__, bases=[], keywords=[],
                                                body=[node], decorator_list=[])], type_ignores=[])
    ast.fix_missing_locations(wrapper)
    ast.increment_lineno(wrapper, function.__code__.co_firstlineno - 1)
    with warnings.catch_warnings():  # calling a str: it is replaced below
        warnings.simplefilter("ignore", SyntaxWarning)
        module = compile(wrapper, function.__code__.co_filename, "exec", dont_inherit=True)
    code = _find_code(module, function.__name__)
    consts = tuple(gate if type(c) is str and c == _GATE else c for c in code.co_consts)
    assert consts.count(gate) == 1, dotted
    return code.replace(co_consts=consts)


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function body, not descending into nested functions, classes or lambdas."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            yield child
            yield from _own_nodes(child)


def _find_code(code: types.CodeType, name: str) -> types.CodeType:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_name == name:
                return const
            found = _find_code_or_none(const, name)
            if found is not None:
                return found
    raise LookupError(name)


def _find_code_or_none(code: types.CodeType, name: str) -> types.CodeType | None:
    try:
        return _find_code(code, name)
    except LookupError:
        return None


def install(trusted_files: Iterable[str], trusted_roots: Iterable[str],
            check_files: Iterable[str] = ()) -> dict[str, types.FunctionType]:
    """Gate every function of every task in this process; returns {dotted name: function}.
    A gated call is allowed when every caller up to a running check (one of `check_files`) is in
    `trusted_files`, under `trusted_roots` or in the standard library."""
    global _trusted_roots
    _trusted_files.update(trusted_files)
    _check_files.update(check_files)
    _trusted_roots = tuple(trusted_roots)
    done: dict[str, types.FunctionType] = {}
    for task in REBUILT:
        for dotted in REBUILT[task]:
            owner_path, name, _ = _split(dotted)
            key = f"{owner_path}.{name}"
            if key in done:
                continue
            owner = _resolve(owner_path)
            function = inspect.getattr_static(owner, name)
            function = getattr(function, "__func__", function)
            if not isinstance(function, types.FunctionType):
                raise TypeError(f"{key} is not a Python function; it cannot be gated")
            function.__code__ = _gated_code(function, owner, key)
            done[key] = function
            for code in (function.__code__, *function.__code__.co_consts):
                if isinstance(code, types.CodeType):
                    _codes[code] = key
    return done

