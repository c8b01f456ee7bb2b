"""The built book works in a real browser: Debian's Chromium, driven by Playwright.

The book is built into a temporary directory and served on 127.0.0.1. Every page of `_toc.yml`
must load without console errors, uncaught exceptions, failed local requests or requests to the
internet; its internal links, fragments and images must resolve. The sidebar and the Next links
must reach every page, search must find `named_parameters`, and code cells and their outputs must
be visible. Screenshots of the intro and the first chapter are saved to `test-artifacts/`.

The browser is `$BOOK_CHROMIUM` (default /usr/bin/chromium; `.ci/run` installs it). Without it
these tests are skipped, except under CI=true, where they fail.
"""
from __future__ import annotations

import functools
import html
import html.parser
import http.server
import os
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest

from conftest import toc_pages

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("BOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000
SEARCH_TERM = "named_parameters"


# --- the table of contents ------------------------------------------------------------------

PAGES = [name for name, _ in toc_pages()]
CHAPTERS = [name for name, depth in toc_pages() if depth == 1]


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
def html_dir(playwright_api, built_book):
    """The book, built once for the session into a private directory (never the shared _build)."""
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


@pytest.fixture(scope="module")
def site(html_dir):
    """Base URL of the built book, served on loopback only."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(html_dir)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(5)


class Tab:
    """A page in a fresh browser context that records everything that went wrong on it."""

    def __init__(self, browser, base: str):
        self.base = base
        self.origin = urlsplit(base).netloc
        self.errors: list[str] = []  # console errors and uncaught exceptions
        self.failed: list[str] = []  # requests to 127.0.0.1 that failed or got an HTTP error
        self.external: list[str] = []  # requests that left 127.0.0.1 (blocked)
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", self._page_error)
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)

    def local(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and parts.netloc == self.origin

    def _route(self, route):
        url = route.request.url
        if self.local(url) or not url.startswith(("http:", "https:", "ws:", "wss:")):
            route.continue_()
        else:
            self.external.append(f"{url} (from {self.page.url})")
            route.abort("blockedbyclient")

    def _page_error(self, err):
        self.errors.append(f"uncaught exception on {self.page.url}: {err}")

    def _console(self, msg):
        if msg.type != "error":
            return
        source = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource") and source and not self.local(source):
            return  # a blocked request to the internet: reported in `external`
        self.errors.append(f"console error on {self.page.url}: {msg.text} ({source})")

    def _request_failed(self, request):
        if self.local(request.url):
            self.failed.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response):
        if self.local(response.url) and response.status >= 400:
            self.failed.append(f"HTTP {response.status}: {response.url}")

    def goto(self, path: str):
        """Open a page and wait until its late requests and scripts have run."""
        self.page.goto(urljoin(self.base, path), wait_until="load")
        self.page.wait_for_load_state("networkidle")

    def inspect(self, path: str) -> dict:
        """Open a page, let it settle, and return what a test needs to know about it."""
        self.goto(path)
        return {"url": self.page.url,
                "heading": self.page.locator("article.bd-article h1").first.is_visible(),
                "links": self.page.evaluate(COLLECT_LINKS),
                "ids": set(self.page.evaluate(COLLECT_IDS)),
                "cells": {part: self.page.evaluate(CELL_BLOCKS, selector)
                          for part, selector in CELL_PARTS.items()},
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


@pytest.fixture(scope="module")
def visit(browser, site):
    """docname -> what a fresh browser saw on that page; each page is opened once per module."""
    seen = {}

    def visit(docname: str) -> dict:
        if docname not in seen:
            tab = Tab(browser, site)
            try:
                seen[docname] = tab.inspect(f"{docname}.html")
            finally:
                tab.close()
        return seen[docname]
    return visit


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
    assert seen["url"] == url_of(site, docname)
    assert not seen["problems"], "\n".join(seen["problems"])
    assert seen["heading"], "no visible heading"


@pytest.mark.parametrize("docname", PAGES)
def test_internal_links_and_images_resolve(visit, site, docname):
    seen = visit(docname)
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
    assert not broken, f"on {docname}.html:\n" + "\n".join(broken)


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


def test_sidebar_reaches_every_chapter(tab, site):
    tab.goto("")  # the site's front door: index.html forwards to the root page
    assert tab.page.url == url_of(site, PAGES[0])
    sidebar = tab.page.locator("nav.bd-docs-nav")
    for docname in CHAPTERS:
        expected = url_of(site, docname)
        links = [link for link in sidebar.locator("a").all()
                 if urldefrag(link.evaluate("a => a.href")).url == expected]
        assert links, f"the sidebar on {tab.page.url} has no link to {docname}"
        assert links[0].is_visible(), f"the sidebar link to {docname} is hidden"
        links[0].click()
        tab.page.wait_for_url(expected)
        assert tab.page.locator("article.bd-article h1").first.is_visible(), docname
    tab.assert_clean()


def test_next_links_walk_the_whole_book_in_order(tab, site):
    tab.goto(f"{PAGES[0]}.html")
    visited = [PAGES[0]]
    while (nxt := tab.page.locator("a.right-next")).count():
        assert len(visited) <= len(PAGES), f"Next links do not end: {visited}"
        nxt.first.click()
        tab.page.wait_for_load_state("load")
        url = urldefrag(tab.page.url).url
        assert url.startswith(site) and url.endswith(".html"), url
        visited.append(url[len(site):-len(".html")])
    assert visited == PAGES
    tab.assert_clean()


def test_search_finds_named_parameters(tab, site, html_dir):
    mentioning = [name for name in PAGES if SEARCH_TERM in article_text(html_dir, name)]
    assert mentioning, f"no page of the book mentions {SEARCH_TERM}"
    tab.goto(f"{PAGES[0]}.html")
    tab.page.locator("button.search-button__button").locator("visible=true").first.click()
    box = tab.page.locator("#pst-search-dialog input[name=q]")
    box.fill(SEARCH_TERM)
    box.press("Enter")
    tab.page.wait_for_url("**/search.html?q=*")
    tab.page.locator("#search-results .search-summary").wait_for()  # the search has finished
    tab.page.wait_for_load_state("networkidle")
    results = tab.page.locator("#search-results ul.search li a")
    found = [urldefrag(url).url for url in results.evaluate_all("els => els.map(a => a.href)")]
    missing = [name for name in mentioning if url_of(site, name) not in found]
    assert found and not missing, f"search for {SEARCH_TERM} misses {missing}; found {found}"
    assert results.first.is_visible()
    results.first.click()
    tab.page.wait_for_url(found[0] + "*")
    tab.assert_clean()


def test_screenshots(tab):
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {"intro.png": PAGES[0]}
    if CHAPTERS:
        first = next((c for c in CHAPTERS if c.startswith("chapters/")), CHAPTERS[0])
        number = re.match(r"\d*", Path(first).name).group() or Path(first).name
        shots[f"chapter-{number}.png"] = first
    for filename, docname in shots.items():
        tab.goto(f"{docname}.html")
        tab.page.evaluate("document.fonts.ready.then(() => true)")
        path = ARTIFACTS / filename
        tab.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000, path
    tab.assert_clean(everything=False)
