"""The HTML book builds with zero warnings and shows every page of the table of contents."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import notebooks

JB = Path(sys.executable).parent / "jupyter-book"


def toc_files() -> list[str]:
    toc = yaml.safe_load((notebooks.ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    run = subprocess.run([str(JB), "build", str(notebooks.ROOT), "--path-output", str(out),
                          "-W", "-n", "--keep-going"], capture_output=True, text=True, timeout=900)
    log = run.stdout + run.stderr
    warnings = [line for line in log.splitlines() if re.search(r"\bWARNING\b|\bERROR\b", line)]
    assert run.returncode == 0 and not warnings, "\n".join(warnings) or log[-3000:]
    return out / "_build" / "html"


def test_every_toc_page_is_built(html):
    for name in toc_files():
        assert (html / f"{name}.html").exists(), name


def test_toc_lists_every_notebook_and_nothing_else():
    listed = set(toc_files())
    on_disk = {f"{folder}/{p.stem}" for folder in ("chapters", "exercises", "appendix")
               for p in (notebooks.ROOT / folder).glob("*.ip*nb")} | \
        {f"appendix/{p.stem}" for p in (notebooks.ROOT / "appendix").glob("*.md")}
    assert on_disk <= listed
    for name in listed:
        assert any((notebooks.ROOT / f"{name}{ext}").exists() for ext in (".md", ".ipynb")), name


def test_chapter_outputs_are_in_the_html(html):
    page = (html / "chapters" / "01_parameter.html").read_text(encoding="utf-8")
    assert "13 of 13 behaviours match torch" in page
    assert "a leaf Variable that requires grad is being used in an in-place operation." in page


def test_exercise_page_shows_stubs_and_what_success_looks_like(html):
    page = (html / "exercises" / "01_parameter.html").read_text(encoding="utf-8")
    assert "Exercise 1.1" in page and "BEGIN SOLUTION" not in page
    assert "\u2713" in page and "randomized cases match torch" not in page


def test_download_button_is_offered(html):
    page = (html / "chapters" / "01_parameter.html").read_text(encoding="utf-8")
    assert "01_parameter.ipynb" in page and "btn-download" in page
