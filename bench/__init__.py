"""Benchmarks: `python -m bench` (or `make bench`; `--quick` skips the set-up timings)."""
