"""Every test here takes the fixture `nn` and runs twice: on `torch.nn` and on `purenn`.

Each test names the upstream PyTorch test it mirrors (test/test_nn.py,
test/nn/test_load_state_dict.py, test/nn/test_convolution.py, test/nn/test_embedding.py,
test/nn/test_dropout.py). The behaviour is learnt from there; the code is this project's own.

Two markers say where purenn stops, and only for the purenn run:

- ``@pytest.mark.out_of_scope("<item>")``: purenn does not claim the behaviour. ``<item>`` must be
  one of the items listed under "Not covered" in purenn's package docstring, the one place where
  the scope is written down; the run is skipped with that item as the reason.
- ``@pytest.mark.differs("<why>")``: purenn claims the mechanism but knowingly behaves differently;
  the run is an xfail(strict=True), so it fails the day purenn starts to match.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import purenn

BACKENDS = {"torch.nn": torch.nn, "purenn": purenn}


def not_covered() -> list[str]:
    """The items of the "Not covered" list in purenn's docstring, one per "- " line."""
    doc = purenn.__doc__ or ""
    _, found, rest = doc.partition("Not covered")
    if not found:
        return []
    items, current = [], None
    for line in rest.splitlines()[1:]:
        if line.startswith("- "):
            current = line[2:].strip()
            items.append(current)
        elif line.startswith("  ") and current is not None:
            items[-1] += " " + line.strip()
        elif line.strip():
            break
    return [re.split(r"[:(]", item, maxsplit=1)[0].strip() for item in items]


@pytest.fixture(params=list(BACKENDS))
def nn(request):
    """torch.nn or purenn, under the same name the upstream tests use."""
    return BACKENDS[request.param]


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "out_of_scope(item): purenn does not claim this behaviour")
    config.addinivalue_line("markers", "differs(reason): purenn knowingly differs from torch here")


def pytest_collection_modifyitems(config, items) -> None:
    scope = not_covered()
    here = Path(__file__).parent
    for item in items:
        if here not in Path(item.path).parents:
            continue
        mark = item.get_closest_marker("out_of_scope")
        if mark is not None and mark.args[0] not in scope:
            raise pytest.UsageError(f"{item.nodeid}: out_of_scope({mark.args[0]!r}) is not an item "
                                    f"of purenn's 'Not covered' list: {scope}")
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("nn") != "purenn":
            continue
        if mark is not None:
            item.add_marker(pytest.mark.skip(reason=f"not claimed by purenn: {mark.args[0]}"))
        differs = item.get_closest_marker("differs")
        if differs is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason=differs.args[0]))
