"""Regular expressions compiled on first use.

A module-level ``re.compile`` runs at import, in every process that imports the module, whether or not
the run ever matches that pattern: 29 of the 41 patterns that ``context check`` compiled at start-up
were never used by a small run (3-4 ms of CPU; issue 17 measures the CPU of one small real run of
every command). :func:`lazy` returns a stand-in that compiles on its first attribute access and then
keeps the compiled pattern's methods as its own attributes, so later calls cost what a compiled
pattern's do. Hot loops bind the method once anyway (``match = _X.match``).
"""

from __future__ import annotations

import re
from typing import Any, AnyStr, cast

__all__ = ["lazy"]


class _Lazy:
    def __init__(self, pattern: str | bytes, flags: int) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str) -> Any:  # only for attributes not set yet: the first use
        rx: re.Pattern[Any] = re.compile(*self._source)
        for attr in dir(rx):
            if not attr.startswith("__"):
                setattr(self, attr, getattr(rx, attr))
        return getattr(rx, name)

    def __repr__(self) -> str:
        return f"lazy({self._source[0]!r}, {self._source[1]})"


def lazy(pattern: AnyStr, flags: int | re.RegexFlag = 0) -> re.Pattern[AnyStr]:
    """``re.compile(pattern, flags)``, done when the pattern is first used."""
    return cast("re.Pattern[AnyStr]", _Lazy(pattern, int(flags)))
