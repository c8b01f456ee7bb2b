"""Shared helpers and fixtures of the test suite.

Marks (`slow`), scheduling on pytest-xdist workers and `once_per_session` (the `once` fixture)
live in tools/pytest_plugin.py, which pytest.ini loads for every run.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tools import i18n, notebooks

CHAPTERS = notebooks.toc_notebooks("chapters")
SOLUTIONS = notebooks.toc_notebooks("solutions")
EXERCISES = notebooks.toc_notebooks("exercises")
APPENDIX = sorted((notebooks.ROOT / "appendix").glob("*.ipynb"))


BOUND_S = 30  # the longest wait for something that needs well under a second (a process to end)


def settle(condition) -> bool:
    """Poll `condition` until it holds or BOUND_S has passed; return whether it holds. A bound,
    not a measure: a process killed a moment ago may take that moment to end on a busy machine."""
    deadline = time.monotonic() + BOUND_S
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_until(condition, what) -> None:
    """`settle(condition)`, or fail with `what` (a string, or a function that says what is still
    wrong)."""
    if not settle(condition):
        pytest.fail(f"{what() if callable(what) else what} after {BOUND_S} s")


def ids(paths):
    return [p.name for p in paths]


@pytest.fixture(scope="session")
def root():
    return notebooks.ROOT


JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
BOOK_BUILD_TIMEOUT = 900  # seconds; ten times what a build takes on two busy cores


def _entries(items: list, depth: int):
    for item in items or []:
        if "glob" in item:
            raise ValueError(f"_toc.yml: glob entries are not supported by the tests: {item}")
        if "file" in item:
            yield item["file"], depth
        yield from _entries(item.get("sections"), depth + 1)


def toc_pages() -> list[tuple[str, int]]:
    """(docname, depth) in reading order: the root at depth 0, chapters at 1, sections below."""
    data = yaml.safe_load((notebooks.ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [(data["root"], 0)]
    for part in data.get("parts") or [{"chapters": data.get("chapters")}]:
        pages += _entries(part.get("chapters"), 1)
    return [(re.sub(r"\.(md|ipynb)$", "", name), depth) for name, depth in pages]


def build_book(out: Path) -> Path:
    """Build the HTML book from this checkout into `out`, warnings as errors; return the html folder."""
    run = subprocess.run([str(JUPYTER_BOOK), "build", str(notebooks.ROOT), "--path-output", str(out),
                          "-W", "-n", "--keep-going"], capture_output=True, text=True,
                         timeout=BOOK_BUILD_TIMEOUT)
    log = run.stdout + run.stderr
    warnings = [line for line in log.splitlines() if re.search(r"\bWARNING\b|\bERROR\b", line)]
    assert run.returncode == 0 and not warnings, "\n".join(warnings) or log[-3000:]
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def built_book(once) -> Path:
    """The HTML book, built once per run (however many workers ask) in a private folder."""
    return once("book", build_book)


@pytest.fixture(scope="session")
def built_zh_book(once, built_book) -> tuple[int, str]:
    """The Chinese edition, built once per run into built_book/zh_CN: (exit status, build log).

    A build with warnings still writes its pages (--keep-going); tests/test_i18n.py fails on them.
    """
    return once("book_zh", lambda folder: i18n.build(built_book, folder))


@pytest.fixture(scope="session")
def zh_book(built_book, built_zh_book) -> Path:
    """The Chinese edition's HTML folder (inside the English one, as `make book` lays it out)."""
    html = built_book / i18n.ZH_FOLDER
    assert (html / "index.html").exists(), built_zh_book[1][-3000:]
    return html


@pytest.fixture(scope="session")
def english_templates(once) -> Path:
    """The English messages of the current source, extracted once per run (.pot files)."""
    return once("pot", i18n.extract)
