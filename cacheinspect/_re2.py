"""Go's ``regexp`` engine for Python: RE2 (the ``google-re2`` package), configured in one place.

BuildKit matches ``.dockerignore`` patterns (moby/patternmatcher), shell pattern operators
(``${a#*x}``) and prune filters with Go's ``regexp``, which is RE2: linear in the input, no
backtracking, the same syntax and leftmost-first semantics. Python's ``re`` backtracks (a short pattern
against a 40-character name ran for minutes: issue 17), so these patterns run on RE2 itself.

``re2`` is imported on the first compile, not at start-up: most runs never match a pattern. RE2 never
prints its own parse errors on stderr here (the caller's one ``error:`` line says what is wrong).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Re2Error", "compile_go"]

#: RE2's default 8 MiB refuses long but ordinary patterns (thousands of wildcards) that Go compiles.
LARGE = 64 << 20

_options: dict[int | None, Any] = {}


class Re2Error(Exception):
    """RE2 refused the pattern (bad syntax, or larger than the memory cap)."""


def compile_go(pattern: str | bytes, *, max_mem: int | None = None) -> Any:
    """The compiled RE2 regexp of *pattern* (``max_mem``: RE2's memory cap; None: RE2's default)."""
    import re2

    opts = _options.get(max_mem)
    if opts is None:
        opts = re2.Options()
        opts.log_errors = False
        if max_mem is not None:
            opts.max_mem = max_mem
        _options[max_mem] = opts
    try:
        return re2.compile(pattern, opts)
    except re2.error as e:  # its message is bytes: "b'missing ): ('" would reach the error line
        why = e.args[0] if e.args else e
        raise Re2Error(why.decode("utf-8", "replace") if isinstance(why, bytes) else str(why)) from None
