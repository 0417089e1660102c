"""The one place that decides which :class:`~cacheinspect.sources.base.Source` a target gets.

It sits above both ``sources`` (OCI layouts, what a target names) and ``registry`` (the registry
Source), so neither of them imports the other for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cacheinspect.errors import UsageError
from cacheinspect.reference import Reference
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.sources.base import Source
from cacheinspect.sources.layout import LayoutSource
from cacheinspect.sources.targets import FileTarget, LayoutTarget, parse_target

__all__ = ["open_source"]


@asynccontextmanager
async def open_source(target: str, options: RegistryOptions) -> AsyncIterator[Source]:
    """A Source for a registry reference or an OCI layout (files have no source: see load_target)."""
    t = parse_target(target)
    if isinstance(t, FileTarget):
        raise UsageError(f"{target!r} is a file; this needs a registry reference or an OCI layout directory")
    src: Source
    if isinstance(t, LayoutTarget):
        src = LayoutSource(t.path, tag=t.tag, digest=t.digest)
    else:
        from cacheinspect.registry.source import RegistrySource

        assert isinstance(t, Reference)
        src = RegistrySource(t, options)
    try:
        yield src
    finally:
        await src.aclose()
