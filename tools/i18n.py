"""The Chinese edition's catalogs: extract the English text, update the catalogs, check them.

The book has one source, the English notebooks and pages. Sphinx's gettext builder extracts every
paragraph, heading, list item and caption as a message; `locale/zh_CN/LC_MESSAGES/<page>.po` holds
each one's translation. Code cells, outputs and identifiers are never translated.

    python -m tools.i18n update     extract, then merge into the catalogs (changed text -> fuzzy)
    python -m tools.i18n check      exit 1 unless every message is translated, not fuzzy, and keeps
                                    the English message's code, links and markup intact
    python -m tools.i18n drift      exit 1 when a catalog's messages are not the current English
                                    ones (the English changed and `update` was not run)
    python -m tools.i18n build      build the Chinese edition into _build/html/zh_CN (after the
                                    English one: `make book` runs both), warnings as errors

The Chinese edition is built from a configuration generated from _config.yml and _toc.yml into
_build/zh_CN/ (jupyter-book's command line cannot override configuration values): the same book
with `language: zh_CN`, the translated title, search that splits Chinese words (jieba), and the
glossary page (locale/zh_CN/glossary.md) at the end of the appendix.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import polib
import yaml
from markdown_it import MarkdownIt

from tools import generated, notebooks, translate_notebooks

ROOT = notebooks.ROOT
LANG = "zh_CN"
LOCALE = ROOT / "locale" / LANG / "LC_MESSAGES"
# The theme's interface strings (search, colour mode...) that the theme leaves in English; a
# Sphinx catalog of its own, in a locale folder only the Chinese edition reads.
THEME_LOCALE = ROOT / "locale" / "theme"
THEME_CATALOG = THEME_LOCALE / LANG / "LC_MESSAGES" / "sphinx.po"
POT = ROOT / "_build" / "pot"
TEMPLATE_POT = "sphinx.pot"  # what the gettext builder extracts from _templates/
HTML = ROOT / "_build" / "html"
ZH_WORK = ROOT / "_build" / LANG  # the generated configuration and the edition's own build
ZH_FOLDER = LANG  # the Chinese edition's folder inside the English HTML
ZH_TITLE = "《深入 nn.Module》"
ZH_AUTHOR = "《深入 nn.Module》作者团队"
GLOSSARY = f"locale/{LANG}/glossary"  # a page of the Chinese edition only
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
BUILD_TIMEOUT = 900  # seconds

_CODE = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"\]\(([^)\s]+)")
_ROLE = re.compile(r"\{[a-z:-]+\}")
# A translated paragraph is parsed as a paragraph on its own: text that opens like a block
# (a numbered heading such as "4. state_dict") would turn into a list and vanish from the page.
_BLOCK_START = re.compile(r"^(\d+[.)](\s|$)|[-+*]\s|#|>)")
_md = MarkdownIt("commonmark")


def catalogs(paths: list[str] | None = None) -> list[Path]:
    if paths:
        return [Path(p).resolve() for p in paths]
    return sorted(LOCALE.rglob("*.po")) + [THEME_CATALOG]


def _inline(text: str) -> list:
    tokens = _md.parseInline(text)
    return tokens[0].children if tokens else []


def _markup(text: str) -> Counter:
    """How many of each inline element the text renders to (bold, italic, code, link)."""
    return Counter(t.type for t in _inline(text) if t.type.endswith("_open") or t.type == "code_inline")


def _code_spans(text: str) -> Counter:
    return Counter(m.group(2) for m in _CODE.finditer(text))


def _stray(text: str) -> bool:
    """Emphasis markers that did not pair up and would show as literal asterisks."""
    return any(t.type == "text" and "**" in t.content for t in _inline(text))


def problems(entry: polib.POEntry) -> list[str]:
    """What is wrong with one translated message; empty when it is good."""
    src, out = entry.msgid, entry.msgstr
    if not out.strip():
        return ["untranslated"]
    found = []
    if entry.fuzzy:
        found.append("fuzzy (the English changed since it was translated)")
    code_src, code_out = _code_spans(src), _code_spans(out)
    if code_src != code_out:
        found.append(f"code spans differ from the English (missing {sorted(code_src - code_out)}, "
                     f"extra {sorted(code_out - code_src)})")
    if sorted(_LINK.findall(src)) != sorted(_LINK.findall(out)):
        found.append("link targets differ from the English")
    if sorted(_ROLE.findall(src)) != sorted(_ROLE.findall(out)):
        found.append("roles differ from the English")
    if _markup(src) != _markup(out):
        found.append(f"inline markup renders differently: English {dict(_markup(src))}, "
                     f"translation {dict(_markup(out))} (close **bold** before CJK punctuation; "
                     f"put a space between ** and a code span or punctuation it touches)")
    if _stray(out):
        found.append("literal asterisks would show")
    if _BLOCK_START.match(out):
        found.append(r"starts like a list or heading; escape it (write 1\. not 1.)")
    return found


def check(paths: list[Path]) -> int:
    bad = total = 0
    for path in paths:
        for entry in polib.pofile(str(path)):
            if entry.obsolete:
                continue
            total += 1
            found = problems(entry)
            bad += bool(found)
            for problem in found:
                print(f"{generated.shown(path)}: {entry.msgid.splitlines()[0][:70]!r}: {problem}")
    translated = total - bad
    print(f"{translated} of {total} messages good ({100 * translated / max(total, 1):.1f}%)")
    return 1 if bad else 0


def extract(out: Path = POT) -> Path:
    """Extract the English messages into templates (.pot) under `out`; return their folder."""
    subprocess.run([str(JUPYTER_BOOK), "build", str(ROOT), "--path-output", str(out), "--builder",
                    "custom", "--custom-builder", "gettext", "--quiet"], check=True,
                   timeout=BUILD_TIMEOUT)
    return out / "_build" / "gettext"


def update() -> int:
    """Extract the English messages and merge them into the catalogs."""
    templates = extract()
    # the strings of _templates/ are the theme's catalog (THEME_CATALOG), not a page's
    (templates / TEMPLATE_POT).unlink(missing_ok=True)
    subprocess.run([str(Path(sys.executable).with_name("sphinx-intl")), "update", "-p",
                    str(templates), "-l", LANG, "-d", str(ROOT / "locale")],
                   check=True, stdout=subprocess.DEVNULL)
    reused = fill(catalogs())
    print(f"catalogs updated; {reused} messages reused from other pages (text that moved)")
    return 0


def fill(paths: list[Path]) -> int:
    """Translate each new message whose exact English is translated elsewhere, then drop obsolete ones.

    Text that moves from one page to another (a section split off a chapter) keeps its
    translation: the old page's catalog still holds it as obsolete, the new page's as new.
    """
    pos = {path: polib.pofile(str(path)) for path in paths}
    memory = {e.msgid: e.msgstr for po in pos.values() for e in po
              if e.msgid and e.msgstr and not e.fuzzy}
    reused = 0
    for path, po in pos.items():
        for entry in po:
            if not entry.obsolete and not entry.msgstr and entry.msgid in memory:
                entry.msgstr = memory[entry.msgid]
                reused += 1
        for entry in po.obsolete_entries():
            po.remove(entry)
        po.save(str(path))
    return reused


def _msgids(path: Path) -> set[str]:
    return {e.msgid for e in polib.pofile(str(path)) if e.msgid and not e.obsolete}


def drift(templates: Path, locale: Path = LOCALE, theme: Path = THEME_CATALOG) -> list[str]:
    """How the catalogs under `locale` differ from the extracted templates; empty when in sync.

    The strings of the book's own HTML templates (`_("...")` in _templates/, extracted into
    sphinx.pot) must be in the theme's catalog.
    """
    found = []
    if (templates / TEMPLATE_POT).exists():
        found += [f"{theme.name}: a string of _templates/ not in the catalog: {msgid!r}"
                  for msgid in sorted(_msgids(templates / TEMPLATE_POT) - _msgids(theme))]
    pots = {p.relative_to(templates).with_suffix(".po") for p in templates.rglob("*.pot")
            if p.relative_to(templates) != Path(TEMPLATE_POT)}
    pos = {p.relative_to(locale) for p in locale.rglob("*.po")}
    found += [f"{po}: no catalog for this page (run python -m tools.i18n update)"
              for po in sorted(pots - pos)]
    found += [f"{po}: a catalog of no page (its page is gone)" for po in sorted(pos - pots)]
    for po in sorted(pots & pos):
        english, catalog = _msgids((templates / po).with_suffix(".pot")), _msgids(locale / po)
        for msgid in sorted(english - catalog):
            found.append(f"{po}: new English text not in the catalog: {msgid.splitlines()[0][:70]!r}")
        for msgid in sorted(catalog - english):
            found.append(f"{po}: message no longer in the English: {msgid.splitlines()[0][:70]!r}")
    return found


def drift_command() -> int:
    with tempfile.TemporaryDirectory(prefix="pot-") as tmp:
        found = drift(extract(Path(tmp)))
    print("\n".join(found) if found else "every catalog matches the current English text")
    return 1 if found else 0


# --- the Chinese edition -----------------------------------------------------------------------

def zh_config(work: Path) -> tuple[Path, Path]:
    """Write the Chinese edition's _config.yml and _toc.yml into `work`, made from the English ones."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["title"], config["author"] = ZH_TITLE, ZH_AUTHOR
    sphinx = config.setdefault("sphinx", {})
    options = sphinx.setdefault("config", {})
    options.update({
        "locale_dirs": [*options.get("locale_dirs", []),
                        THEME_LOCALE.relative_to(ROOT).as_posix() + "/"],
        "language": LANG,
        "html_search_language": "zh",  # Sphinx splits Chinese text into words with jieba
    })
    # the search field's placeholder is a theme option, not a translated string
    options.setdefault("html_theme_options", {})["search_bar_text"] = "搜索本书…"
    # jupyter-book resolves these folders relative to the configuration file
    sphinx["local_extensions"] = {name: str((ROOT / folder).resolve())
                                  for name, folder in (sphinx.get("local_extensions") or {}).items()}
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    toc["parts"][-1]["chapters"].append({"file": GLOSSARY})
    work.mkdir(parents=True, exist_ok=True)
    header = "# Generated by tools/i18n.py from the English edition's file; edits are overwritten.\n"
    paths = work / "_config.yml", work / "_toc.yml"
    for path, data in zip(paths, (config, toc)):
        path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
    return paths


