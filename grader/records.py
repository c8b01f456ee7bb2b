"""Observations as data: what a grading kernel reports and what the grader compares.

The kernel that runs learner code reports, case by case, what the learner's code did (as the
check cell's `observe` saw it); a clean kernel reports what torch did. Both travel as JSON lines
and are compared in the grader process, so neither side's Python objects (which learner code
could have shaped) take part in the verdict. Encoding keeps exact types: a `str` subclass or an
object with a clever `__eq__` becomes a `Foreign` value, which equals nothing torch produced.
"""
from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 24
MAX_ITEMS = 20_000
MAX_TEXT = 20_000
MAX_LINE = 1 << 20  # longest record line the grader accepts


class Foreign:
    """A value that is not plain data, known only by its type name and (bounded) repr."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Foreign) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return self.text


def _text(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as err:  # a learner object whose repr fails is still an observation
        text = f"<{type(value).__name__} whose repr raised {type(err).__name__}>"
    return text if len(text) <= 200 else text[:197] + "..."


def encode(value: Any, depth: int = 0, budget: list | None = None) -> Any:
    """Plain data -> JSON-able data that remembers tuples, dict keys and foreign objects."""
    budget = [MAX_ITEMS] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        return {"$": "foreign", "v": "<observation too large>"}
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if kind is str:
        return value if len(value) <= MAX_TEXT else {"$": "foreign", "v": value[:MAX_TEXT] + "..."}
    if kind is list:
        return [encode(v, depth + 1, budget) for v in value]
    if kind is tuple:
        return {"$": "tuple", "v": [encode(v, depth + 1, budget) for v in value]}
    if kind is dict:
        return {"$": "dict", "v": [[encode(k, depth + 1, budget), encode(v, depth + 1, budget)]
                                   for k, v in value.items()]}
    return {"$": "foreign", "v": f"{kind.__module__}.{kind.__qualname__}: {_text(value)}"}


def decode(data: Any) -> Any:
    """The inverse of `encode` (foreign objects come back as `Foreign`)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        tag, value = data.get("$"), data.get("v")
        if tag == "tuple":
            return tuple(decode(v) for v in value)
        if tag == "dict":
            out = {}
            for key, item in value:
                key = decode(key)
                try:
                    out[key] = decode(item)
                except TypeError:  # an unhashable key: keep it visible, never crash
                    out[Foreign(repr(key))] = decode(item)
            return out
        if tag == "float":
            return float(value)
        return Foreign(str(value))
    return data


def dumps(record: dict) -> bytes:
    """One record as a JSON line."""
    return (json.dumps(record, ensure_ascii=True, allow_nan=False) + "\n").encode()


def loads(blob: bytes, limit: int) -> tuple[list[dict], int]:
    """Parse at most `limit` bytes of JSON lines; return (records, number of unreadable lines)."""
    records, bad = [], 0
    for line in blob[:limit].splitlines():
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            bad += 1
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            bad += 1
    return records, bad
