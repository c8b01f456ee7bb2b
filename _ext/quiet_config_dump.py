"""Keep the build log readable: drop the info lines that dump myst's and myst-nb's parser settings.

myst-parser and myst-nb each log their whole configuration object (a few hundred characters) at
INFO level on every build. Only those two records are dropped, matched by the configuration
object they carry; every other message, and every warning, passes through (so `-W` still fails).
"""
from __future__ import annotations

import logging

from sphinx.application import Sphinx

# The loggers that print the settings (Sphinx prefixes a module's logger name with "sphinx.").
LOGGERS = ("sphinx.myst_parser.sphinx_ext.main", "sphinx.myst_nb.sphinx_ext")
CONFIG_TYPES = ("MdParserConfig", "NbParserConfig")


def is_config_dump(record: logging.LogRecord) -> bool:
    """True for an INFO record whose arguments include a myst parser configuration object."""
    args = record.args if isinstance(record.args, tuple) else ()
    return record.levelno == logging.INFO and any(
        type(arg).__name__ in CONFIG_TYPES for arg in args)


def _keep(record: logging.LogRecord) -> bool:
    return not is_config_dump(record)


def setup(app: Sphinx) -> dict:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _keep not in logger.filters:
            logger.addFilter(_keep)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
