"""Open what the user named (registry ref, OCI layout, config file) and load the cache behind it.

The only module that decides which :class:`~cacheinspect.source.Source` to build; everything after it
works on a :class:`~cacheinspect.load.LoadedCache`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec

from .errors import MalformedContentError, UsageError
from .layout import LayoutSource
from .load import LoadedCache, load_cache, load_config_file
from .reference import FileTarget, LayoutTarget, Reference, parse_target
from .registry.options import RegistryOptions
from .source import Source

__all__ = ["load_target", "open_source"]


class _Sniff(msgspec.Struct):
    records: object | None = None
    layers: object | None = None
    manifests: object | None = None
    config: object | None = None
    schemaVersion: int | None = None


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
        from .registry.source import RegistrySource

        assert isinstance(t, Reference)
        src = RegistrySource(t, options)
    try:
        yield src
    finally:
        await src.aclose()


async def load_target(target: str, options: RegistryOptions, *, image: str | None = None) -> LoadedCache:
    """Load the cache *target* names; ``image`` (a ref) labels a registry cache's steps from its history."""
    t = parse_target(target)
    if isinstance(t, FileTarget):
        if image is not None:
            raise UsageError("--image labels registry and layout caches, not a bare config file")
        try:
            sniff = msgspec.json.decode(t.path.read_bytes()[: 64 << 20], type=_Sniff)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            sniff = _Sniff(records=True)  # let the decoder report exactly what is wrong
        except OSError as e:
            raise UsageError(f"cannot read {t.path}: {e.strerror}") from None
        if (
            sniff.records is None
            and sniff.layers is None
            and sniff.manifests is None
            and sniff.config is None
        ):
            raise MalformedContentError(
                f"{t.path} is not a BuildKit cache config: it has neither 'records' nor 'layers'"
            )
        if sniff.records is None and (sniff.manifests is not None or sniff.config is not None):
            raise UsageError(
                f"{t.path} is a manifest or an image config, not a cache config: point at the registry ref "
                "or the OCI layout directory it came from"
            )
        return load_config_file(t.path)
    async with open_source(target, options) as src:
        if image is None:
            return await load_cache(src)
        async with open_source(image, options) as img:
            return await load_cache(src, image=img)
