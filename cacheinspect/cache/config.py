"""The BuildKit cache config (``application/vnd.buildkit.cacheconfig.v0``), decoded straight from bytes.

Mirrors ``cache/remotecache/v1/types/spec.go`` field for field, including the traps listed in
``BUILDKIT-CACHE-FORMAT.md``:

* ``parent`` is ``omitempty`` in Go, so a *missing* parent means layer 0; ``-1`` means no parent.
* A record's results live under the JSON key ``layers`` (not ``results``); v0.10+ adds ``chains``,
  explicit ordered layer stacks for results whose layers are not a parent chain.
* Go's ``encoding/json`` matches keys case-insensitively, and some writers emit ``createdat``; both
  spellings are accepted. Go's zero time ``0001-01-01T00:00:00Z`` means "unknown".
* Inline cache (``moby.buildkit.cache.v0`` in an image config) is a base64 JSON *array of records*
  only; its layer indexes point into the image manifest's ``layers[]`` (see :func:`from_inline`).

The structs are ``gc=False``: they never form reference cycles, and a 100k-record config is millions
of objects the cyclic collector would otherwise keep re-scanning.

Decoding never raises anything but :class:`~cacheinspect.errors.MalformedContentError`; structural
problems the BuildKit importer would reject (loops, out-of-range indexes) are left for
:mod:`cacheinspect.cache.graph` to report as findings.
"""

from __future__ import annotations

import base64
import binascii
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import msgspec

from cacheinspect.errors import MalformedContentError

__all__ = [
    "GO_ZERO_TIME",
    "CacheConfig",
    "CacheInput",
    "CacheLayer",
    "CacheRecord",
    "CacheResult",
    "ChainedResult",
    "LayerAnnotations",
    "decode_config",
    "decode_inline",
    "from_inline",
    "paused_gc",
]

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def _time(a: str | None, b: str | None) -> str | None:
    """The first of the two spellings that holds a real time (Go's zero time means "unknown")."""
    for t in (a, b):
        if t and not t.startswith("0001-01-01T00:00:00"):
            return t
    return None


class CacheResult(msgspec.Struct, omit_defaults=True, gc=False):
    """A result: load layer ``layer`` and its whole parent chain."""

    layer: int = 0
    createdAt: str | None = None
    createdat: str | None = None

    @property
    def created_at(self) -> str | None:
        return _time(self.createdAt, self.createdat)


class ChainedResult(msgspec.Struct, omit_defaults=True, gc=False):
    """A result given as an explicit bottom-to-top list of layer indexes (BuildKit v0.10+)."""

    layers: list[int] | None = None
    createdAt: str | None = None
    createdat: str | None = None

    @property
    def created_at(self) -> str | None:
        return _time(self.createdAt, self.createdat)


class CacheInput(msgspec.Struct, omit_defaults=True, gc=False):
    """One alternative of one input: a link to another record, narrowed by ``selector``."""

    link: int = 0
    selector: str = ""


class CacheRecord(msgspec.Struct, omit_defaults=True, gc=False):
    digest: str = ""
    layers: list[CacheResult] | None = None
    chains: list[ChainedResult] | None = None
    inputs: list[list[CacheInput] | None] | None = None


class LayerAnnotations(msgspec.Struct, omit_defaults=True, gc=False):
    """Filled in by the gha/s3/azblob exporters, which have no manifest to carry descriptors."""

    mediaType: str | None = None
    diffID: str | None = None
    size: int | None = None
    createdAt: str | None = None


class CacheLayer(msgspec.Struct, omit_defaults=True, gc=False):
    """A *chain node*: one (blob, parent) pair. The same blob may appear in several nodes."""

    blob: str = ""
    parent: int = 0
    annotations: LayerAnnotations | None = None


class CacheConfig(msgspec.Struct, omit_defaults=True, gc=False):
    """The whole config: chain nodes (``layers``) and cache keys (``records``) linking into them."""

    layers: list[CacheLayer] | None = None
    records: list[CacheRecord] | None = None


@contextmanager
def paused_gc(size: int) -> Iterator[None]:
    """Pause the cyclic GC while building large acyclic structures (*size*: bytes or records).

    Decoding a 100k-record config allocates millions of containers; each allocation burst triggers
    generational collections that scan everything built so far, which made decoding grow faster than
    linearly (measured in ``make bench``). Nothing built here forms reference cycles. Below
    ``PAUSE_GC_ABOVE`` the pause costs more than it saves: re-enabling starts a collection at once.
    """
    if size < PAUSE_GC_ABOVE:
        yield
        return
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


#: Size (config bytes, or records) above which decoding and graph building pause the cyclic GC.
PAUSE_GC_ABOVE = 1 << 20

_config_decoder = msgspec.json.Decoder(CacheConfig)
_records_decoder = msgspec.json.Decoder(list[CacheRecord])


def decode_config(data: bytes, *, what: str = "cache config") -> CacheConfig:
    """Decode a cache config blob; errors name the JSON path (``$.records[3].inputs[0][0].link``)."""
    try:
        with paused_gc(len(data)):
            return _config_decoder.decode(data)
    except msgspec.ValidationError as e:
        raise MalformedContentError(f"{what} is not a BuildKit cache config: {e}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise MalformedContentError(f"{what} is not JSON: {e}") from None


def decode_inline(value: str, *, what: str = "inline cache") -> list[CacheRecord]:
    """Decode the base64 ``moby.buildkit.cache.v0`` value of an image config into records."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedContentError(f"{what} (moby.buildkit.cache.v0) is not valid base64") from None
    try:
        return _records_decoder.decode(raw)
    except msgspec.ValidationError as e:
        raise MalformedContentError(f"{what} is not a list of BuildKit cache records: {e}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise MalformedContentError(f"{what} is not JSON: {e}") from None


def from_inline(records: list[CacheRecord], layer_blobs: Sequence[str]) -> CacheConfig:
    """Rebuild the config BuildKit's importer builds for inline cache.

    ``cache/remotecache/import.go`` turns the image manifest's ``layers[i]`` into config layer ``i`` with
    parent ``i-1``, so a result's ``layer: n`` means "the image's first n+1 layers".
    """
    layers = [CacheLayer(blob=b, parent=i - 1) for i, b in enumerate(layer_blobs)]
    return CacheConfig(layers=layers, records=records)
