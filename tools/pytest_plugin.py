"""The test suite's pytest plugin (`-p tools.pytest_plugin` in pytest.ini): marks and scheduling.

It is a plugin rather than part of tests/conftest.py because it must also apply when only
notebooks are collected (`pytest chapters/02_registration.ipynb`), where that conftest is not
loaded.

- `slow`: end-to-end tests (the book build and the browser, grading real submissions, executing
  whole exercise notebooks or every solution, nbval over solutions and appendix, the kits).
  `make test` runs them; `make test-fast` (`-m "not slow"`) skips them. A test is slow when it
  carries `@pytest.mark.slow`, when its file is in SLOW_FILES, or when it uses a fixture in
  SLOW_FIXTURES.
- Scheduling under pytest-xdist (`make test` runs `-n 2 --dist loadgroup`): tests go to the
  workers one by one, except tests that carry the same `xdist_group` mark, which run on one
  worker in collection order. This plugin adds that mark to the cells of a notebook (nbval runs
  them in order in one kernel) and to the tests of a module that use a module- or class-scoped
  fixture (so the fixture is computed once). pytest 9 builds node ids from a structured id, so
  xdist's own loadgroup, which renames node ids, no longer groups anything; each worker here
  writes its groups to the run's shared folder and the controller's scheduler reads them.
- One thread per process for torch's CPU kernels (OMP_NUM_THREADS=1, MKL_NUM_THREADS=1, unless
  set already), in the pytest processes and in everything they start (nbval's kernels, tools,
  the grader, which sets the same for its kernels). The suite runs two workers on two cores, so a
  second thread per process finds no idle core; OpenMP's threads then spin waiting for each
  other, and on a loaded machine one small `batch_norm` took 60 ms instead of microseconds
  (test_check_strength.py on exercise 5: 46 CPU-s with two threads, 12 with one). nbval finds
  the committed outputs of the chapters, solutions and appendix with one thread as with two.
- nbval's kernels talk over Unix sockets, as tools.notebooks' kernels do (its
  `over_unix_sockets` says why): with TCP, two workers starting kernels at once now and then
  gave one a port the other had just picked, and that kernel died at start.
- Warm kernels (tools/warmkernel.py): the kernels nbval and tools.notebooks start in a pytest
  process are forked from one server per process that has imported torch, instead of each
  importing it again (about 3 CPU-seconds a kernel). BOOK_WARM_KERNELS=off starts them cold.
- Hypothesis runs without its wall-clock limits (the per-example deadline, the too_slow health
  check): a loaded machine must not fail a property test. A test's own @settings still apply.
- `once_per_session` / the `once` fixture: an expensive result (the built book, reference
  grades) computed once per run even when several workers ask for it, behind a file lock in a
  folder shared by the controller and every worker of the run.
"""
from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path
from typing import Callable, TypeVar

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before anything imports torch
    os.environ.setdefault(_name, "1")

import nbval.kernel  # noqa: E402  (after the thread settings)
import nbval.plugin  # noqa: E402
import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from tools import warmkernel  # noqa: E402
from tools.notebooks import KernelSpecs, over_unix_sockets  # noqa: E402

nbval.kernel.KernelManager = over_unix_sockets(nbval.kernel.KernelManager)
nbval.kernel.NbvalKernelspecManager = KernelSpecs  # start_new_kernel looks it up when called
warmkernel.enable()

ROOT = Path(__file__).resolve().parent.parent
# Files whose every test is end to end (kernels or a browser, seconds per test), relative to the
# repository root; a folder ends with "/".
SLOW_FILES = ("tests/test_browser.py", "tests/test_exercises.py", "tests/test_grader_runs.py",
              "solutions/", "appendix/")
# Fixtures whose first use costs a minute or more: a test using one is slow.
SLOW_FIXTURES = ("built_book", "built_zh_book", "english_templates")
# Fixture scopes that tie the tests of a module to one process.
SHARED_SCOPES = ("module", "class", "package")
SHARED_KEY = "book_shared_folder"  # in xdist's workerinput

