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
MAX_RECORDS = 200_000

# The result stream's schema: kind -> {field: type}. Every field is required; no other field is
# accepted. A record that does not fit is counted as bad and ignored.
_TEXT, _INT, _BOOL, _ANY = "text", "int", "bool", "any"
SCHEMA: dict[str, dict[str, str]] = {
    "hello": {"role": _TEXT},
    "cell": {"check": _INT, "task": _TEXT},
    "case": {"check": _INT, "call": _INT, "case": _INT, "label": _TEXT, "value": _ANY},
    "end": {"check": _INT, "call": _INT, "cases": _INT},
    "done": {"check": _INT},
    "tamper": {"check": "int?", "what": _TEXT},
    "violation": {"check": _INT, "task": _TEXT, "what": _TEXT},
    "refused": {"task": _TEXT, "name": _TEXT},  # outside a check: the statement failed, no cost
    "untrusted": {"line": _INT, "what": _TEXT},
    "limit": {"what": _TEXT},
    "ran": {"cell": _INT, "outcome": _TEXT, "message": _TEXT, "timeout": _BOOL},
    "exit": {"status": _INT},
}


def _fits(value: Any, kind: str) -> bool:
    if kind == _ANY:
        return True
    if kind == "int?" and value is None:
        return True
    if kind in (_INT, "int?"):
        return type(value) is int and -(1 << 62) < value < (1 << 62)
    if kind == _BOOL:
        return type(value) is bool
    return type(value) is str and len(value) <= MAX_TEXT


def valid(record: Any) -> bool:
    """True when `record` is one of SCHEMA's kinds with exactly its fields, each of its type."""
    if type(record) is not dict:
        return False
    fields = SCHEMA.get(record.get("k")) if type(record.get("k")) is str else None
    if fields is None or set(record) != {"k", *fields}:
        return False
    return all(_fits(record[name], kind) for name, kind in fields.items())


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


def decode(data: Any, depth: int = 0) -> Any:
    """The inverse of `encode` (foreign objects come back as `Foreign`). Never raises: data
    that `encode` cannot have produced decodes to a `Foreign` that equals nothing torch made."""
    try:
        return _decode(data, depth)
    except (TypeError, ValueError, RecursionError, AttributeError):
        return Foreign("<malformed observation>")


def _decode(data: Any, depth: int) -> Any:
    if depth > MAX_DEPTH + 1:
        raise ValueError("too deep")
    if isinstance(data, list):
        return [_decode(v, depth + 1) for v in data]
    if isinstance(data, dict):
        tag, value = data.get("$"), data.get("v")
        if tag == "tuple":
            return tuple(_decode(v, depth + 1) for v in value)
        if tag == "dict":
            out = {}
            for key, item in value:
                key = _decode(key, depth + 1)
                try:
                    out[key] = _decode(item, depth + 1)
                except TypeError:  # an unhashable key: keep it visible, never crash
                    out[Foreign(repr(key))] = _decode(item, depth + 1)
            return out
        if tag == "float" and value in ("nan", "inf", "-inf"):
            return float(value)
        return Foreign(str(value)[:MAX_TEXT])
    return data


def dumps(record: dict) -> bytes:
    """One record as a JSON line."""
    return (json.dumps(record, ensure_ascii=True, allow_nan=False) + "\n").encode()


def loads(blob: bytes, limit: int) -> tuple[list[dict], int]:
    """Parse at most `limit` bytes of JSON lines; return (valid records, number of bad lines).
    Never raises: a line that is too long, not JSON or outside the schema is only counted."""
    records, bad = [], 0
    for line in blob[:limit].splitlines():
        if not line.strip():
            continue
        if len(line) > MAX_LINE or len(records) >= MAX_RECORDS:
            bad += 1
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            bad += 1
            continue
        if valid(record):
            records.append(record)
        else:
            bad += 1
    return records, bad
