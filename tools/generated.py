"""Keep a folder of generated files exactly equal to what its generator renders."""
from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path

from tools import notebooks


def stale(want: dict[Path, str], existing: Iterable[Path]) -> list[str]:
    """Names of generated files that are missing or differ, then of files nothing generates."""
    out = [path.name for path, text in want.items()
           if not path.exists() or path.read_text(encoding="utf-8") != text]
    return out + sorted(path.name for path in set(existing) - set(want))


def shown(path: Path) -> str:
    """A path as a message names it: relative to the book when it lies inside it."""
    return str(path.relative_to(notebooks.ROOT)) if path.is_relative_to(notebooks.ROOT) else str(path)


def sync(want: dict[Path, str], existing: Iterable[Path]) -> None:
    """Write what differs and remove what nothing generates, saying what changed."""
    for extra in sorted(set(existing) - set(want)):
        extra.unlink()
        print(f"removed {shown(extra)}")
    for path, text in want.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {shown(path)}")


def main(doc: str, render: Callable[[], dict[Path, str]], existing: Callable[[], Iterable[Path]],
         problem: str, argv: list[str] | None) -> int:
    """Command line of a generator: write the files, or with --check exit 1 if any is stale."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    if not args.check:
        sync(render(), existing())
        return 0
    names = stale(render(), existing())
    for name in names:
        print(f"{name}: {problem}")
    return 1 if names else 0
