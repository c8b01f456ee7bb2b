"""The built book works in a real browser: Debian's Chromium, driven by Playwright.

The book is built into a temporary directory and served on 127.0.0.1. Every page of `_toc.yml` must
load without console errors, uncaught exceptions, failed local requests or requests to the
internet; its internal links, fragments and images must resolve. The Next links must walk every
page in order, the sidebar of each page must show every chapter (a click on a link opens its
page), a section page must open from its chapter's sidebar, search must find
`named_parameters`, and code cells and their outputs must be visible. Each page is opened once per
width (one tab, resized, opens them all, so shared files come from its cache, as in a reader's
browser), and every per-page test reads that one visit; the Next-link walk reads those visits.
At a phone's width (390 px) and a desktop's (1280 px) no page scrolls sideways outside its code
blocks, every table fits, every figure shows one variant whose smallest text is at least 9 CSS
px, and figures turn dark with the book's dark theme. Screenshots at both widths (and one in the
dark theme) are saved to `test-artifacts/`.

The Chinese edition (in `zh_CN/` of the same site) loads without errors and with resolving links
on every page, its search finds 张量 and `named_parameters`, and the language switch in the header
leads from every page to the same page in the other language and back, at both widths.

The browser is `$BOOK_CHROMIUM` (default /usr/bin/chromium; `.ci/run` installs it). Without it
these tests are skipped, except under CI=true, where they fail.
"""
from __future__ import annotations

import contextlib
import functools
import html
import html.parser
import http.server
import os
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest

from conftest import toc_pages
from tools import i18n

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("BOOK_CHROMIUM", "/usr/bin/chromium")
# No host name resolves but 127.0.0.1, where the book is served: the browser itself keeps every
# request to the internet from leaving (each is still seen, and reported as a problem, by Tab).
# Playwright's request interception would do the same from Python, but it turns the HTTP cache off
# and sends every request through the driver: a page then cost about twice the CPU time.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
VIEWPORT = {"width": 1280, "height": 900}
WIDTHS = [390, 1280]  # a phone and a desktop, in CSS px
MIN_FIGURE_TEXT = 9  # CSS px
TIMEOUT_MS = 300_000  # a bound, not a measure: a full-page screenshot took over 15 s on 2 busy cores
SEARCH_TERM = "named_parameters"
IDLE_MS = 20_000  # the longest wait for a page's last requests to end after its load event


# --- the table of contents ------------------------------------------------------------------

PAGES = [name for name, _ in toc_pages()]
CHAPTERS = [name for name, depth in toc_pages() if depth == 1]


def _sections() -> list[tuple[str, str]]:
    """(section page, the page it is listed under) for every page below a chapter."""
    found, above = [], {}
    for name, depth in toc_pages():
        above[depth] = name
        if depth > 1:
            found.append((name, above[depth - 1]))
    return found


SECTIONS = _sections()
# The language switch is clicked there and back on one page of each kind (the front page, a
# chapter, a section page, an exercise, an appendix page), at both widths; tests/test_i18n.py
# checks every page's switch target in the built HTML of both editions.
ROUND_TRIPS = [PAGES[0], CHAPTERS[0], SECTIONS[0][0],
               next(p for p in PAGES if p.startswith("exercises/")),
               next(p for p in PAGES if p.startswith("appendix/"))]


# --- browser, book and server ---------------------------------------------------------------

def _no_browser(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true, so the browser test must run (see .ci/run)", pytrace=False)
    pytest.skip(f"{reason}; the browser test is skipped")


@pytest.fixture(scope="module")
def playwright_api():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        _no_browser(f"Playwright for Python is not installed ({err})")
    if not os.access(CHROMIUM, os.X_OK):
        _no_browser(f"no Chromium at {CHROMIUM} (set BOOK_CHROMIUM or apt-get install chromium)")
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="module")
def browser(playwright_api):
    browser = playwright_api.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def html_dir(playwright_api, built_book, zh_book):
    """The book, built once for the session into a private directory (never the shared _build),
    with its Chinese edition in zh_CN/ as `make book` lays it out (every page links to it)."""
    return built_book


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        # Browsers ask for /favicon.ico on their own; the book declares no favicon, so that request
        # is not one of the book's links. Anything the book does reference is served as it is.
        if self.path == "/favicon.ico" and not Path(self.directory, "favicon.ico").exists():
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()


