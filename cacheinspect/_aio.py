"""Library coroutines run without an event loop when every source is local.

Loading a cache is written once, as coroutines, because a registry source fetches concurrently. An OCI
layout or a config file never suspends: its "awaits" finish at once. Importing :mod:`asyncio` (selectors,
sockets, ssl, subprocess) costs a small local run more CPU than its whole work (issue 17: the CPU of one
small real run of every command against ``python -c 'import json'``), so a local run is driven here, one
``send`` to completion, and :func:`gather` awaits in order when no loop is running.

A coroutine that does suspend under :func:`run_local` is a bug of whoever chose the loopless driver for a
source that talks to the network: it is closed and reported as one (exit 70), never half-run.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopRequiredError", "gather", "run_local"]

T = TypeVar("T")


class LoopRequiredError(RuntimeError):
    """A coroutine given to :func:`run_local` suspended: it needed an event loop (a bug, not bad input)."""


async def gather(*aws: Awaitable[T]) -> list[T]:
    """``asyncio.gather`` inside a running event loop; outside one, each awaited in turn.

    Outside a loop (under :func:`run_local`) nothing suspends, so "in turn" is exactly what the loop
    would do with tasks that finish at their first step: every one runs (none is left un-awaited), the
    results come in argument order, and the first error in that order is raised after all have run.
    """
    aio = sys.modules.get("asyncio")
    if aio is not None and aio._get_running_loop() is not None:
        return list(await aio.gather(*aws))
    results: list[T] = []
    error: Exception | None = None
    for a in aws:
        try:
            results.append(await a)
        except Exception as e:  # kept, and re-raised below as gather's first error
            error = error or e
    if error is not None:
        raise error
    return results


def run_local(coro: Coroutine[Any, Any, T]) -> T:
    """Drive *coro* to completion without an event loop (its awaits must never suspend)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise LoopRequiredError("a coroutine run without an event loop suspended (a network source?)")