def build(html: Path = HTML, work: Path = ZH_WORK) -> tuple[int, str]:
    """Build the Chinese edition into html/zh_CN, warnings as errors; (exit status, build log)."""
    config, toc = zh_config(work)
    # --all: every page shows the toc's captions, translated in the root page's catalog, which an
    # incremental build would not know to re-render when that catalog changes
    run = subprocess.run([str(JUPYTER_BOOK), "build", str(ROOT), "--config", str(config), "--toc",
                          str(toc), "--path-output", str(work), "-W", "-n", "--keep-going", "--all"],
                         capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    built, target = work / "_build" / "html", html / ZH_FOLDER
    if (built / "index.html").exists():
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(built, target)
        # a page's download button hands out its notebook: in this edition, the Chinese one
        for path, data in translate_notebooks.write_all(target / "_sources").items():
            if path.exists():
                path.write_bytes(data)
    return run.returncode, run.stdout + run.stderr


def build_command() -> int:
    if not (HTML / "index.html").exists():
        print(f"no English edition in {HTML.relative_to(ROOT)}: run make book", file=sys.stderr)
        return 1
    status, log = build()
    print(log, end="")
    if status == 0:
        print(f"The Chinese edition is in {(HTML / ZH_FOLDER).relative_to(ROOT)}/index.html")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("update", help="extract the English text and merge it into the catalogs")
    chk = sub.add_parser("check", help="every message translated, not fuzzy, markup intact")
    chk.add_argument("po", nargs="*", help="catalogs to check (default: all)")
    sub.add_parser("drift", help="every catalog holds exactly the current English messages")
    sub.add_parser("build", help="build the Chinese edition into _build/html/zh_CN")
    args = parser.parse_args(argv)
    if args.command == "update":
        return update()
    if args.command == "drift":
        return drift_command()
    if args.command == "build":
        return build_command()
    missing = [p for p in args.po if not Path(p).is_file()]
    if missing:
        print(f"tools.i18n check: no such catalog: {missing[0]}", file=sys.stderr)
        return 2
    return check(catalogs(args.po))


if __name__ == "__main__":
    sys.exit(main())
