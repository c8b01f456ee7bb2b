"""Grade submissions: build the plans, run the reference and learner kernels, judge."""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools import notebooks

from grader import assemble, records, runner, verdict
from grader.assemble import Plan
from grader.runner import Limits
from grader.verdict import Grade

SOLUTIONS = notebooks.ROOT / "solutions"

_tables: dict[str, dict] = {}  # cache key -> table, in this process
_tables_lock = threading.Lock()
CACHE_VERSION = "1"
CACHE_TABLES = 500  # at most this many tables kept (a few MiB)


@functools.lru_cache(maxsize=None)
def _code_digest() -> str:
    """What the reference depends on besides the notebook and seed: torch's version and the
    code of the packages a grading run imports (the guard, `compare`, the tasks' reference
    helpers, purenn, tools)."""
    digest = hashlib.sha256(importlib.metadata.version("torch").encode())
    for name in ("grader", "purenn", "tools"):
        package = runner.package_dir(name)
        for path in sorted(package.rglob("*.py")):
            digest.update(f"{name}/{path.relative_to(package)}".encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _key(plan: Plan, seed: int) -> str:
    digest = hashlib.sha256("\0".join(c.source for c in plan.cells).encode())
    digest.update(f"\0{plan.exercise}\0{seed}\0{CACHE_VERSION}\0{_code_digest()}".encode())
    return digest.hexdigest()


def _private(folder: Path) -> bool:
    """True for a directory of this user's that nobody else may write."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077


def _load(key: str) -> dict | None:
    """A table stored by `_store`, validated as the result stream is; None when absent or bad."""
    folder = runner.cache_dir()
    if folder is None or not _private(folder):
        return None
    blob = runner.read_regular(folder / f"{key}.jsonl", runner.RECORDS_LIMIT)
    found, bad = records.loads(blob, runner.RECORDS_LIMIT)
    if bad or not found or any(r["k"] != "case" for r in found):
        return None
    table: dict[int, dict] = {}
    for rec in found:
        table.setdefault(rec["check"], {})[(rec["call"], rec["case"])] = rec
    return table


def _store(key: str, table: dict) -> None:
    """Keep `table` for later runs; a cache that cannot be written is only not kept."""
    folder = runner.cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder):
            return
        blob = b"".join(records.dumps(rec) for cases in table.values() for rec in cases.values())
        fd, name = tempfile.mkstemp(dir=folder, prefix=".writing-")
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
        os.replace(name, folder / f"{key}.jsonl")
        _prune(folder)
    except (OSError, ValueError):
        pass


def _prune(folder: Path) -> None:
    """Keep the CACHE_TABLES most recently written tables (each grade with a fresh seed adds
    one); older tables and their lock files go."""
    tables = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in tables[CACHE_TABLES:]:
        for path in (old, old.with_suffix(".lock")):
            try:
                path.unlink()
            except OSError:
                pass


@contextlib.contextmanager
def _computing(key: str) -> Iterator[None]:
    """Hold the cache's lock on `key` (when there is a usable cache), so parallel graders (a
    test run's workers, two batches) compute each table once and the others read it."""
    folder = runner.cache_dir()
    fd = None
    try:
        if folder is not None:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if _private(folder):
                fd = os.open(folder / f"{key}.lock",
                             os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        pass
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def prepare(path: Path, exercise: str | None = None,
            solutions: Path = SOLUTIONS) -> tuple[Plan, Plan]:
    """(learner plan, reference plan) of a submission; raises Unusable for unusable input.
    With `exercise` given, the submission is graded as that exercise whatever its metadata
    says, and a mismatch is noted in the learner plan's warnings."""
    submission = assemble.load(path)
    solution_path = assemble.exercise_of(submission, path, exercise, solutions)
    solution = notebooks.read(solution_path)
    name = solution_path.stem
    learner = assemble.plan(solution, submission, name)
    warning = assemble.metadata_mismatch(submission, exercise)
    if warning:
        learner.warnings.append(warning)
    return learner, assemble.plan(solution, solution, name)


def reference(plan: Plan, seed: int, limits: Limits) -> dict:
    """torch's observations for every check of `plan`'s exercise, from a sandbox that runs no
    learner code; computed once per exercise, solution, seed, torch version and grader code,
    kept in this process and in the cache directory, and reused by later grades and batches."""
    key = _key(plan, seed)
    with _tables_lock:
        if key in _tables:
            return _tables[key]
    with _computing(key):  # another grader process computing the same table: wait for it
        table = _load(key)
        if table is None:
            run = runner.run(plan, "reference", seed, limits)
            table = verdict.reference_table(plan, run, seed)
            _store(key, table)
    with _tables_lock:
        _tables[key] = table
    return table


def grade_file(path: Path, exercise: str | None = None, seed: int | None = None,
               limits: Limits = Limits(), solutions: Path = SOLUTIONS,
               require_sandbox: bool = False) -> Grade:
    """Grade one submission. It is read first (unusable input ends here, before any sandbox
    starts); torch's side then comes from the cache or runs beside the learner's."""
    level = runner.require_sandbox() if require_sandbox else runner.isolation()
    seed = verdict.new_seed() if seed is None else seed
    learner, pristine = prepare(path, exercise, solutions)
    box = runner.Sandbox("learner", seed, limits, level)
    with ThreadPoolExecutor(2) as pool:
        expected = pool.submit(reference, pristine, seed, limits)
        run = pool.submit(runner.run_learner, learner, seed, limits, level, box)
        result = run.result()
        table = expected.result()
    return verdict.judge(learner, table, result, str(path), seed, learner.warnings)
