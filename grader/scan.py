"""Read the learner's code before running it: flag the tools that only tampering needs.

Answers to these exercises rebuild torch behaviour with ordinary Python. Reaching into the grader,
the interpreter's frames and hooks, or other processes is never part of an answer, so a learner
cell that names one of these tools scores nothing for the checks that run after it. The grading
kernel also refuses most of them at run time (grader.sandbox); reading the code first gives the
learner a precise message ("line 3 uses sys.modules") instead of a bare failure.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

MODULES = {"gc", "ctypes", "_ctypes", "importlib", "builtins", "inspect", "_thread", "threading",
           "multiprocessing", "subprocess", "signal", "linecache", "IPython", "ipykernel",
           "grader", "nbval", "pytest", "resource", "sysconfig", "site"}
NAMES = {"__import__", "__builtins__", "eval", "exec", "compile", "globals", "get_ipython",
         "breakpoint", "__loader__", "__spec__"}
ATTRIBUTES = {"__closure__", "cell_contents", "__code__", "__globals__", "__defaults__",
              "__kwdefaults__", "__builtins__", "__subclasses__", "f_back", "f_globals",
              "f_locals", "f_builtins", "f_code", "gi_frame", "cr_frame", "ag_frame", "tb_frame",
              "tb_next"}
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


def scan(source: str) -> list[Finding]:
    """Every use of a tampering tool in `source` (a learner cell); [] when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: list[Finding] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [Finding(line, f"import {a.name}") for a in node.names
                      if a.name.split(".")[0] in MODULES]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.split(".")[0] in MODULES:
                found.append(Finding(line, f"from {module} import ..."))
            found += [Finding(line, f"from {module} import {a.name}") for a in node.names
                      if a.name in ATTRIBUTES or a.name in NAMES
                      or (module in ("sys", "os") and a.name in SYS_OS_ATTRIBUTES)]
        elif isinstance(node, ast.Name) and node.id in NAMES:
            found.append(Finding(line, node.id))
        elif isinstance(node, ast.Attribute) and node.attr in ATTRIBUTES:
            found.append(Finding(line, f".{node.attr}"))
        elif (isinstance(node, ast.Attribute) and node.attr in SYS_OS_ATTRIBUTES
              and isinstance(node.value, ast.Name) and node.value.id in ("sys", "os")):
            found.append(Finding(line, f"{node.value.id}.{node.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in STRINGS:
            found.append(Finding(line, f"the string {node.value!r}"))
    return sorted(set(found), key=lambda f: (f.line, f.what))
