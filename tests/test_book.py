"""The HTML book builds with zero warnings and shows every page of the table of contents."""
from __future__ import annotations

import pytest

from conftest import toc_pages
from tools import notebooks


def toc_files() -> list[str]:
    return [name for name, _ in toc_pages()]


@pytest.fixture(scope="module")
def html(built_book):
    return built_book


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
