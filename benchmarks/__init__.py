"""Benchmarks, run by ``make bench`` (``python -m benchmarks``); not tests: they print numbers.

Each ``benchmarks/bench_*.py`` module defines ``TITLE`` (optional; else its docstring's first line) and
``run() -> list[dict]``; the runner prints one table per module.
"""
