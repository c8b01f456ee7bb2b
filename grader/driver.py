"""The program a grading sandbox runs: the grading notebook's cells in one IPython shell.

    python -m grader.driver        (inside the sandbox; the work arrives on stdin)

It starts *warm*: torch and IPython are imported before the grader sends any work, so the
grader can start a sandbox while it is still reading the submission (or while the previous
submission of a batch runs), and a grade does not wait for an interpreter and torch to load.
(At level `bwrap` as root the grader forks each run from a warm server instead, grader.zygote,
which calls `prepare` once and `serve` in each run.)
Then it reads one JSON document from stdin, `{"cells": [source, ...], "cell_timeout": s,
"one_by_one": [number, ...]}`, and runs the cells in order, as a Jupyter kernel runs them for
nbval: every cell runs, whatever the earlier ones did; a cell *passes* when it raises nothing
(its printed output is not compared, as in nbval's lax mode). The learner's cells (numbered in
`one_by_one`) run statement by statement, each statement whatever the earlier ones did. The
first cell is the guard (grader.sandbox), so no learner code runs before it. Before any work
arrives the process also forbids itself new processes (grader.nospawn), so no cell can start a
Python whose torch is not gated.

Each cell's outcome goes to the run's result stream ($GRADER_REPORT) as one `ran` record (what
the cells print goes nowhere: the verdict compares observations, not output); an
`exit` record closes the stream. A stream without it means the process died (`os._exit`, a
kill, the memory limit): the grader records the run as crashed. The shell is IPython's own
(magics such as `%%time` work) with the file names ipykernel gives cells, so a cell's code is
known by the same name it would have in a notebook kernel. Nothing here is a security
boundary: the sandbox around this process is (grader.runner).
"""
from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from grader.sandbox import CpuTimeExceeded

MESSAGE_LIMIT = 500


class CellTimeout(Exception):
    """A cell ran longer than its wall-clock limit (a backstop; CPU limits come first)."""


def _write(record: dict) -> None:
    """Append one record to the result stream; a stream the cells replaced (FIFO, link) is
    neither waited for nor followed, and a failed write only loses the record."""
    path = os.environ.get("GRADER_REPORT")
    if not path:
        return
    line = (json.dumps(record, ensure_ascii=True) + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, line)
    except OSError:
        pass
    finally:
        os.close(fd)


def _shell() -> Any:
    """A plain IPython shell that names cells as ipykernel does and keeps no history file. While
    its `one_by_one` is set, a cell's top-level statements run one by one, each whatever the
    earlier ones did: a learner's cell whose exploring line fails under grading (it calls a
    function the exercise rebuilds, grader.forbid.seal) still defines the functions after it.
    A time limit still ends the whole cell."""
    from ipykernel.compiler import XCachingCompiler
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Shell(InteractiveShell):
        one_by_one = False

        async def run_ast_nodes(self, nodelist: list, cell_name: str,
                                interactivity: str = "last_expr", compiler: Any = compile,
                                result: Any = None) -> bool:
            run = super().run_ast_nodes
            if not self.one_by_one or len(nodelist) < 2:
                return await run(nodelist, cell_name, interactivity, compiler, result)
            failed = False
            for number, node in enumerate(nodelist):
                last = number == len(nodelist) - 1
                if await run([node], cell_name, interactivity if last else "none", compiler, result):
                    failed = True
                    error = result and (result.error_before_exec or result.error_in_exec)
                    if isinstance(error, (CellTimeout, CpuTimeExceeded)):
                        break
            return failed

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "NoColor"
    config.InteractiveShell.xmode = "Plain"
    return Shell.instance(config=config, compiler_class=XCachingCompiler)


def _message(error: BaseException | None) -> str:
    if error is None:
        return "the cell failed"
    try:
        text = f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else type(error).__name__
    except Exception:  # an exception whose str() raises is still a failure
        text = type(error).__name__
    return text[:MESSAGE_LIMIT]


def _on_alarm(signum: int, frame: Any) -> None:
    raise CellTimeout("the cell ran longer than its wall-clock limit")


def run_cells(shell: Any, cells: list[str], cell_timeout: float,
              one_by_one: frozenset[int] = frozenset()) -> None:
    """Run every cell, reporting each one's outcome as a `ran` record; the cells numbered in
    `one_by_one` (the learner's) run statement by statement."""
    signal.signal(signal.SIGALRM, _on_alarm)
    for number, source in enumerate(cells):
        shell.one_by_one = number in one_by_one
        if cell_timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, cell_timeout)
        try:
            result = shell.run_cell(source, store_history=True)
            error = result.error_before_exec or result.error_in_exec
            passed = result.success
        except (CellTimeout, CpuTimeExceeded) as err:  # raised outside the cell's own code
            error, passed = err, False  # (in IPython's machinery)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        timed_out = isinstance(error, CellTimeout)
        _write({"k": "ran", "cell": number, "outcome": "passed" if passed else "failed",
                "message": "" if passed else _message(error), "timeout": timed_out})


def _no_new_processes() -> None:
    """Install grader.nospawn's filter. Where the grader requires it (GRADER_NOSPAWN=required, at
    the sandboxed levels), a machine that refuses it ends the run before it starts."""
    from grader import nospawn
    try:
        nospawn.install()
    except (OSError, RuntimeError) as err:
        if os.environ.get("GRADER_NOSPAWN") == "required":
            print(f"cannot forbid new processes: {err}", file=sys.stderr, flush=True)
            os._exit(4)


def prepare() -> Any:
    """The expensive part, before any work arrives: torch imported, the shell built."""
    import torch  # noqa: F401
    return _shell()


def serve(shell: Any) -> None:
    """Forbid new processes, read the work from stdin, run it and exit (never returns)."""
    _no_new_processes()
    try:
        work = json.loads(sys.stdin.buffer.read())
        cells = [str(c) for c in work["cells"]]
        cell_timeout = float(work.get("cell_timeout", 0))
        one_by_one = frozenset(int(n) for n in work.get("one_by_one", ()))
    except (ValueError, KeyError, TypeError):
        os._exit(3)  # the grader sent nothing usable (it stopped before it sent the work)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    null = os.open(os.devnull, os.O_RDWR)  # the cells read nothing from the grader, and what
    for fd in (0, 1, 2):  # they print is not compared: it never reaches the grader's disk
        os.dup2(null, fd)
    os.close(null)
    run_cells(shell, cells, cell_timeout, one_by_one)
    _write({"k": "exit", "status": 0})
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)  # threads the cells started do not hold the run open


def main() -> None:
    serve(prepare())


if __name__ == "__main__":
    main()
