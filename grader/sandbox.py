"""The guard of a grading kernel: the first cell of every grading notebook, run before learner code.

`python -m grader` runs two kernels per grade. The *reference* kernel runs the pristine solution
and reports what torch did; the *learner* kernel runs the learner's answers with the pristine
checks and reports what the learner's code did. Both report through `compare` (grader.checks),
which hands each case to the guard installed here. The guard

- limits the kernel: address space, CPU time, file size, core dumps, printed output per cell;
- knows every cell of the grading notebook, so it can tell learner code from pristine code by
  the file name IPython compiles each cell under;
- accepts results only from a `compare` called by a pristine check cell through pristine code
  (a learner cell that replaces `compare`, or calls it itself, reports nothing);
- reseeds torch and `random` before every case, so both kernels build the same random cases
  whatever the learner's code consumed;
- snapshots torch, copy, builtins and the grader's own modules and reports any later change
  (a monkeypatch) as tampering;
- refuses the introspection and escape hatches a learner would need to get around the above
  (gc referrer walks, ctypes beyond loading a library, as numpy and matplotlib do on import,
  trace/profile hooks, code-object surgery, subprocesses, signals,
  writing to the installed packages or to the record file) and reports each attempt;
- in the learner's kernel, gives the torch functions each task rebuilds a gated body
  (grader.forbid) before any learner code runs, arms the gate of a task while its check runs,
  and checks that the task's answer names are functions the learner wrote;
- limits each cell's CPU time (a cell over its limit raises `CpuTimeExceeded`).

This kernel runs inside the operating-system sandbox of grader.runner; none of the above is the
boundary. They are a second layer whose reports cost points only for code no honest answer
contains. Torch's side is never computed in the learner's kernel: the grader compares the
reported data with a clean reference kernel's.
"""
from __future__ import annotations

import functools
import os
import random
import resource
import signal
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

from grader import forbid, records

PROTECTED_MODULES = ("builtins", "copy", "random", "torch", "torch.nn", "torch.nn.init",
                     "torch.nn.functional", "torch.nn.parameter", "torch.nn.modules.module",
                     "grader", "grader.checks", "grader.sandbox", "grader.records", "grader.replay",
                     "grader.forbid")
PROTECTED_CLASSES = ("torch.Tensor", "torch.nn.Parameter", "torch.nn.Buffer", "torch.nn.Module")
IPYTHON_BUILTINS = {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__",
                    "input", "raw_input", "getpass"}  # the kernel swaps these for every cell
