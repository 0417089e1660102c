"""The package's loggers, handed out on first use, and the CLI's hook to configure them at that moment.

Only registry requests and one note of cache loading ever log, yet installing the CLI's handler at
start-up imported :mod:`logging` (with ``traceback``, ``string``, ``weakref`` ...) into every run: ~3 ms of
CPU, a tenth of what issue 17 leaves a small local run above the interpreter's own start. Library code
takes its logger from :func:`get`; the CLI says how to configure logging with
:func:`configure_on_first_use`, which runs now when :mod:`logging` is already loaded (tests, a host
application), else just before the first logger is handed out.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

__all__ = ["configure_on_first_use", "get"]

_pending: Callable[[], None] | None = None


def configure_on_first_use(configure: Callable[[], None]) -> None:
    """Run *configure* (it imports and sets up :mod:`logging`) now if logging is loaded, else at the first
    :func:`get`; a later call replaces a configuration still pending (the last flags win)."""
    global _pending
    if "logging" in sys.modules:
        _pending = None
        configure()
    else:
        _pending = configure


def get(name: str = "cacheinspect") -> logging.Logger:
    """``logging.getLogger(name)``, after the pending configuration (if any) ran."""
    global _pending
    import logging

    configure, _pending = _pending, None
    if configure is not None:
        configure()
    return logging.getLogger(name)
