"""No markdown text is lost on its way to the HTML: every `<...>` an author wrote is shown.

Markdown passes a `<word>` outside a code span through as a raw HTML tag, which the browser then
hides: `"<Class> has no attribute <name>"` reads as `"<Class> has no attribute "`. For every
markdown cell of chapters/, solutions/, exercises/ and appendix/ (and every markdown page), the
text of each `<...>` is taken from the source as a reader should see it (parsed with the book's
own markdown parser, raw HTML switched off), with up to CONTEXT characters of its neighbours,
and must appear in the text of the built page. A solution is checked against the page of its
exercise, which carries the same markdown (tools/release.py copies it).
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

from conftest import toc_pages
from tools import notebooks

ROOT = notebooks.ROOT
CONTEXT = 25  # characters of neighbouring text kept on each side of a `<...>`
ANGLED = re.compile(r"<[^<>\n]+>")
# A link written as HTML (the kit's download link) is markup the author meant, not text to show.
HTML_LINK = re.compile(r"</?a(\s[^<>]*)?>")
# Inline tokens whose text a reader sees as written; any other token (math, images, roles, raw
# HTML) ends a run of text, so a context never spans something rendered differently.
TEXT_TOKENS = {"text", "code_inline"}
SPACE_TOKENS = {"softbreak", "hardbreak"}
TRANSPARENT = {"em_open", "em_close", "strong_open", "strong_close", "link_open", "link_close",
               "s_open", "s_close"}
# Sphinx's smartquotes turn straight quotes and dots into typographic ones outside code.
TYPOGRAPHY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


def _parser(raw_html: bool):
    md = create_md_parser(MdParserConfig(enable_extensions={
        "colon_fence", "dollarmath", "linkify", "substitution", "tasklist"}), RendererHTML)
    if not raw_html:
        md.disable(["html_inline", "html_block"])
    return md


SOURCE_PARSER = _parser(raw_html=False)


def normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(TYPOGRAPHY).replace("\u2026", "...")).strip()


def visible_runs(markdown: str, parser=None) -> list[str]:
    """The runs of inline text a reader should see (by default raw HTML read as text)."""
    runs = []
    for token in (parser or SOURCE_PARSER).parse(markdown):
        if token.type == "fence" or token.type == "code_block":
            continue
        run = ""
        for child in token.children or []:
            if child.type in TEXT_TOKENS:
                run += child.content
            elif child.type in SPACE_TOKENS:
                run += " "
            elif child.type not in TRANSPARENT:
                runs.append(run)
                run = ""
        runs.append(run)
    return [normal(run) for run in runs if run.strip()]


def text_runs(markdown: str) -> list[str]:
    """The runs of inline text that hold a `<...>`, raw HTML read as text."""
    return [run for run in visible_runs(markdown) if ANGLED.search(run)]


def expected_snippets(markdown: str) -> list[str]:
    """Each `<...>` of the source with up to CONTEXT characters of its run on either side."""
    found = []
    for run in text_runs(markdown):
        for m in ANGLED.finditer(run):
            if HTML_LINK.fullmatch(m.group()):
                continue
            found.append(run[max(0, m.start() - CONTEXT):m.end() + CONTEXT].strip())
    return found


def page_text(page_html: str) -> str:
    """The visible text of a page's article (tags removed, entities decoded)."""
    article = re.search(r'<article class="bd-article".*?</article>', page_html, re.S)
    body = article.group() if article else page_html
    body = re.sub(r"<(script|style)\b.*?</\1>", "", body, flags=re.S)
    return normal(html.unescape(re.sub(r"<[^>]+>", "", body)))


def dropped(markdown: str, shown_text: str) -> list[str]:
    """The snippets of `markdown` that `shown_text` does not show."""
    return [s for s in expected_snippets(markdown) if s not in shown_text]


# --- the sources and their pages -------------------------------------------------------------

def markdown_sources() -> list[tuple[Path, str, str]]:
    """(source file, its markdown, the docname of the page that shows it)."""
    built = {name for name, _ in toc_pages()}
    out = []
    for folder in ("chapters", "solutions", "exercises", "appendix"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            page = f"{'exercises' if folder == 'solutions' else folder}/{path.stem}"
            cells = notebooks.read(path).cells
            out += [(path, c.source, page) for c in cells if c.cell_type == "markdown"]
    for path in sorted(ROOT.glob("*.md")) + sorted((ROOT / "appendix").glob("*.md")):
        out.append((path, path.read_text(encoding="utf-8"), str(path.relative_to(ROOT).with_suffix(""))))
    return [(path, md, page) for path, md, page in out if page in built and ANGLED.search(md)]


SOURCES = markdown_sources()
FILES = sorted({path for path, _, _ in SOURCES})


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_every_angled_text_of_the_markdown_is_shown(path, built_book):
    lost = []
    for _, markdown, page in (s for s in SOURCES if s[0] == path):
        shown = page_text((built_book / f"{page}.html").read_text(encoding="utf-8"))
        lost += [f"{page}.html does not show: {s!r}" for s in dropped(markdown, shown)]
    assert not lost, "markdown text lost in the HTML (write it inside a code span):\n" + "\n".join(lost)


# --- the check itself can fail --------------------------------------------------------------

RAW_PARSER = _parser(raw_html=True)  # what the book does with raw HTML


def rendered_text(markdown: str) -> str:
    return normal(html.unescape(re.sub(r"<[^>]+>", "", RAW_PARSER.render(markdown))))


@pytest.mark.parametrize("markdown, lost", [
    ('error `"<Class> has no attribute `<name>`"` when a name is missing', ["<name>"]),
    ("a value of <type> and <b>bold</b> text", ["<type>", "<b>", "</b>"]),
    ("- shape differs: <input shape> from\n  checkpoint", ["<input shape>"]),
])
def test_a_tag_read_as_html_is_reported(markdown, lost):
    missing = dropped(markdown, rendered_text(markdown))
    assert missing and all(any(s in m for m in missing) for s in lost), missing


@pytest.mark.parametrize("markdown", [
    'error ``"<Class> has no attribute `<name>`"`` when a name is missing',
    r"a value of \<type\> and `<b>` in code, a link <https://pytorch.org>, and 1 < 2 > 0",
    "$a < b$ and `x <y>` in code",
])
def test_text_that_is_shown_is_not_reported(markdown):
    assert expected_snippets(markdown)  # there is something to check
    assert dropped(markdown, rendered_text(markdown)) == []


def test_a_link_written_as_html_is_markup_not_text():
    assert expected_snippets('<a href="../kit.zip" download>Download the kit</a> to work.') == []
    assert expected_snippets('<ab> and <a-b> are text') != []