settings.register_profile("book", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("book")


# --- a folder shared by the whole run --------------------------------------------------------

def shared_folder(config: pytest.Config) -> Path:
    """A folder of this run's temporary files, the same for the controller and every worker."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and SHARED_KEY in workerinput:
        return Path(workerinput[SHARED_KEY])
    folder = config._tmp_path_factory.getbasetemp() / "shared"  # the tmp_path_factory fixture
    folder.mkdir(exist_ok=True)
    return folder


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller: tell each worker where the shared folder is."""
    node.workerinput[SHARED_KEY] = str(shared_folder(node.config))


T = TypeVar("T")


def once_per_session(config: pytest.Config, name: str, make: Callable[[Path], T]) -> T:
    """`make(folder)` run once per test run; every later caller, in any worker, gets its result.

    `folder` is an empty directory private to `name` that lives as long as the run's temporary
    files; the result must pickle. When `make` raises, the first caller sees the exception and
    every later caller fails with its one-line summary instead of computing it again.
    """
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"once_per_session: name must be a plain file name, got {name!r}")
    base = shared_folder(config)
    folder, result, failure = base / name, base / f"{name}.pickle", base / f"{name}.failed"
    with FileLock(str(base / f"{name}.lock")):
        if failure.exists():
            pytest.fail(f"{name} failed earlier in this run: {failure.read_text(encoding='utf-8')}",
                        pytrace=False)
        if not result.exists():
            folder.mkdir()
            try:
                value = make(folder)
            except BaseException as err:
                first = (str(err).strip().splitlines() or [""])[0]
                failure.write_text(f"{type(err).__name__}: {first}", encoding="utf-8")
                raise
            result.write_bytes(pickle.dumps(value))
            return value
    return pickle.loads(result.read_bytes())


@pytest.fixture(scope="session")
def once(request):
    """`once(name, make)`: `once_per_session` for this run."""
    return lambda name, make: once_per_session(request.config, name, make)


# --- marks -----------------------------------------------------------------------------------

def _relative(item: pytest.Item) -> str:
    try:
        return Path(item.path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return Path(item.path).as_posix()


def _is_slow(item: pytest.Item, path: str) -> bool:
    return (any(path == f or (f.endswith("/") and path.startswith(f)) for f in SLOW_FILES)
            or any(name in SLOW_FIXTURES for name in getattr(item, "fixturenames", ())))


def _shares_a_process(item: pytest.Item) -> bool:
    """True when the item needs its file's other items in the same process."""
    if isinstance(item, nbval.plugin.IPyNbCell):
        return True
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else ()
    return any(d.scope in SHARED_SCOPES for chain in defs for d in chain)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by mark
def pytest_collection_modifyitems(items):
    for item in items:
        path = _relative(item)
        if item.get_closest_marker("slow") is None and _is_slow(item, path):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("xdist_group") is None and _shares_a_process(item):
            item.add_marker(pytest.mark.xdist_group(path))


# --- scheduling under xdist ------------------------------------------------------------------

def group_of(item: pytest.Item) -> str | None:
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")})
    return "_".join(names) or None


@pytest.hookimpl(tryfirst=True)  # before xdist reports the collection to the controller
def pytest_collection_finish(session):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None or getattr(session.config, "workerinput", None) is None:
        return
    groups = {item.nodeid: g for item in session.items if (g := group_of(item)) is not None}
    target = shared_folder(session.config) / f"groups-{worker}.json"
    target.write_text(json.dumps(groups), encoding="utf-8")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """LoadScopeScheduling whose scopes are the groups the workers wrote (or the test itself)."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = {}
                for path in sorted(shared_folder(config).glob("groups-*.json")):
                    self.groups.update(json.loads(path.read_text(encoding="utf-8")))
            group = self.groups.get(nodeid)
            return f"group:{group}" if group is not None else nodeid

    return GroupScheduling(config, log)