@contextlib.contextmanager
def _serve(directory: Path):
    """Base URL of a folder served on loopback only."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(directory)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def site(html_dir):
    """Base URL of the built book."""
    with _serve(html_dir) as base:
        yield base


class Tab:
    """A page in a fresh browser context that records everything that went wrong on it (since the
    last `inspect`, which starts the record afresh)."""

    def __init__(self, browser, base: str, width: int = VIEWPORT["width"], scheme: str = "light"):
        self.base = base
        self.origin = urlsplit(base).netloc
        self.errors: list[str] = []  # console errors and uncaught exceptions
        self.failed: list[str] = []  # requests to 127.0.0.1 that failed or got an HTTP error
        self.external: list[str] = []  # requests for anything but 127.0.0.1 (they cannot resolve)
        self.context = browser.new_context(viewport={**VIEWPORT, "width": width}, color_scheme=scheme)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.pending: set = set()  # requests sent and not yet answered
        self.page = self.context.new_page()
        self.page.on("request", self._request)
        self.page.on("requestfinished", self._request_finished)
        self.page.on("console", self._console)
        self.page.on("pageerror", self._page_error)
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)

    def local(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and parts.netloc == self.origin

    def _request(self, request):
        self.pending.add(request)
        url = request.url
        if url.startswith(("http:", "https:", "ws:", "wss:")) and not self.local(url):
            self.external.append(f"{url} (from {self.page.url})")

    def _page_error(self, err):
        self.errors.append(f"uncaught exception on {self.page.url}: {err}")

    def _console(self, msg):
        if msg.type != "error":
            return
        source = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource") and source and not self.local(source):
            return  # a request to the internet, which cannot resolve: reported in `external`
        self.errors.append(f"console error on {self.page.url}: {msg.text} ({source})")

    def _request_finished(self, request):
        self.pending.discard(request)

    def _request_failed(self, request):
        self.pending.discard(request)
        if self.local(request.url):
            self.failed.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response):
        if self.local(response.url) and response.status >= 400:
            self.failed.append(f"HTTP {response.status}: {response.url}")

    def goto(self, path: str):
        """Open a page and wait until it has loaded, what its scripts scheduled right after has
        run (two turns of its task queue) and every request it sent has been answered; a page
        that forwards to another (the front door) is followed. Playwright's "networkidle" would
        then wait for half a second without a request, on every page; the book's pages send
        none after their load event. After IDLE_MS the page is inspected as it is."""
        self.pending.clear()
        self.page.goto(urljoin(self.base, path), wait_until="load")
        deadline = time.monotonic() + IDLE_MS / 1000
        while True:
            try:
                self.page.evaluate(TWO_TURNS)
            except Exception as err:  # playwright's Error: the page went on to another (a redirect)
                if "context was destroyed" not in str(err):
                    raise
                self.page.wait_for_load_state("load")
                continue
            if not self.pending or time.monotonic() > deadline:
                return
            self.page.wait_for_timeout(50)

    def inspect(self, path: str, width: int | None = None) -> dict:
        """Open a page (at `width`, if given), let it settle (its fonts too), and return what a
        test needs to know about it: its content and links, its layout at this tab's width,
        what went wrong there. The record of problems starts on a blank page, so nothing the
        previous page did (a request cut short by leaving it) counts against this one."""
        self.page.goto("about:blank")
        if width is not None:
            self.page.set_viewport_size({**VIEWPORT, "width": width})
        for record in (self.errors, self.failed, self.external):
            record.clear()
        self.goto(path)
        self.page.evaluate("document.fonts.ready.then(() => true)")
        return {"url": self.page.url,
                "lang": self.page.evaluate("document.documentElement.lang"),
                "next": self.page.evaluate(NEXT_LINK),
                "sidebar": set(self.page.evaluate(SIDEBAR_LINKS)),
                "heading": self.page.locator("article.bd-article h1").first.is_visible(),
                "links": self.page.evaluate(COLLECT_LINKS),
                "ids": set(self.page.evaluate(COLLECT_IDS)),
                "cells": {part: self.page.evaluate(CELL_BLOCKS, selector)
                          for part, selector in CELL_PARTS.items()},
                "overflow": self.page.evaluate(OVERFLOW),
                "tables": self.page.evaluate(TABLES),
                "figures": self.page.evaluate(FIGURES),
                "problems": self.problems()}

    def problems(self, everything: bool = True) -> list[str]:
        """Failed local requests; with `everything`, also requests to the internet and JS errors."""
        found = list(self.failed)
        if everything:
            found += [f"request to the internet: {url}" for url in self.external] + self.errors
        return found

    def assert_clean(self, everything: bool = True):
        problems = self.problems(everything)
        assert not problems, "\n".join(problems)

    def close(self):
        self.context.close()


@pytest.fixture
def tab(browser, site):
    tab = Tab(browser, site)
    yield tab
    tab.close()


def _looks(browser, base: str):
    """(width, docname) -> what a browser saw on that page of the site at `base` at that width
    (`Tab.inspect`); each page is opened once per width, and every test of that page reads it.
    One tab opens them all, resized to each width, as a reader's browser would: a file that
    several pages load (the theme's scripts, fonts and styles) comes from its cache after the
    first page."""
    seen, tab = {}, Tab(browser, base)

    def look(width: int, docname: str) -> dict:
        if (width, docname) not in seen:
            seen[width, docname] = tab.inspect(f"{docname}.html", width)
        return seen[width, docname]
    yield look
    tab.close()


@pytest.fixture(scope="module")
def look(browser, site):
    yield from _looks(browser, site)


@pytest.fixture(scope="module")
def visit(look):
    """docname -> what a browser saw on that page at the desktop width."""
    return lambda docname: look(VIEWPORT["width"], docname)


def url_of(base: str, docname: str) -> str:
    return urljoin(base, f"{docname}.html")


# --- what is collected from each page -------------------------------------------------------

COLLECT_LINKS = """() => [
  ...[...document.querySelectorAll('a[href]')].map(a => ({
      kind: 'link', raw: a.getAttribute('href'), url: a.href, ok: true})),
  ...[...document.querySelectorAll('img[src]')].map(img => ({
      kind: 'image', raw: img.getAttribute('src'), url: img.currentSrc || img.src,
      ok: img.loading === 'lazy' || (img.complete && img.naturalWidth > 0)})),
]"""

TWO_TURNS = "() => new Promise(done => setTimeout(() => setTimeout(done)))"

NEXT_LINK = "() => document.querySelector('a.right-next')?.href ?? null"

SIDEBAR_LINKS = """() => [...document.querySelectorAll('nav.bd-docs-nav a')]
  .filter(a => a.getClientRects().length && a.checkVisibility({visibilityProperty: true}))
  .map(a => a.href.split('#')[0])"""

COLLECT_IDS = """() => [...document.querySelectorAll('[id], a[name]')].map(e => e.id || e.name)"""

# Code inputs and outputs, except those a cell tag folds away on purpose.
CELL_PARTS = {"cell_input": ".cell:not(.tag_hide-input, .tag_hide-cell) > .cell_input",
              "cell_output": ".cell:not(.tag_hide-output, .tag_hide-cell) > .cell_output"}

CELL_BLOCKS = """selector => [...document.querySelectorAll(selector)].map(el => {
  const box = el.getBoundingClientRect();
  return {shown: el.checkVisibility({opacityProperty: true, visibilityProperty: true}),
          width: Math.round(box.width), height: Math.round(box.height),
          text: el.innerText.trim().length,
          media: el.querySelectorAll('img, svg, canvas, table, iframe').length};
})"""


@functools.lru_cache(maxsize=None)
def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def ids_in(url: str) -> frozenset[str]:
    """Ids in another page's HTML (the page's own ids come from the live DOM instead)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        parser = _Ids()
        parser.feed(response.read().decode("utf-8", "replace"))
        return frozenset(parser.ids)


