"""The Chinese edition: complete catalogs, in step with the English, all of them on the pages.

- Every message of every catalog is translated, not fuzzy, and keeps its code and markup
  (tools.i18n's checker); every catalog holds exactly the messages of the current English text,
  extracted afresh (an English edit that `python -m tools.i18n update` did not merge fails).
- Every translated message shows in the built Chinese page (Sphinx drops a translation it cannot
  parse as the same kind of node without a word, e.g. a heading that reads as a list), and no
  page shows literal markdown (`**`, backticks, `](`).
- The Chinese build is -W clean; it has the translated title, captions and glossary; its search
  index holds Chinese words; every page of either edition links to the same page in the other.
- Figures: the Chinese edition shows a figure's Chinese twin (wide and narrow) where one exists.
"""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import polib
import pytest
import yaml

from conftest import toc_pages
from test_markdown_text import RAW_PARSER, normal, visible_runs
from tools import i18n

ROOT = i18n.ROOT
PAGE_CATALOGS = sorted(i18n.LOCALE.rglob("*.po"))
CATALOGS = i18n.catalogs()
PAGES = [name for name, _ in toc_pages()]
ZH_PAGES = PAGES + [i18n.GLOSSARY]
SWITCH = re.compile(r'<a class="[^"]*\blanguage-switch\b[^"]*" href="([^"]+)"')


def docname(po: Path) -> str:
    return po.relative_to(i18n.LOCALE).with_suffix("").as_posix()


def _id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def entries(po: Path) -> list[polib.POEntry]:
    return [e for e in polib.pofile(str(po)) if not e.obsolete]


def squeeze(text: str) -> str:
    """Text compared without whitespace: Chinese lines break anywhere, HTML joins them."""
    return re.sub(r"\s+", "", normal(text))


