"""Small tools that keep the book's notebooks, `purenn` and the exercises in sync.

Importing this package first (every tool, the grader and the test suite's plugin do) makes
nbformat cheap to import: jsonschema, under nbformat, builds a grammar for the "iri" string
format on import when rfc3987_syntax is installed (about 3 CPU-seconds in every process that
reads a notebook), and notebook schemas never use that format.
"""
import sys

sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
