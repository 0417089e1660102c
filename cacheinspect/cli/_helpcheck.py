"""Is the pre-rendered help in ``cli/_help.py`` still what typer would print?

A CRC-32 of every CLI source file (and the version) is stored next to the texts; when the sources
changed since, :func:`fresh` is False and ``main`` lets typer render the help instead (slower, never
stale). Reading a dozen small files costs well under a millisecond; importing typer costs ~130 ms.
"""

from __future__ import annotations

import os
import zlib

__all__ = ["current_sources", "fresh"]

_CLI = os.path.dirname(os.path.abspath(__file__))
_SKIP = {"_help.py", "_fastspec.py", "_gen_help.py", "_helpcheck.py"}


def current_sources() -> int:
    """CRC-32 over the CLI sources' names and bytes. Names only, never the directory: the same checkout
    cloned elsewhere (CI) must give the same value."""
    crc = 0
    files = sorted(f for f in os.listdir(_CLI) if f.endswith(".py") and f not in _SKIP)
    for f in [*(os.path.join(_CLI, x) for x in files), os.path.join(os.path.dirname(_CLI), "_version.py")]:
        try:
            with open(f, "rb") as fh:
                crc = zlib.crc32(os.path.basename(f).encode("utf-8", "replace") + fh.read(), crc)
        except OSError:
            return -1
    return crc


def fresh() -> bool:
    from cacheinspect.cli import _help

    return current_sources() == _help.SOURCES
