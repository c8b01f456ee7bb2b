"""pytest plugin loaded by grading runs (`-p grader.nbval_plugin`), next to nbval.

- writes every cell's result as a JSON line to $GRADER_REPORT, the run's one result stream (nbval's
  `Cell n` = n-th code cell); the grader reads it as data (grader.records.SCHEMA);
- notices a dead kernel at once instead of waiting for the cell timeout;
- bounds the output kept per cell, so a flood of prints cannot exhaust the grader's memory;
- leaves stderr out of the output comparison: warnings never cost points (the grader runs
  nbval in lax mode anyway: verdicts come from observations, not from printed text).
"""
from __future__ import annotations

import json
import os
import re
import time
from queue import Empty

import pytest

OUTPUT_LIMIT = int(os.environ.get("GRADER_OUTPUT_LIMIT", "200000"))
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
POLL = 0.5


class KernelDied(RuntimeError):
    """The kernel process ended while a cell ran (sys.exit from a thread, os._exit, a kill)."""


def _write(record: dict) -> None:
    path = os.environ.get("GRADER_REPORT")
    if path:
        line = (json.dumps(record, ensure_ascii=True) + "\n").encode()
        try:  # a stream the notebook replaced (FIFO, link) is not waited for, nor followed
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                         | os.O_NONBLOCK, 0o600)
        except OSError:
            return
        try:
            os.write(fd, line)
        except OSError:
            pass
        finally:
            os.close(fd)


def _patch_nbval() -> None:
    from nbval import kernel, plugin

    original_get = kernel.RunningKernel.get_message

    def get_message(self, stream, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL if deadline is None else min(POLL, deadline - time.monotonic())
            try:
                return original_get(self, stream, timeout=max(left, 0.01))
            except Empty:
                if not self.is_alive():
                    raise KernelDied("the kernel died (the code exited the process or was killed)")
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    kernel.RunningKernel.get_message = get_message

    original_file_get = plugin.IPyNbFile.get_kernel_message

    def bounded_message(self, timeout=None, stream="iopub"):
        msg = original_file_get(self, timeout=timeout, stream=stream)
        content = msg.get("content", {})
        left = getattr(self, "_grader_output_left", OUTPUT_LIMIT)
        if msg.get("msg_type") == "stream":
            text = content.get("text", "")
            if len(text) > left:
                content["text"] = text[:max(left, 0)] + ("\n[output truncated]\n" if left > 0 else "")
            self._grader_output_left = left - len(text)
        elif msg.get("msg_type") in ("display_data", "execute_result"):
            size = len(json.dumps(content.get("data", {})))
            if size > left:
                content["data"] = {"text/plain": "[output truncated]"}
            self._grader_output_left = left - size
        return msg

    plugin.IPyNbFile.get_kernel_message = bounded_message

    original_runtest = plugin.IPyNbCell.runtest

    def runtest(self):
        self.parent._grader_output_left = OUTPUT_LIMIT
        return original_runtest(self)

    plugin.IPyNbCell.runtest = runtest

    original_compare = plugin.IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        def keep(outputs):
            return [o for o in outputs
                    if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        return original_compare(self, keep(test), keep(ref), skip_compare)

    plugin.IPyNbCell.compare_outputs = compare_outputs


def _summary(text: str) -> str:
    """The line that says why a cell failed: the exception, timeout or output difference."""
    text = ANSI.sub("", text)
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    reason = next((line.split(": ", 1)[1] for line in lines if re.match(r"^Cell \d+: ", line)), "")
    if "Traceback:" in text:
        tail = [line for line in text.split("Traceback:", 1)[1].splitlines() if line.strip()]
        if tail:
            return tail[-1].strip()[:500]
    if reason == "Cell outputs differ":
        diff = [line.strip() for line in lines if line.lstrip().startswith(("+", "-"))]
        return (reason + (": " + " | ".join(diff[:4]) if diff else ""))[:500]
    if reason:
        return reason[:500]
    return (lines[-1] if lines else "failed")[:500]


def pytest_configure(config) -> None:
    _patch_nbval()


def pytest_runtest_logreport(report) -> None:
    match = re.search(r"::Cell (\d+)$", report.nodeid)
    if not match or (report.when != "call" and report.passed):
        return
    text = ANSI.sub("", report.longreprtext or "") if report.failed else ""
    _write({"k": "nbval", "cell": int(match.group(1)), "when": str(report.when),
            "outcome": str(report.outcome), "message": _summary(text) if text else "",
            "timeout": "Timeout of" in text, "died": "kernel died" in text or "Kernel dead" in text})


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus) -> None:
    _write({"k": "exit", "status": int(exitstatus)})
