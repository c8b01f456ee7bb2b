"""The book's build log stays readable without hiding warnings.

_ext/quiet_config_dump.py drops the two INFO records in which myst-parser and myst-nb print their
whole configuration. A real Sphinx build of a one-page MyST project shows that those lines are
gone, that other output stays, and that a warning still fails a build with -W.
"""
from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from tools import notebooks

EXT = notebooks.ROOT / "_ext"
sys.path.insert(0, str(EXT))
import quiet_config_dump  # noqa: E402


def _record(level: int, msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord("sphinx.myst_parser.sphinx_ext.main", level, __file__, 1, msg, args, None)


def test_only_info_records_carrying_a_parser_configuration_are_dropped():
    from myst_parser.config.main import MdParserConfig
    config = MdParserConfig()
    assert quiet_config_dump.is_config_dump(_record(logging.INFO, "myst v%s: %s", "3", config))
    assert not quiet_config_dump.is_config_dump(_record(logging.WARNING, "bad: %s", config))
    assert not quiet_config_dump.is_config_dump(_record(logging.INFO, "myst v%s: %s", "3", "text"))
    assert not quiet_config_dump.is_config_dump(_record(logging.INFO, "no arguments"))


def _build(tmp_path, page: str, *options: str) -> subprocess.CompletedProcess:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXT)!r})\n"
        "extensions = ['myst_nb', 'quiet_config_dump']\n", encoding="utf-8")
    (src / "index.md").write_text(page, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", *options, str(src),
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    clean = _build(tmp_path_factory.mktemp("clean"), "# Title\n\nText.\n", "-W")
    warned = _build(tmp_path_factory.mktemp("warned"), "# Title\n\n{doc}`missing-page`\n", "-W")
    return clean, warned


@pytest.mark.slow  # (two Sphinx builds)
def test_the_configuration_dump_is_gone_and_the_rest_of_the_log_stays(builds):
    clean, _ = builds
    log = clean.stdout + clean.stderr
    assert clean.returncode == 0, log[-2000:]
    assert "MdParserConfig(" not in log and "NbParserConfig(" not in log
    assert "build succeeded" in log and "Running Sphinx" in log


@pytest.mark.slow
def test_a_warning_still_fails_the_build(builds):
    _, warned = builds
    log = warned.stdout + warned.stderr
    assert warned.returncode != 0 and "missing-page" in log, log[-2000:]
    assert "Warning, treated as error" in log
