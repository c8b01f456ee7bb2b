"""Shared helpers for the test suite."""
from __future__ import annotations

import pytest

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