BLOCKED_EVENTS = frozenset({
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
    "sys.settrace", "sys.setprofile", "code.__new__",
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
})
CLASS_CACHES = frozenset({"__slotnames__"})  # added to classes by copyreg when pickling
CODE_ATTRIBUTES = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
FILE_EVENTS = frozenset({"os.rename", "os.remove", "os.rmdir", "os.truncate", "os.chmod",
                         "os.chown", "os.link", "os.symlink", "shutil.rmtree"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
RECORDS_BUDGET = 64 << 20

_guard: Guard | None = None


def install(config: dict) -> None:
    """Install the guard described by `config` (built by grader.assemble); once per kernel."""
    global _guard
    if _guard is not None:
        raise RuntimeError("the grading guard is already installed")
    _guard = Guard(config)
    _guard.start()


def begin(caller: types.FrameType, task: str, forbid: Iterable[tuple] = ()) -> CheckRun | None:
    """Called by `compare`: a CheckRun when this call must be reported, else None."""
    return None if _guard is None else _guard.begin(caller, task)


class CpuTimeExceeded(BaseException):
    """A cell used more CPU time than its limit (raised in the cell by SIGXCPU). Not an
    Exception: neither a check recording a case's outcome nor an answer's `except Exception`
    takes it for a result, so the whole cell ends rather than its next case starting over the
    limit."""


def _origin(value: Any) -> str | None:
    """The file a callable's code comes from (through partials, methods and __call__)."""
    for _ in range(6):
        if isinstance(value, functools.partial):
            value = value.func
        elif isinstance(value, (types.MethodType, staticmethod, classmethod)):
            value = value.__func__
        elif isinstance(value, types.FunctionType):
            inner = _decorated(value)
            if inner is None:
                return value.__code__.co_filename
            value = inner  # a decorator's wrapper (`@torch.no_grad()`): the code it wraps
        elif isinstance(value, type):
            if value.__module__ != "__main__":
                return None
            codes = [v.__code__ for v in vars(value).values() if isinstance(v, types.FunctionType)]
            return codes[0].co_filename if codes else "<class>"
        else:
            call = getattr(type(value), "__call__", None)
            if call is None or isinstance(call, (types.WrapperDescriptorType, types.MethodWrapperType)):
                return None
            value = call
    return None


def _own_text(filename: str, source: Any) -> bool:
    """True when `source` is the text of the file `filename` (compiling a module's own code
    under its own name, as importing it does, is harmless)."""
    if not isinstance(source, (str, bytes)) or not os.path.isfile(filename):
        return False
    try:
        with open(filename, "rb") as f:
            text = f.read()
    except OSError:
        return False
    return text == (source.encode() if isinstance(source, str) else source)


def _decorated(function: types.FunctionType) -> Any:
    """The function a decorator's wrapper calls, when `function` is one: its `__wrapped__`, and
    only when its closure holds that very object (the wrapper calls what it wraps), so a
    `__wrapped__` attribute set by hand on someone else's function is not followed."""
    inner = getattr(function, "__wrapped__", None)
    cells = function.__closure__ or ()
    if inner is None or not any(_content(cell) is inner for cell in cells):
        return None
    return inner


def _content(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


class CheckRun:
    """One `compare` call of a pristine check cell: reseeds, records and watches forbidden calls."""

    def __init__(self, guard: Guard, check: int, task: str, call: int,
                 allowed: frozenset[str] = frozenset()) -> None:
        self.guard, self.check, self.task, self.call, self.allowed = guard, check, task, call, allowed
        self.learner = guard.role == "learner"
        self._armed: Any = None

    def before(self, index: int) -> None:
        """Reseed every random generator a case may draw from, the same way in both kernels."""
        seed = (self.guard.seed * 1_000_003 + self.check * 10_007 + self.call * 101 + index) % (1 << 62)
        random.seed(seed)
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.manual_seed(seed)
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            numpy.random.seed(seed % (1 << 32))

    def record(self, index: int, label: Any, got: tuple, want: tuple) -> None:
        """Report this kernel's side of one case as data."""
        value = got if self.learner else want
        self.guard.write({"k": "case", "check": self.check, "call": self.call, "case": index,
                          "label": str(label)[:300], "value": records.encode(value)})

    def finish(self, count: int) -> None:
        self.guard.write({"k": "end", "check": self.check, "call": self.call, "cases": count})

    def __enter__(self) -> CheckRun:
        if self.learner:
            self._armed = forbid.armed(self.task, self.allowed)
            self._armed.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._armed is not None:
            self._armed.__exit__(None, None, None)
            self._armed = None


class Guard:
    """State of the guard inside one grading kernel."""

    def __init__(self, config: dict) -> None:
        self.role = config["role"]
        self.seed = int(config["seed"])
        self.records_path = os.path.abspath(config["records"])
        self.fd = os.open(self.records_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.written = 0
        self.limits = config.get("limits", {})
        self.roots = tuple(os.path.abspath(r).rstrip(os.sep) + os.sep for r in config["roots"])
        self.answer_names: dict[str, list[str]] = config.get("answer_names", {})
        self.check_files: dict[str, tuple[int, str]] = {}
        self.check_sources: dict[str, tuple[int, str]] = {}
        self.trusted_files: set[str] = set()
        self.trusted_sources: set[str] = set()
        self.learner_files: set[str] = set()
        self.current: tuple[int, str] | None = None
        self.calls = 0
        self.gated: dict[int, str] = {}  # id of a gated torch function -> its dotted name
        self.snapshot: dict[tuple[str, str], tuple[dict, Any]] = {}
        self.class_keys: dict[str, tuple[dict, frozenset]] = {}
        self.reported: set[str] = set()
        self.bound: dict[str, Any] = {}  # answer names as the learner's cells left them
        self.output_left = 0
        from IPython import get_ipython  # the kernel's shell; absent outside a kernel
        self.shell = get_ipython()
        if self.shell is None:
            raise RuntimeError("the grading guard runs inside an IPython kernel")
        name = self.shell.compile.get_code_name
        self.tasks = {cell["task"] for cell in config["cells"] if cell.get("task")}
        for cell in config["cells"]:
            source, kind = cell["source"], cell["kind"]
            filename = name(source, source, 0)
            if kind == "check":
                self.check_files[filename] = self.check_sources[source] = (cell["check"], cell["task"])
            elif kind in ("guard", "setup"):
                self.trusted_files.add(filename)
                self.trusted_sources.add(source)
            else:
                self.learner_files.add(filename)

    # -- installation ------------------------------------------------------------------------

    def start(self) -> None:
        self.write({"k": "hello", "role": self.role})
        self._limit()
        self._bound_output()
        if self.role == "learner":
            self._gate()
        self._take_snapshot()
        self.shell.events.register("pre_run_cell", self._pre_run_cell)
        self.shell.events.register("post_run_cell", self._post_run_cell)
        sys.addaudithook(self._audit)

    def _gate(self) -> None:
        """Give the torch functions the tasks rebuild their gated bodies (grader.forbid)."""
        import torch

        roots = (os.path.dirname(torch.__file__) + os.sep,
                 os.path.dirname(os.path.abspath(forbid.__file__)) + os.sep)
        gated = forbid.install(self.trusted_files, roots, self.check_files)
        forbid.seal(self.tasks)
        self.gated = {id(function): name for name, function in gated.items()}
        forbid.on_refusal = self.refused

    def _limit(self) -> None:
        limits = self.limits
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if limits.get("memory"):
            resource.setrlimit(resource.RLIMIT_AS, (limits["memory"], limits["memory"]))
        if limits.get("cpu"):
            resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu"], limits["cpu"]))
        if limits.get("cell_cpu"):
            signal.signal(signal.SIGXCPU, self._over_cpu)
        if limits.get("fsize"):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails, not the kernel
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize"], limits["fsize"]))

    def _cell_cpu(self) -> None:
        """Let the next cell use `cell_cpu` more CPU-seconds (SIGXCPU at the soft limit)."""
        seconds = self.limits.get("cell_cpu")
        if not seconds:
            return
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        want = int(usage.ru_utime + usage.ru_stime + seconds) + 1
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (want, hard))

    def _over_cpu(self, signum: int, frame: Any) -> None:
        seconds = self.limits.get("cell_cpu")
        self.write({"k": "limit", "what": f"a cell used more than {seconds:g} CPU-seconds"})
        raise CpuTimeExceeded(f"this cell used more than {seconds:g} CPU-seconds")

    def _bound_output(self) -> None:
        """Cap what one cell may print; the rest is dropped with one notice."""
        per_cell = self.limits.get("output", 0)
        if not per_cell:
            return
        self.output_left = per_cell
        for stream in (sys.stdout, sys.stderr):
            write = stream.write

            def bounded(text: str, write: Callable[[str], int] = write) -> int:
                left = self.output_left
                if left <= 0:
                    return len(text)
                if len(text) > left:
                    self.output_left = 0
                    write(text[:left] + f"\n[output truncated: more than {per_cell} characters]\n")
                    return len(text)
                self.output_left = left - len(text)
                return write(text)

            stream.write = bounded

    # -- records -----------------------------------------------------------------------------

    def write(self, record: dict) -> None:
        line = records.dumps(record)
        if self.written + len(line) > RECORDS_BUDGET:
            return
        self.written += len(line)
        os.write(self.fd, line)

    def tamper(self, what: str) -> None:
        if what not in self.reported:
            self.reported.add(what)
            self.write({"k": "tamper", "check": self.current[0] if self.current else None,
                        "what": what})

    # -- who wrote this code? ----------------------------------------------------------------

    def is_learner(self, filename: str) -> bool:
        """True for code from a learner cell, or from anywhere not known to be pristine."""
        if filename in self.learner_files:
            return True
        if filename in self.trusted_files or filename in self.check_files:
            return False
        return not (filename.startswith(self.roots) or filename.startswith("<frozen "))

    # -- snapshot of what learner code must not change ---------------------------------------

    def _protected(self) -> Iterable[tuple[str, dict, bool]]:
        for name in PROTECTED_MODULES:
            module = sys.modules.get(name)
            if module is not None:
                yield name, vars(module), False
                yield f"sys.modules[{name!r}]", {name: module}, False
        nn = sys.modules.get("torch.nn")
        classes = [vars(nn)[k] for k in sorted(vars(nn)) if isinstance(vars(nn)[k], type)] if nn else []
        for path in PROTECTED_CLASSES:
            owner, _, attr = path.rpartition(".")
            module = sys.modules.get(owner)
            if module is not None and isinstance(getattr(module, attr, None), type):
                classes.append(getattr(module, attr))
        for cls in classes:
            if cls.__module__.startswith("torch"):
                yield f"{cls.__module__}.{cls.__qualname__}", cls.__dict__, True

    def _take_snapshot(self) -> None:
        """Remember the current value of every protected name not yet remembered."""
        for label, space, is_class in self._protected():
            for key in list(space):
                if label == "builtins" and key in IPYTHON_BUILTINS:
                    continue
                self.snapshot.setdefault((label, key), (space, space[key]))
            if is_class and label not in self.class_keys:
                self.class_keys[label] = (space, frozenset(space))
        modules = sys.modules
        self.snapshot.setdefault(("sys", "modules"), ({"modules": modules}, modules))

    def verify(self) -> None:
        """Report every protected name whose value changed since the snapshot."""
        missing = object()
        for (label, key), (space, value) in list(self.snapshot.items()):
            current = space.get(key, missing)
            if current is value:
                continue
            if getattr(current, "__wrapped__", missing) is value:  # torch decorating its own
                self.snapshot[(label, key)] = (space, current)  # function (e.g. for dynamo)
                continue
            name = label if label.startswith("sys.") else f"{label}.{key}"
            self.tamper(f"{name} was replaced or deleted")
        for label, (space, keys) in self.class_keys.items():
            added = set(space) - keys - CLASS_CACHES
            if added:
                self.tamper(f"{label}.{sorted(added)[0]} was added")

    # -- cells -------------------------------------------------------------------------------

    def _pre_run_cell(self, info: Any) -> None:
        self._cell_cpu()
        self.output_left = self.limits.get("output", 0)
        self.current = self.check_sources.get(info.raw_cell)
        self.calls = 0
        if self.current:
            self.verify()  # what earlier cells changed; a check's own patches are its business
            self.write({"k": "cell", "check": self.current[0], "task": self.current[1]})
            CheckRun(self, self.current[0], self.current[1], -1).before(0)

    def _post_run_cell(self, result: Any) -> None:
        source = result.info.raw_cell if result.info is not None else None
        if not self.current and source not in self.trusted_sources:  # a learner cell
            names = {n for names in self.answer_names.values() for n in names}
            self.bound = {n: self.shell.user_ns.get(n) for n in names}
        if self.current:
            self.verify()
            self.write({"k": "done", "check": self.current[0]})
        elif source in self.trusted_sources:
            self._take_snapshot()
        self.current = None

    # -- compare -----------------------------------------------------------------------------

    def begin(self, caller: types.FrameType, task: str) -> CheckRun | None:
        if self.current is None:
            return None
        frame: types.FrameType | None = caller
        while frame is not None:  # up to the running check cell, through pristine code only
            filename = frame.f_code.co_filename
            if self.check_files.get(filename) == self.current:
                break
            if self.is_learner(filename):
                self.write({"k": "untrusted", "line": frame.f_lineno,
                            "what": "compare was called from learner code"})
                return None
            frame = frame.f_back
        if frame is None:
            return None
        check, cell_task = self.current
        if task != cell_task:
            return None
        if self.role == "learner":
            self._check_answer_names(frame.f_globals, task)
            self._attribute_returns(frame.f_globals)
        self.calls += 1
        return CheckRun(self, check, task, self.calls - 1, self._stand_ins(frame.f_globals))

    def _check_answer_names(self, namespace: dict, task: str) -> None:
        for name in self.answer_names.get(task, []):
            if name not in namespace:
                continue
            origin = _origin(namespace[name])
            if origin is None or not (self.is_learner(origin) or origin == "<class>"):
                value = namespace[name]
                shown = getattr(value, "__qualname__", type(value).__name__)
                self.write({"k": "violation", "check": self.current[0], "task": task,
                            "what": f"`{name}` is {shown}, not code written in your answer"})

    def _attribute_returns(self, namespace: dict) -> None:
        """Every answer function the learner wrote (of any task: answers call each other)
        returns its iterators as the learner's (grader.forbid.learner_returns)."""
        for names in self.answer_names.values():
            for name in names:
                value = namespace.get(name)
                if isinstance(value, types.FunctionType):
                    value = _decorated(value) or value  # `@torch.no_grad()`: the code it wraps
                if isinstance(value, types.FunctionType) and self.is_learner(value.__code__.co_filename) \
                        and id(value) not in self.gated:
                    forbid.learner_returns(value)

    def _stand_ins(self, namespace: dict) -> frozenset[str]:
        """Gated torch functions the check itself bound to an answer name (e.g. torch's
        named_modules standing in for the learner's while another task is checked)."""
        out = set()
        for name, value in self.bound.items():
            current = namespace.get(name)
            if current is not value and id(current) in self.gated:
                out.add(self.gated[id(current)])
        return frozenset(out)

    def refused(self, name: str, task: str) -> None:
        """Called by grader.forbid when the gate refuses a call: during a check, reported as a
        violation; outside one (a statement at a cell's top level), noted once per function, so
        the grade can say why that statement did not run."""
        if self.current is not None:
            self.write({"k": "violation", "check": self.current[0], "task": task,
                        "what": f"your code calls {name}"})
        elif f"refused {name}" not in self.reported:
            self.reported.add(f"refused {name}")
            self.write({"k": "refused", "task": task, "name": name})

    # -- audit hook --------------------------------------------------------------------------

    def _audit(self, event: str, args: tuple) -> None:
        if event in BLOCKED_EVENTS or (event.startswith("ctypes.") and event != "ctypes.dlopen"):
            what = event
        elif event in ("object.__setattr__", "object.__delattr__"):
            if len(args) < 2 or args[1] not in CODE_ATTRIBUTES:
                return
            what = f"setting {args[1]}"
        elif event == "open" and len(args) == 3 and isinstance(args[0], (str, bytes)):
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & WRITE_FLAGS)
            if not writing or not self._protected_path(path):
                return
            what = f"writing {os.fsdecode(path)}"
        elif event == "compile" and len(args) == 2:
            name = os.fsdecode(args[1]) if isinstance(args[1], (str, bytes)) else None
            if name is None or not forbid.pristine(name) or _own_text(name, args[0]):
                return
            what = f"compiling code under the name {name}"  # the gate would trust it
        elif event in FILE_EVENTS:
            paths = [a for a in args[:2] if isinstance(a, (str, bytes))]
            if not any(self._protected_path(path) for path in paths):
                return
            what = f"{event} on {os.fsdecode(paths[0])}"
        else:
            return
        frame = sys._getframe(1)
        if what.startswith("setting "):  # libraries do it on import (namedtuple, pyparsing):
            if self.is_learner(frame.f_code.co_filename):  # only learner code's own is refused
                self._refuse(what)
            return
        while frame is not None and forbid.stdlib(frame.f_code.co_filename):
            frame = frame.f_back  # the standard library acts for whoever called it
        if frame is not None and self.is_learner(frame.f_code.co_filename):
            self._refuse(what)  # libraries (matplotlib runs fc-list) may; learner code may not

    def _protected_path(self, path: str | bytes) -> bool:
        path = os.path.abspath(os.fsdecode(path))
        return path == self.records_path or (path + os.sep).startswith(self.roots)

    def _refuse(self, what: str) -> None:
        self.tamper(f"{what} is not allowed while grading")
        raise PermissionError(f"{what} is not allowed while grading")
