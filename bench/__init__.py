"""Benchmarks: `python -m bench.inbox` (or `make bench`) measures the inbox query end to end."""
