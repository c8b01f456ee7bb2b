"""Chinese notebooks from the English ones and the catalogs: the prose translated, nothing else.

A notebook's markdown cells are parsed; every paragraph, heading, list item and table cell whose
text is a message of the page's catalog (`locale/zh_CN/LC_MESSAGES/<page>.po`) is replaced by its
translation, in place, so the markdown's structure (headings, lists, tables, images) is the
English one. Code cells, outputs, cell ids and metadata are copied unchanged: the Chinese notebook
runs, checks and grades exactly like the English one.

    python -m tools.translate_notebooks OUT_DIR [NOTEBOOK ...]   (default: chapters and exercises)
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat
import polib
from markdown_it import MarkdownIt

from tools import notebooks

ROOT = notebooks.ROOT
LOCALE = ROOT / "locale" / "zh_CN" / "LC_MESSAGES"
_md = MarkdownIt("commonmark").enable("table")


def _key(text: str) -> str:
    return " ".join(text.split())


def catalog(page: str) -> dict[str, str]:
    """Translations of one page (`chapters/01_parameter`), keyed by whitespace-normalised English."""
    path = LOCALE / f"{page}.po"
    if not path.exists():
        return {}
    return {_key(e.msgid): e.msgstr for e in polib.pofile(str(path))
            if e.msgid and e.msgstr and not e.fuzzy and not e.obsolete}


def translate_markdown(source: str, messages: dict[str, str]) -> tuple[str, int, list[str]]:
    """The markdown with every known message translated; how many were, and the text left English."""
    out, cursor, done, left = [], 0, 0, []
    for token in _md.parse(source):
        if token.type != "inline" or not token.content.strip():
            continue
        want = messages.get(_key(token.content))
        if want is None:
            left.append(token.content)
            continue
        # The inline text as it stands in the source: the same words, any whitespace between them
        # (markdown-it strips a list item's indentation and joins wrapped lines).
        pattern = r"\s+".join(map(re.escape, token.content.split()))
        found = re.compile(pattern).search(source, cursor)
        if found is None:
            left.append(token.content)
            continue
        out.append(source[cursor:found.start()])
        # A translated paragraph that wraps onto several lines keeps the first line's position only.
        out.append(want.replace("\n", " "))
        cursor = found.end()
        done += 1
    out.append(source[cursor:])
    return "".join(out), done, left


def page_of(path: Path) -> str:
    return path.resolve().relative_to(ROOT).with_suffix("").as_posix()


def translate(path: Path) -> tuple[nbformat.NotebookNode, int, list[str]]:
    """The Chinese notebook of `path`, the number of messages translated, and what stayed English."""
    nb = notebooks.read(path)
    messages = catalog(page_of(path))
    zh = copy.deepcopy(nb)
    total, left = 0, []
    for cell in zh.cells:
        if cell.cell_type != "markdown":
            continue
        cell.source, done, rest = translate_markdown(cell.source, messages)
        total += done
        left += rest
    zh.metadata["language"] = "zh_CN"
    return zh, total, left


def default_notebooks() -> list[Path]:
    return sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))


def write_all(out: Path, paths: list[Path] | None = None) -> dict[Path, bytes]:
    """Chinese notebooks under `out`, at the English notebooks' paths relative to the book."""
    files = {}
    for path in paths or default_notebooks():
        zh, _, _ = translate(path)
        files[out / path.resolve().relative_to(ROOT)] = (nbformat.writes(zh) + "\n").encode()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the Chinese notebooks")
    parser.add_argument("notebook", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebook or default_notebooks()
    for path in paths:
        if not path.is_file():
            print(f"error: no notebook {path}", file=sys.stderr)
            return 2
    for target, data in write_all(args.out, paths).items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    print(f"wrote {len(paths)} notebooks under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
