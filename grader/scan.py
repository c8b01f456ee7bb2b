"""Read the learner's code before running it: flag the tools that only tampering needs.

Answers to these exercises rebuild torch behaviour with ordinary Python. Reaching into the grader,
the interpreter's frames and hooks, or other processes is never part of an answer, so a learner
cell that names one of these tools scores nothing for the checks that run after it. The grading
kernel also refuses most of them at run time (grader.sandbox); reading the code first gives the
learner a precise message ("line 3 uses sys.modules") instead of a bare failure.
"""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import Any

MODULES = {"gc", "ctypes", "_ctypes", "importlib", "builtins", "_thread", "threading",
           "multiprocessing", "subprocess", "_posixsubprocess", "signal", "linecache", "IPython",
           "ipykernel", "grader", "nbval", "pytest", "resource", "sysconfig", "site"}
# parts of the modules above that an honest notebook uses (showing a value, a signature)
HARMLESS_MODULES = {"IPython.display", "IPython.core.display"}
NAMES = {"__import__", "__builtins__", "eval", "exec", "compile", "globals", "get_ipython",
         "breakpoint", "__loader__", "__spec__"}
ATTRIBUTES = {"__closure__", "cell_contents", "__code__", "__globals__", "__defaults__",
              "__kwdefaults__", "__builtins__", "__subclasses__", "f_back", "f_globals",
              "f_locals", "f_builtins", "f_code", "gi_frame", "cr_frame", "ag_frame", "tb_frame",
              "tb_next", "__self__", "__import__", "_getframe",
              "settrace", "setprofile", "_current_frames", "addaudithook", "currentframe",
              "getouterframes", "getinnerframes", "getargvalues", "getclosurevars", "fork_exec"}
SYS_OS_ATTRIBUTES = {"modules", "_getframe", "settrace", "setprofile", "gettrace", "getprofile",
                     "addaudithook", "_current_frames", "monitoring", "dup2", "putenv", "system",
                     "popen", "kill", "killpg", "fork", "forkpty", "execv", "execve", "execvp",
                     "spawnv", "posix_spawn"}  # file I/O stays allowed: checkpoints need it
STRINGS = ATTRIBUTES | NAMES | {"grader"}


@dataclass(frozen=True)
class Finding:
    """One use of a tampering tool in a learner cell."""

    line: int
    what: str

    def __str__(self) -> str:
        return f"line {self.line} uses {self.what}"


def scan(source: str, offset: int = 0) -> list[Finding]:
    """Every use of a tampering tool in `source` (a learner cell), read as the kernel reads it:
    IPython's magics and shell escapes are first rewritten into the Python that runs them, and
    the body of a cell magic that runs Python (`%%time`) is read as Python too. A cell that does
    not parse even then cannot run either, and has nothing to flag."""
    try:
        code = _transformer().transform_cell(source)
    except Exception:  # IPython cannot rewrite it: the kernel runs it as it is
        code = source
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    found: list[Finding] = []
    magic_callers: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_shell_method(node.func):
            magic_callers.add(id(node.func.value.func))
            found += _magic(node, offset)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0) + offset
        if isinstance(node, ast.Import):
            found += [Finding(line, f"import {a.name}") for a in node.names
                      if _flagged_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if _flagged_module(module):
                found.append(Finding(line, f"from {module} import ..."))
            found += [Finding(line, f"from {module} import {a.name}") for a in node.names
                      if a.name in ATTRIBUTES or a.name in NAMES
                      or (module in ("sys", "os") and a.name in SYS_OS_ATTRIBUTES)]
        elif isinstance(node, ast.Name) and node.id in NAMES and id(node) not in magic_callers:
            found.append(Finding(line, node.id))
        elif isinstance(node, ast.Attribute) and node.attr in ATTRIBUTES:
            found.append(Finding(line, f".{node.attr}"))
        elif (isinstance(node, ast.Attribute) and node.attr in SYS_OS_ATTRIBUTES
              and _last_name(node.value) in ("sys", "os")):
            found.append(Finding(line, f"{_last_name(node.value)}.{node.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in STRINGS:
            found.append(Finding(line, f"the string {node.value!r}"))
    return sorted(set(found), key=lambda f: (f.line, f.what))


# Magics whose text is Python that runs in the kernel (read like any other code), and magics
# that only show or configure something. Any other magic, and every shell escape (`!ls`), is
# not part of an answer: the grading kernel runs them with IPython's privileges, not the cell's.
PYTHON_MAGICS = {"time", "timeit", "capture", "prun"}
HARMLESS_MAGICS = {"matplotlib", "pinfo", "pinfo2", "precision"}


@functools.lru_cache(maxsize=1)
def _transformer() -> Any:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def _flagged_module(name: str) -> bool:
    return name.split(".")[0] in MODULES and not any(
        name == ok or name.startswith(ok + ".") for ok in HARMLESS_MODULES)


def _last_name(node: ast.AST) -> str | None:
    """'sys' for `sys` and for `os.sys`: the name an attribute chain ends with."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _is_shell_method(func: ast.AST) -> bool:
    """True for `get_ipython().<method>`, the form IPython rewrites magics into."""
    return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"
            and not func.value.args and not func.value.keywords)


def _magic(node: ast.Call, offset: int) -> list[Finding]:
    """What a rewritten magic runs: its Python read like a cell's, anything else flagged."""
    line = node.lineno + offset
    method = node.func.attr
    args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
            for a in node.args]
    if method in ("run_cell_magic", "run_line_magic") and len(args) >= 2 and None not in args:
        name = args[0]
        mark = "%%" if method == "run_cell_magic" else "%"
        if name in HARMLESS_MAGICS and method == "run_line_magic":
            return []
        if name in PYTHON_MAGICS:
            if method == "run_cell_magic" and len(args) == 3:  # the body starts on the next line
                return _python(args[2], line) + _python(_options(args[1]), line - 1)
            return _python(_options(args[1]), line - 1)
        return [Finding(line, f"the magic {mark}{name}")]
    if method in ("system", "getoutput"):
        return [Finding(line, "a shell command (!)")]
    return [Finding(line, f"get_ipython().{method}")]


def _python(text: str, line: int) -> list[Finding]:
    """`text`, the Python a magic runs, read like a cell; flagged when it cannot be read."""
    try:
        ast.parse(_transformer().transform_cell(text))
    except Exception:
        return [Finding(line, "a magic whose code cannot be read as Python")]
    return scan(text, line)


def _options(line: str) -> str:
    """The Python statement of a magic's line, without its leading options (`-n 1 -r 2`)."""
    words = line.lstrip().split(" ")
    while words and words[0].startswith("-"):
        flag = words.pop(0)
        if flag in ("-n", "-r", "-p", "-s", "-T", "-D", "-l", "-o") and words:
            words.pop(0)
    return " ".join(words)
