"""Benchmarks of the real Caseflow server process: `python bench/run.py` (see README.md)."""