def shown_text(page_html: str) -> str:
    """Everything a reader can see on a page (article, sidebar, header) and the images' alt
    texts (what a screen reader reads for a figure), whitespace removed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", "", page_html, flags=re.S)
    alts = " ".join(re.findall(r'<img [^>]*?alt="([^"]*)"', body))
    return squeeze(html.unescape(re.sub(r"<[^>]+>", "", body) + " " + alts))


def prose_text(page_html: str) -> str:
    """The article's text outside code blocks, code spans and outputs."""
    article = re.search(r'<article class="bd-article".*?</article>', page_html, re.S)
    body = article.group() if article else page_html
    body = re.sub(r"<(script|style|pre)\b.*?</\1>", "", body, flags=re.S)
    body = re.sub(r"<code\b.*?</code>", "", body, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def missing_runs(markdown: str, shown: str) -> list[str]:
    """The runs of visible text of a translated message that the page does not show."""
    return [run for run in visible_runs(markdown, RAW_PARSER) if squeeze(run) not in shown]


LITERAL_MARKDOWN = re.compile(r"\*\*|`|\]\(")


# --- the catalogs ----------------------------------------------------------------------------

@pytest.mark.parametrize("po", CATALOGS, ids=map(_id, CATALOGS))
def test_every_message_is_translated_and_not_fuzzy(po):
    bad = [f"{e.msgid.splitlines()[0][:70]!r}: {problem}"
           for e in entries(po) for problem in i18n.problems(e)]
    assert entries(po), f"{_id(po)} holds no message"
    assert not bad, f"{_id(po)}: {len(bad)} of {len(entries(po))} messages need work:\n" + "\n".join(bad)


def test_every_page_has_a_catalog():
    assert {docname(po) for po in PAGE_CATALOGS} == set(PAGES)


def test_catalogs_hold_exactly_the_current_english_messages(english_templates):
    assert sorted(english_templates.rglob("*.pot")), "the extraction wrote no template"
    found = i18n.drift(english_templates)
    assert not found, "catalogs out of step with the English (python -m tools.i18n update):\n" + \
        "\n".join(found[:40])


def _catalog(path: Path, messages: dict[str, str], fuzzy: tuple[str, ...] = ()) -> Path:
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=utf-8"}
    for msgid, msgstr in messages.items():
        po.append(polib.POEntry(msgid=msgid, msgstr=msgstr, flags=["fuzzy"] if msgid in fuzzy else []))
    path.parent.mkdir(parents=True, exist_ok=True)
    po.save(str(path))
    return path


GOOD = {"Every `Module` keeps its **parameters** in `_parameters`.":
        "每个 `Module` 都把它的 **参数** 保存在 `_parameters` 中。",
        "Chapters": "章节"}


def test_the_checker_fails_on_a_blank_or_fuzzy_message(tmp_path, capsys):
    first = next(iter(GOOD))
    good = _catalog(tmp_path / "good.po", GOOD)
    blank = _catalog(tmp_path / "blank.po", {**GOOD, first: ""})
    fuzzy = _catalog(tmp_path / "fuzzy.po", GOOD, fuzzy=(first,))
    assert i18n.check([good]) == 0
    assert i18n.check([blank]) == 1 and "untranslated" in capsys.readouterr().out
    assert i18n.check([fuzzy]) == 1 and "fuzzy" in capsys.readouterr().out
    assert [p for e in entries(fuzzy) for p in i18n.problems(e)] == \
        ["fuzzy (the English changed since it was translated)"]


def test_the_checker_fails_on_a_real_catalog_with_one_message_blanked(tmp_path, capsys):
    """The same on copies of a real catalog: it passes as committed, one blanked message fails it."""
    po = polib.pofile(str(i18n.LOCALE / "intro.po"))
    po.save(str(tmp_path / "kept.po"))
    next(e for e in po if not e.obsolete and e.msgstr.strip()).msgstr = ""
    po.save(str(tmp_path / "blanked.po"))
    assert i18n.check([tmp_path / "kept.po"]) == 0
    capsys.readouterr()
    assert i18n.check([tmp_path / "blanked.po"]) == 1 and "untranslated" in capsys.readouterr().out


def test_drift_reports_new_changed_and_orphaned_messages(tmp_path):
    templates, locale = tmp_path / "pot", tmp_path / "po"
    _catalog(templates / "chapters" / "a.pot", {"Old text": "", "Kept": ""})
    _catalog(locale / "chapters" / "a.po", {"Old text": "旧", "Kept": "留"})
    assert i18n.drift(templates, locale) == []
    _catalog(templates / "chapters" / "a.pot", {"New text": "", "Kept": ""})
    _catalog(templates / "chapters" / "b.pot", {"Page b": ""})
    _catalog(locale / "gone.po", {"x": "x"})
    found = "\n".join(i18n.drift(templates, locale))
    assert "new English text not in the catalog: 'New text'" in found
    assert "no longer in the English: 'Old text'" in found
    assert "chapters/b.po: no catalog" in found and "gone.po: a catalog of no page" in found
    assert "Kept" not in found


def test_drift_reports_a_template_string_missing_from_the_theme_catalog(tmp_path):
    templates, locale = tmp_path / "pot", tmp_path / "po"
    theme = _catalog(tmp_path / "theme" / "sphinx.po", {"Color mode": "颜色模式"})
    _catalog(templates / "sphinx.pot", {"Color mode": ""})
    _catalog(templates / "a.pot", {"Text": ""})
    _catalog(locale / "a.po", {"Text": "文本"})
    assert i18n.drift(templates, locale, theme) == []
    _catalog(templates / "sphinx.pot", {"Color mode": "", "Toggle primary sidebar": ""})
    assert i18n.drift(templates, locale, theme) == \
        ["sphinx.po: a string of _templates/ not in the catalog: 'Toggle primary sidebar'"]


def test_check_names_a_missing_catalog_in_one_line():
    run = subprocess.run([sys.executable, "-m", "tools.i18n", "check", "no/such.po"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0
    assert "no such catalog: no/such.po" in run.stderr


# --- the Chinese HTML --------------------------------------------------------------------------

def test_the_chinese_build_is_warning_free(built_zh_book):
    status, log = built_zh_book
    warnings = [line for line in log.splitlines() if re.search(r"\bWARNING\b|\bERROR\b", line)]
    assert status == 0 and not warnings, "\n".join(warnings) or log[-3000:]
    assert "build succeeded" in log


@pytest.mark.parametrize("po", PAGE_CATALOGS, ids=map(_id, PAGE_CATALOGS))
def test_every_translated_message_is_on_its_page(po, zh_book):
    shown = shown_text((zh_book / f"{docname(po)}.html").read_text(encoding="utf-8"))
    lost = [f"{e.msgid.splitlines()[0][:60]!r}: {missing}"
            for e in entries(po) if e.msgstr.strip() and not e.fuzzy
            if (missing := missing_runs(e.msgstr, shown))]
    assert not lost, f"translations missing from zh_CN/{docname(po)}.html:\n" + "\n".join(lost)


def test_a_dropped_or_unrendered_message_is_reported():
    page = '<p>每个模块都有<strong>参数</strong>。</p><p>**缓冲区**。</p><img alt="模块树" src="a.svg"/>'
    shown = shown_text(page)
    assert missing_runs("每个模块都有 **参数**。", shown) == [] and missing_runs("模块树", shown) == []
    assert missing_runs("**缓冲区**。", shown) == ["缓冲区。"]  # shown with its asterisks
    assert missing_runs("1\\. 状态字典", shown) == ["1. 状态字典"]  # not on the page at all


@pytest.mark.parametrize("page", ZH_PAGES)
def test_no_literal_markdown_on_chinese_pages(page, zh_book):
    text = prose_text((zh_book / f"{page}.html").read_text(encoding="utf-8"))
    found = [text[max(0, m.start() - 30):m.end() + 30].replace("\n", " ")
             for m in LITERAL_MARKDOWN.finditer(text)]
    assert not found, f"zh_CN/{page}.html shows markdown as text:\n" + "\n".join(found)


def test_literal_markdown_is_found():
    page = '<article class="bd-article"><p>**粗体**。和 <code>`x`</code> [链接](a.html)</p></article>'
    assert [m.group() for m in LITERAL_MARKDOWN.finditer(prose_text(page))] == ["**", "**", "]("]


def test_title_language_captions_and_glossary(zh_book):
    page = (zh_book / "intro.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN"' in page and f"&#8212; {i18n.ZH_TITLE}</title>" in page
    catalog = {e.msgid: e.msgstr for e in entries(i18n.LOCALE / "intro.po")}
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    captions = re.findall(r'caption-text">([^<]*)<', page)
    assert captions == [catalog[part["caption"]] or part["caption"] for part in toc["parts"]]
    glossary = (zh_book / f"{i18n.GLOSSARY}.html").read_text(encoding="utf-8")
    assert "张量" in shown_text(glossary) and "state_dict" in glossary
    assert f'href="{i18n.GLOSSARY}.html"' in page, "the glossary is not in the Chinese toc"


def test_interface_strings_are_chinese(zh_book):
    page = (zh_book / "chapters" / "01_parameter.html").read_text(encoding="utf-8")
    theme = {e.msgid: e.msgstr for e in entries(i18n.THEME_CATALOG)}
    assert theme and all(f'"{msgstr}"' in page for msgstr in theme.values())
    assert 'placeholder="搜索本书…"' in page and 'aria-label="搜索"' in page
    assert not any(f'"{msgid}"' in page for msgid in theme)


def test_search_index_holds_chinese_words(zh_book):
    index = (zh_book / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(index[index.index("(") + 1:index.rindex(")")])["terms"]
    assert "张量" in terms and "named_paramet" in terms


# --- the language switch -----------------------------------------------------------------------

def _switch_target(html_dir: Path, page: str) -> Path:
    text = (html_dir / f"{page}.html").read_text(encoding="utf-8")
    hrefs = SWITCH.findall(text)
    assert len(hrefs) == 1, f"{page}.html: {len(hrefs)} language switches"
    assert "://" not in hrefs[0] and not hrefs[0].startswith("/"), hrefs[0]  # relative
    return Path(urljoin((html_dir / page).as_posix(), hrefs[0]))


@pytest.mark.parametrize("page", PAGES)
def test_english_page_links_to_its_chinese_page(page, built_book, zh_book):
    assert _switch_target(built_book, page) == zh_book / f"{page}.html"


@pytest.mark.parametrize("page", ZH_PAGES)
def test_chinese_page_links_to_its_english_page(page, built_book, zh_book):
    english = PAGES[0] if page == i18n.GLOSSARY else page
    assert _switch_target(zh_book, page) == built_book / f"{english}.html"


@pytest.mark.parametrize("pagename, language, href", [
    ("intro", "en", "zh_CN/intro.html"),
    ("chapters/01_parameter", "en", "../zh_CN/chapters/01_parameter.html"),
    ("intro", "zh_CN", "../intro.html"),
    ("chapters/01_parameter", "zh_CN", "../../chapters/01_parameter.html"),
    ("locale/zh_CN/glossary", "zh_CN", "../../../intro.html"),
    ("search", "zh_CN", "../search.html"),
])
def test_switch_href(pagename, language, href, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "_ext"))
    import editions
    assert editions.switch_href(pagename, language, "intro") == href


# --- figures -----------------------------------------------------------------------------------

SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" width="10pt"></svg>'


def _mini_build(tmp_path: Path, language: str, files: list[str]) -> str:
    src = tmp_path / f"src-{language}"
    (src / "figures").mkdir(parents=True)
    for name in files:
        (src / "figures" / name).write_text(SVG, encoding="utf-8")
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / '_ext')!r})\n"
        f"extensions = ['narrow_figures']\nlanguage = {language!r}\n", encoding="utf-8")
    images = sorted({name.split(".")[0] for name in files})
    (src / "index.rst").write_text("Title\n=====\n\n" + "".join(
        f".. image:: figures/{name}.svg\n\n" for name in images), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-q", str(src),
                          str(tmp_path / f"out-{language}")], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return (tmp_path / f"out-{language}" / "index.html").read_text(encoding="utf-8")


