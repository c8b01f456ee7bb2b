"""Shared helpers for the test suite."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import notebooks

CHAPTERS = notebooks.toc_notebooks("chapters")
SOLUTIONS = notebooks.toc_notebooks("solutions")
EXERCISES = notebooks.toc_notebooks("exercises")
APPENDIX = sorted((notebooks.ROOT / "appendix").glob("*.ipynb"))


def ids(paths):
    return [p.name for p in paths]


@pytest.fixture(scope="session")
def root():
    return notebooks.ROOT


JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


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


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The HTML book, built once from this checkout with warnings as errors, in a private folder."""
    out = tmp_path_factory.mktemp("book")
    run = subprocess.run([str(JUPYTER_BOOK), "build", str(notebooks.ROOT), "--path-output", str(out),
                          "-W", "-n", "--keep-going"], capture_output=True, text=True, timeout=900)
    log = run.stdout + run.stderr
    warnings = [line for line in log.splitlines() if re.search(r"\bWARNING\b|\bERROR\b", line)]
    assert run.returncode == 0 and not warnings, "\n".join(warnings) or log[-3000:]
    return out / "_build" / "html"