def article_text(html_dir: Path, docname: str) -> str:
    """The text of a page's own content (not the sidebar or the prev/next links)."""
    page = (html_dir / f"{docname}.html").read_text(encoding="utf-8")
    article = re.search(r'<article class="bd-article".*?</article>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", article.group() if article else ""))


# --- the tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("docname", PAGES)
def test_page_loads_without_errors(visit, site, docname):
    seen = visit(docname)
    assert seen["url"] == url_of(site, docname) and seen["lang"] == "en"
    assert not seen["problems"], "\n".join(seen["problems"])
    assert seen["heading"], "no visible heading"


def test_a_request_to_the_internet_is_a_problem_and_does_not_load(browser, tmp_path):
    """What the page tests rely on: a page that asks the internet for anything is reported, and
    (no host but 127.0.0.1 resolves) gets nothing. A second page starts with a clean record."""
    (tmp_path / "out.html").write_text(
        '<!doctype html><html lang="en"><body><h1>out</h1><img src="https://example.com/p.png">'
        '<script src="http://cdn.example.org/lib.js"></script></body></html>')
    (tmp_path / "in.html").write_text('<!doctype html><html lang="en"><body><h1>in</h1></body></html>')
    with _serve(tmp_path) as base:
        tab = Tab(browser, base)
        try:
            out, inside = tab.inspect("out.html"), tab.inspect("in.html")
        finally:
            tab.close()
    assert [p.split(" (from")[0] for p in out["problems"]] == [
        "request to the internet: https://example.com/p.png",
        "request to the internet: http://cdn.example.org/lib.js"], out["problems"]
    assert [link["ok"] for link in out["links"] if link["kind"] == "image"] == [False]
    assert inside["problems"] == [] and inside["url"] == base + "in.html"


@pytest.mark.parametrize("docname", PAGES)
def test_internal_links_and_images_resolve(visit, site, docname):
    broken = broken_links(visit(docname), site)
    assert not broken, f"on {docname}.html:\n" + "\n".join(broken)


def broken_links(seen: dict, site: str) -> list[str]:
    """The links and images of a visited page that do not resolve on the site."""
    here = urldefrag(seen["url"]).url
    broken = []
    for item in seen["links"]:
        target, fragment = urldefrag(item["url"])
        what = f"{item['kind']} {item['raw']!r}"
        if not (target.startswith(site) or target.startswith("data:")):
            continue  # not followed; a page that fetches from the internet fails the test above
        if not item["ok"]:
            broken.append(f"{what}: the browser could not display it")
        if target.startswith("data:"):
            continue
        status = http_status(target)
        if status != 200:
            broken.append(f"{what}: HTTP {status} for {target}")
            continue
        fragment = unquote(fragment)
        if fragment and target.endswith(".html"):
            ids = seen["ids"] if target == here else ids_in(target)
            if fragment not in ids:
                broken.append(f"{what}: no element with id {fragment!r} in {target}")
    return broken


@pytest.mark.parametrize("docname", PAGES)
def test_code_cells_and_outputs_are_visible(visit, docname):
    cells = visit(docname)["cells"]
    for part, blocks in cells.items():
        bad = [f"{part} #{i + 1}: {b}" for i, b in enumerate(blocks)
               if not (b["shown"] and b["width"] > 100 and b["height"] > 5
                       and (b["text"] or b["media"]))]
        assert not bad, "invisible or empty:\n" + "\n".join(bad)
    if docname.startswith("chapters/"):
        assert cells["cell_input"] and cells["cell_output"], "a chapter without code outputs"


def test_the_front_door_opens_the_book_and_a_sidebar_link_its_page(tab, site):
    """The sidebar of every page lists every chapter (checked on the Next-link walk below);
    here a click on one of its links opens that page."""
    tab.goto("")  # the site's front door: index.html forwards to the root page
    tab.page.wait_for_url(url_of(site, PAGES[0]))
    _open_from_sidebar(tab, site, CHAPTERS[-1])
    tab.assert_clean()


def _open_from_sidebar(tab, site, docname: str) -> None:
    """Click the visible sidebar link of the open page to `docname`; it must show the page."""
    expected, here = url_of(site, docname), tab.page.url
    links = [link for link in tab.page.locator("nav.bd-docs-nav a").all()
             if urldefrag(link.evaluate("a => a.href")).url == expected]
    assert links, f"the sidebar on {here} has no link to {docname}"
    assert links[0].is_visible(), f"the sidebar link to {docname} is hidden on {here}"
    links[0].click()
    tab.page.wait_for_url(expected)
    assert tab.page.locator("article.bd-article h1").first.is_visible(), docname


def test_sidebar_shows_each_section_under_its_chapter(tab, site):
    """A section page is folded away in the sidebar until its chapter is open: from there, the
    sidebar must show a link to it that opens it."""
    assert SECTIONS, "no section pages in _toc.yml: nothing to check"
    for docname, parent in SECTIONS:
        tab.goto(f"{parent}.html")
        _open_from_sidebar(tab, site, docname)
    tab.assert_clean()


def test_next_links_walk_the_whole_book_in_order_and_every_sidebar_lists_every_chapter(visit, site):
    """From the first page, each page's Next link leads to the next page of the table of contents
    (read from the visits above; a click on a link is checked on the sidebar)."""
    visited, unlisted = [PAGES[0]], {}
    while True:
        seen = visit(visited[-1])
        if missing := [c for c in CHAPTERS if url_of(site, c) not in seen["sidebar"]]:
            unlisted[visited[-1]] = missing
        if seen["next"] is None:
            break
        assert len(visited) <= len(PAGES), f"Next links do not end: {visited}"
        url = urldefrag(seen["next"]).url
        assert url.startswith(site) and url.endswith(".html"), url
        visited.append(url[len(site):-len(".html")])
    assert visited == PAGES
    assert not unlisted, f"sidebars without a visible link to these chapters: {unlisted}"


def _search(tab, term: str) -> list[str]:
    """Search from the first page with the visible search button; the result pages' URLs."""
    tab.goto(f"{PAGES[0]}.html")
    tab.page.locator("button.search-button__button").locator("visible=true").first.click()
    box = tab.page.locator("#pst-search-dialog input[name=q]")
    box.fill(term)
    box.press("Enter")
    tab.page.wait_for_url("**/search.html?q=*")
    tab.page.locator("#search-results .search-summary").wait_for()  # the search has finished
    tab.page.wait_for_load_state("networkidle")
    results = tab.page.locator("#search-results ul.search li a")
    return [urldefrag(url).url for url in results.evaluate_all("els => els.map(a => a.href)")]


def test_search_finds_named_parameters(tab, site, html_dir):
    mentioning = [name for name in PAGES if SEARCH_TERM in article_text(html_dir, name)]
    assert mentioning, f"no page of the book mentions {SEARCH_TERM}"
    found = _search(tab, SEARCH_TERM)
    missing = [name for name in mentioning if url_of(site, name) not in found]
    assert found and not missing, f"search for {SEARCH_TERM} misses {missing}; found {found}"
    results = tab.page.locator("#search-results ul.search li a")
    assert results.first.is_visible()
    results.first.click()
    tab.page.wait_for_url(found[0] + "*")
    tab.assert_clean()


# --- layout at a phone's and a desktop's width ------------------------------------------------

# Elements that stick out of the viewport (or out of a box that scrolls them sideways), except
# inside a code block, which scrolls on its own.
OVERFLOW = """() => {
  const vw = document.documentElement.clientWidth;
  const code = 'pre, div.highlight, div.cell_output, .output';
  const sideways = el => { const s = getComputedStyle(el).overflowX;
                           return s === 'auto' || s === 'scroll' || s === 'hidden'; };
  const out = [];
  for (const el of document.querySelectorAll('article.bd-article *')) {
    if (el.parentElement.closest(code)) continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    let right = vw, left = 0;
    for (let p = el.parentElement; p && p.tagName !== 'BODY'; p = p.parentElement) {
      if (sideways(p) && !p.matches(code)) { const b = p.getBoundingClientRect();
        right = Math.min(right, b.right); left = Math.max(left, b.left); }
    }
    if (r.right > right + 1 || r.left < left - 1)
      out.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} ` +
               `[${Math.round(r.left)}, ${Math.round(r.right)}] outside [${Math.round(left)}, ${Math.round(right)}]: ` +
               el.textContent.trim().slice(0, 40));
  }
  return {page: document.documentElement.scrollWidth - vw, elements: out.slice(0, 10)};
}"""

TABLES = """() => [...document.querySelectorAll('article.bd-article table')].map(t => {
  const box = t.parentElement.getBoundingClientRect();
  return {html: t.outerHTML.slice(0, 60), width: Math.round(t.scrollWidth),
          room: Math.round(Math.min(box.width, document.documentElement.clientWidth))};
})"""

# Each SVG image in the article: is it shown, and how big is its smallest text once scaled?
FIGURES = """async () => {
  const out = [];
  for (const img of document.querySelectorAll('article.bd-article img')) {
    const src = img.currentSrc || img.src;
    if (!src.endsWith('.svg')) continue;
    const text = await (await fetch(src)).text();
    const svg = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
    const viewBoxWidth = Number(svg.getAttribute('viewBox').split(/[ ,]+/)[2]);
    const sizes = [...text.matchAll(/font-size: ?([0-9.]+)px/g)].map(m => Number(m[1]));
    const shown = img.checkVisibility();
    const width = img.getBoundingClientRect().width;
    out.push({src: img.getAttribute('src'), shown, width: Math.round(width),
              smallest: sizes.length ? Math.min(...sizes) * width / viewBoxWidth : null});
  }
  return out;
}"""


@pytest.fixture(scope="module")
def layout(look):
    """(width, docname) -> overflow, tables and figures of that page at that width, from a
    visit that went without a problem."""
    def layout(width: int, docname: str) -> dict:
        seen = look(width, docname)
        assert not seen["problems"], "\n".join(seen["problems"])
        return seen
    return layout


def _figure_name(src: str) -> str:
    return Path(src).name.replace(".narrow.svg", ".svg")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("docname", PAGES)
def test_nothing_scrolls_sideways_outside_code_blocks(layout, width, docname):
    overflow = layout(width, docname)["overflow"]
    assert overflow["page"] <= 0 and not overflow["elements"], (
        f"{docname}.html at {width} px is {overflow['page']} px too wide:\n" + "\n".join(overflow["elements"]))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("docname", PAGES)
def test_tables_fit(layout, width, docname):
    too_wide = [t for t in layout(width, docname)["tables"] if t["width"] > t["room"] + 1]
    assert not too_wide, f"{docname}.html at {width} px: " + "\n".join(map(str, too_wide))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("docname", PAGES)
def test_figures_show_one_variant_with_legible_text(layout, width, docname):
    figures = layout(width, docname)["figures"]
    shown = [f for f in figures if f["shown"]]
    names = [_figure_name(f["src"]) for f in figures]
    assert sorted(_figure_name(f["src"]) for f in shown) == sorted(set(names)), (
        f"each figure must be shown exactly once: {figures}")
    small = [f for f in shown if f["smallest"] is None or f["smallest"] < MIN_FIGURE_TEXT]
    assert not small, f"text under {MIN_FIGURE_TEXT} CSS px at {width} px: {small}"


def test_the_figure_pages_are_checked():
    """The figure test above has something to look at: every figure is on a page of the book."""
    from figures import make_figures
    wide = {name for name in make_figures.FIGURES if not name.endswith(".narrow.svg")}
    on_pages = {name for name in wide
                if any(f"figures/{name}" in (ROOT / f"{page}.ipynb").read_text(encoding="utf-8")
                       for page in PAGES if (ROOT / f"{page}.ipynb").exists())}
    assert on_pages == wide


def test_desktop_has_one_search_field_and_no_empty_header(tab):
    tab.goto(f"{PAGES[0]}.html")
    fields = tab.page.locator("button.search-button-field").locator("visible=true")
    assert fields.count() == 1, f"{fields.count()} visible search fields"
    header = tab.page.locator("header.bd-header")
    assert not header.count() or header.first.bounding_box() is None or \
        header.first.bounding_box()["height"] < 1 or not header.first.is_visible()
    tab.assert_clean()


def _luminance(png: bytes) -> float:
    from io import BytesIO

    from PIL import Image, ImageStat
    return ImageStat.Stat(Image.open(BytesIO(png)).convert("L")).mean[0] / 255


def _figure_luminance(tab, docname: str) -> float:
    tab.goto(f"{docname}.html")
    figure = tab.page.locator("article.bd-article img[src$='.svg']").locator("visible=true").first
    figure.scroll_into_view_if_needed()
    return _luminance(figure.screenshot())


FIGURE_PAGE = "chapters/03_traversal"


@pytest.mark.parametrize("width", WIDTHS)
def test_figures_follow_the_theme(browser, site, width):
    seen = {}
    for scheme in ("light", "dark"):
        tab = Tab(browser, site, width=width, scheme=scheme)
        try:
            seen[scheme] = _figure_luminance(tab, FIGURE_PAGE)
            if scheme == "light":  # the theme button, not only the system setting, turns it dark
                button = tab.page.locator("button.theme-switch-button").locator("visible=true").first
                for _ in range(3):
                    if tab.page.evaluate("document.documentElement.dataset.theme") == "dark":
                        break
                    button.click()
                assert tab.page.evaluate("document.documentElement.dataset.theme") == "dark"
                figure = tab.page.locator("article.bd-article img[src$='.svg']").locator("visible=true").first
                seen["switched"] = _luminance(figure.screenshot())
            tab.assert_clean()
        finally:
            tab.close()
    assert seen["light"] > 0.75 and seen["dark"] < 0.3 and seen["switched"] < 0.3, seen


SHOTS = {"intro": PAGES[0], "chapter": CHAPTERS[0], "figure": FIGURE_PAGE,
         "cheatsheet": "appendix/cheatsheet"}


@pytest.mark.parametrize("width", WIDTHS)
def test_screenshots_at_both_widths(browser, site, width):
    ARTIFACTS.mkdir(exist_ok=True)
    for scheme in ("light", "dark"):
        tab = Tab(browser, site, width=width, scheme=scheme)
        try:
            for name, docname in SHOTS.items():
                if scheme == "dark" and name != "figure":
                    continue
                tab.goto(f"{docname}.html")
                tab.page.evaluate("document.fonts.ready.then(() => true)")
                path = ARTIFACTS / f"{width}px-{name}{'-dark' if scheme == 'dark' else ''}.png"
                tab.page.screenshot(path=str(path), full_page=True)
                assert path.stat().st_size > 10_000, path
            tab.assert_clean(everything=False)
        finally:
            tab.close()


# --- the Chinese edition ----------------------------------------------------------------------

ZH_PAGES = PAGES + [i18n.GLOSSARY]
ZH_SEARCH_TERMS = ["张量", SEARCH_TERM]
ZH_SHOTS = {"intro": PAGES[0], "chapter": CHAPTERS[0], "figure": FIGURE_PAGE,
            "glossary": i18n.GLOSSARY}


@pytest.fixture(scope="module")
def zh_site(site, zh_book):
    return urljoin(site, f"{i18n.ZH_FOLDER}/")


@pytest.fixture(scope="module")
def zh_look(browser, zh_site):
    yield from _looks(browser, zh_site)


@pytest.mark.parametrize("docname", ZH_PAGES)
def test_chinese_page_loads_and_its_links_resolve(zh_look, zh_site, site, docname):
    seen = zh_look(VIEWPORT["width"], docname)
    assert seen["lang"] == "zh-CN"
    assert seen["url"] == url_of(zh_site, docname)
    assert not seen["problems"], "\n".join(seen["problems"])
    assert seen["heading"], "no visible heading"
    broken = broken_links(seen, site)
    assert not broken, f"on zh_CN/{docname}.html:\n" + "\n".join(broken)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("term", ZH_SEARCH_TERMS)
def test_chinese_search_finds(browser, zh_site, zh_book, term, width):
    mentioning = [name for name in ZH_PAGES if term in article_text(zh_book, name)]
    assert mentioning, f"no page of the Chinese edition mentions {term}"
    tab = Tab(browser, zh_site, width=width)
    try:
        found = _search(tab, term)
        missing = [name for name in mentioning if url_of(zh_site, name) not in found]
        assert found and not missing, f"search for {term} misses {missing}; found {found}"
        tab.assert_clean()
    finally:
        tab.close()


def _switch(tab, expected: str):
    link = tab.page.locator("a.language-switch").locator("visible=true")
    assert link.count() == 1, f"{link.count()} visible language switches on {tab.page.url}"
    box = link.first.bounding_box()
    width = tab.page.evaluate("document.documentElement.clientWidth")
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width and box["y"] >= 0, \
        f"switch (partly) off screen: {box}"
    link.first.click()
    tab.page.wait_for_url(expected)
    assert tab.page.locator("article.bd-article h1").first.is_visible(), expected


@pytest.mark.parametrize("width", WIDTHS)
def test_language_switch_reaches_the_same_page_both_ways(browser, site, zh_site, width):
    tab = Tab(browser, site, width=width)
    try:
        for docname in ROUND_TRIPS:
            tab.goto(f"{docname}.html")
            _switch(tab, url_of(zh_site, docname))
            assert tab.page.evaluate("document.documentElement.lang") == "zh-CN"
            _switch(tab, url_of(site, docname))
            assert tab.page.evaluate("document.documentElement.lang") == "en"
        tab.goto(f"{i18n.ZH_FOLDER}/{i18n.GLOSSARY}.html")  # a page of the Chinese edition only
        _switch(tab, url_of(site, PAGES[0]))
        tab.assert_clean()
    finally:
        tab.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_chinese_screenshots_at_both_widths(browser, zh_site, width):
    ARTIFACTS.mkdir(exist_ok=True)
    tab = Tab(browser, zh_site, width=width)
    try:
        for name, docname in ZH_SHOTS.items():
            tab.goto(f"{docname}.html")
            tab.page.evaluate("document.fonts.ready.then(() => true)")
            path = ARTIFACTS / f"zh_CN-{width}px-{name}.png"
            tab.page.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 10_000, path
        tab.assert_clean()
    finally:
        tab.close()