def _images(page: str) -> list[tuple[str, str]]:
    return [(re.sub(r"^_images/", "", src), cls) for cls, src in
            re.findall(r'<img [^>]*?class="([^"]*)"[^>]*?src="([^"]+)"', page)] + \
        [(re.sub(r"^_images/", "", src), "") for src in
         re.findall(r'<img (?![^>]*class=)[^>]*?src="([^"]+)"', page)]


FIGURE_FILES = ["both.svg", "both.narrow.svg", "both.zh_CN.svg", "both.narrow.zh_CN.svg",
                "english.svg", "english.narrow.svg",
                "onlyzh.svg", "onlyzh.narrow.zh_CN.svg", "plain.svg"]


def test_chinese_build_picks_chinese_twins_and_falls_back_to_english(tmp_path):
    shown = dict((src, cls) for src, cls in _images(_mini_build(tmp_path, "zh_CN", FIGURE_FILES)))
    assert shown.keys() == {"both.zh_CN.svg", "both.narrow.zh_CN.svg", "english.svg",
                            "english.narrow.svg", "onlyzh.svg", "onlyzh.narrow.zh_CN.svg",
                            "plain.svg"}, shown
    assert "figure-wide" in shown["both.zh_CN.svg"] and "figure-narrow" in shown["both.narrow.zh_CN.svg"]
    assert "figure-narrow" in shown["english.narrow.svg"] and "figure-narrow" in shown["onlyzh.narrow.zh_CN.svg"]
    assert "figure" not in shown["plain.svg"]


def test_english_build_ignores_chinese_twins(tmp_path):
    shown = {src for src, _ in _images(_mini_build(tmp_path, "en", FIGURE_FILES))}
    assert shown == {"both.svg", "both.narrow.svg", "english.svg", "english.narrow.svg",
                     "onlyzh.svg", "plain.svg"}, shown
