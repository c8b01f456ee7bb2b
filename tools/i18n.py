"""The Chinese edition's catalogs: extract the English text, update the catalogs, check them.

The book has one source, the English notebooks and pages. Sphinx's gettext builder extracts every
paragraph, heading, list item and caption as a message; `locale/zh_CN/LC_MESSAGES/<page>.po` holds
each one's translation. Code cells, outputs and identifiers are never translated.

    python -m tools.i18n update     extract, then merge into the catalogs (changed text -> fuzzy)
    python -m tools.i18n check      exit 1 unless every message is translated, not fuzzy, and keeps
                                    the English message's code, links and markup intact
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polib
from markdown_it import MarkdownIt

from tools import notebooks

ROOT = notebooks.ROOT
LANG = "zh_CN"
LOCALE = ROOT / "locale" / LANG / "LC_MESSAGES"
POT = ROOT / "_build" / "pot"

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
    return sorted(LOCALE.rglob("*.po"))


def _inline(text: str) -> list:
    tokens = _md.parseInline(text)
    return tokens[0].children if tokens else []


def _markup(text: str) -> Counter:
    """How many of each inline element the text renders to (bold, italic, code, link)."""
    return Counter(t.type for t in _inline(text) if t.type.endswith("_open") or t.type == "code_inline")


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
    if Counter(m.group(2) for m in _CODE.finditer(src)) != Counter(m.group(2) for m in _CODE.finditer(out)):
        want = sorted(set(m.group(0) for m in _CODE.finditer(src)) - set(m.group(0) for m in _CODE.finditer(out)))
        extra = sorted(set(m.group(0) for m in _CODE.finditer(out)) - set(m.group(0) for m in _CODE.finditer(src)))
        found.append(f"code spans differ from the English (missing {want}, extra {extra})")
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
            for problem in problems(entry):
                bad += 1
                first = entry.msgid.splitlines()[0][:70]
                print(f"{path.relative_to(ROOT)}: {first!r}: {problem}")
    translated = total - bad
    print(f"{translated} of {total} messages good ({100 * translated / max(total, 1):.1f}%)")
    return 1 if bad else 0


def update() -> int:
    """Extract the English messages and merge them into the catalogs."""
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(POT), "--builder", "custom",
                    "--custom-builder", "gettext", "--quiet"], check=True)
    subprocess.run([str(Path(sys.executable).with_name("sphinx-intl")), "update", "-p",
                    str(POT / "_build" / "gettext"), "-l", LANG, "-d", str(ROOT / "locale")],
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("update", help="extract the English text and merge it into the catalogs")
    chk = sub.add_parser("check", help="every message translated, not fuzzy, markup intact")
    chk.add_argument("po", nargs="*", help="catalogs to check (default: all)")
    args = parser.parse_args(argv)
    if args.command == "update":
        return update()
    return check(catalogs(args.po))


if __name__ == "__main__":
    sys.exit(main())
