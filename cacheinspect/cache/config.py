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

Decoding follows Go's ``encoding/json`` (see :mod:`cacheinspect.gojson`): case-insensitive keys,
duplicate keys decoded again into the same field, ``null`` into scalars ignored, int64 bounds, strict
RFC 3339 ``createdAt``. msgspec decodes the common case; its result is kept only when it provably equals
Go's (every key known and spelled exactly, no composite key repeated, every time valid), otherwise the
exact path decides. Decoding never raises anything but :class:`~cacheinspect.errors.MalformedContentError`
(what Go's ``json.Unmarshal`` refuses, which makes BuildKit drop the whole cache source); structural
problems the importer rejects later (loops, out-of-range indexes) are left for
:mod:`cacheinspect.cache.graph` to report as findings.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import msgspec

from cacheinspect import gojson
from cacheinspect._lazyre import lazy
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

#: Go's ``int`` (64-bit on every platform BuildKit ships for) and ``int64``: msgspec refuses the rest.
Int64 = Annotated[int, msgspec.Meta(ge=gojson.INT64_MIN, le=gojson.INT64_MAX)]


def _time(a: str | None, b: str | None) -> str | None:
    """The first of the two spellings that holds a real time (Go's zero time means "unknown")."""
    for t in (a, b):
        if t and not t.startswith("0001-01-01T00:00:00"):
            return t
    return None


class CacheResult(msgspec.Struct, omit_defaults=True, gc=False, forbid_unknown_fields=True):
    """A result: load layer ``layer`` and its whole parent chain."""

    layer: Int64 = 0
    createdAt: str | None = None
    createdat: str | None = None

    @property
    def created_at(self) -> str | None:
        return _time(self.createdAt, self.createdat)


class ChainedResult(msgspec.Struct, omit_defaults=True, gc=False, forbid_unknown_fields=True):
    """A result given as an explicit bottom-to-top list of layer indexes (BuildKit v0.10+)."""

    layers: list[Int64] | None = None
    createdAt: str | None = None
    createdat: str | None = None

    @property
    def created_at(self) -> str | None:
        return _time(self.createdAt, self.createdat)


class CacheInput(msgspec.Struct, omit_defaults=True, gc=False, forbid_unknown_fields=True):
    """One alternative of one input: a link to another record, narrowed by ``selector``."""

    link: Int64 = 0
    selector: str = ""


class CacheRecord(msgspec.Struct, omit_defaults=True, gc=False, forbid_unknown_fields=True):
    digest: str = ""
    layers: list[CacheResult] | None = None
    chains: list[ChainedResult] | None = None
    inputs: list[list[CacheInput] | None] | None = None


class LayerAnnotations(msgspec.Struct, omit_defaults=True, gc=False, forbid_unknown_fields=True):
    """Filled in by the gha/s3/azblob exporters, which have no manifest to carry descriptors."""

    mediaType: str | None = None
    diffID: str | None = None
    size: Int64 | None = None
    createdAt: str | None = None


class CacheLayer(msgspec.Struct, omit_defaults=True, gc=False, forbid_unknown_fields=True):
    """A *chain node*: one (blob, parent) pair. The same blob may appear in several nodes."""

    blob: str = ""
    parent: Int64 = 0
    annotations: LayerAnnotations | None = None


class CacheConfig(msgspec.Struct, omit_defaults=True, gc=False, forbid_unknown_fields=True):
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

# The structs of cache/remotecache/v1/spec.go as Go sees them (json tags; time.Time fields are TIME).
_INPUT = gojson.StructOf({"selector": gojson.STR, "link": gojson.INT})
_RESULT = gojson.StructOf({"layer": gojson.INT, "createdAt": gojson.TIME})
_CHAIN = gojson.StructOf({"layers": gojson.ListOf(gojson.INT), "createdAt": gojson.TIME})
_RECORD = gojson.StructOf(
    {
        "layers": gojson.ListOf(_RESULT),
        "chains": gojson.ListOf(_CHAIN),
        "digest": gojson.STR,
        "inputs": gojson.ListOf(gojson.ListOf(_INPUT)),
    }
)
_ANNOTATIONS = gojson.StructOf(
    {"mediaType": gojson.STR, "diffID": gojson.STR, "size": gojson.INT, "createdAt": gojson.TIME}
)
_LAYER = gojson.StructOf({"blob": gojson.STR, "parent": gojson.INT, "annotations": gojson.Ptr(_ANNOTATIONS)})
CONFIG_SCHEMA = gojson.StructOf({"layers": gojson.ListOf(_LAYER), "records": gojson.ListOf(_RECORD)})
RECORDS_SCHEMA = gojson.ListOf(_RECORD)

#: Configs up to this size get the exact checks of the fast path (BuildKit's readBlob cap, 1 MiB).
EXACT_BELOW = 1 << 20

#: A time.Time JSON string holding a backslash: Go reads the raw bytes, so any escape fails to parse.
_ESCAPED_TIME = lazy(rb'"(?i:createdat)"\s*:\s*"(?:[^"\\]|\\.)*\\')


def _times(cfg: CacheConfig | list[CacheRecord]) -> set[str]:
    records = cfg if isinstance(cfg, list) else (cfg.records or [])
    out = {x.createdAt for r in records for x in r.layers or () if x.createdAt is not None}
    out |= {c.createdAt for r in records for c in r.chains or () if c.createdAt is not None}
    if isinstance(cfg, CacheConfig):
        out |= {
            cl.annotations.createdAt
            for cl in cfg.layers or ()
            if cl.annotations is not None and cl.annotations.createdAt is not None
        }
    return out


#: Every ``"createdAt": "<literal>"`` in the raw bytes, repeats included (escapes go to the exact path).
_TIME_LITERAL = lazy(rb'"createdAt"\s*:\s*"([^"\\]*)"')


def _fast_path_is_go(data: bytes, cfg: CacheConfig | list[CacheRecord]) -> bool:
    """Whether msgspec's result (strict structs: every key known, exact spelling) equals Go's.

    msgspec validates every occurrence of a repeated key as Go does (type, int64 range, null into a
    scalar), so what remains to rule out is: a repeated *composite* key (Go decodes it again into the
    same value, merging; msgspec keeps the last), a time Go refuses anywhere (an earlier occurrence of a
    repeated ``createdAt`` included), ``createdat`` next to ``createdAt`` (one Go field), escaped times,
    lone surrogate escapes. Composite keys are counted in the bytes against the non-nil fields decoded
    (more occurrences than fields: a repeat, or a string value spelled like the key: only slower).
    """
    if b"\\u" in data and gojson.SURROGATE_ESCAPE.search(data):
        return False  # a lone surrogate must become U+FFFD (and never reach an encoder as one)
    if len(data) > EXACT_BELOW:
        # BuildKit refuses a config this large anyway (readBlob's 1 MiB cap, an error finding of its
        # own), so neither a repeated key nor a bad time can turn a refusal into a pass: skip the
        # checks (they cost more than the decode on 100k-record configs).
        return True
    # A key msgspec does not know (another case, a folding rune such as U+017F) already failed the
    # strict decode; "createdat" is the one alternative spelling the structs accept.
    if b'"createdat"' in data or (b"\\" in data and _ESCAPED_TIME.search(data)):
        return False
    raw_times = {m.decode("utf-8", "replace") for m in _TIME_LITERAL.findall(data)}
    if not gojson.all_go_times_ok(raw_times | _times(cfg)):
        return False
    records = cfg if isinstance(cfg, list) else (cfg.records or [])
    layers_fields = chains = inputs = 0
    for r in records:
        if r.layers is not None:
            layers_fields += 1
        if r.chains is not None:
            chains += 1
            layers_fields += sum(1 for c in r.chains if c.layers is not None)
        if r.inputs is not None:
            inputs += 1
    if isinstance(cfg, CacheConfig):
        if data.count(b'"records"') != (cfg.records is not None):
            return False
        layers_fields += cfg.layers is not None
        ann = sum(1 for cl in cfg.layers or () if cl.annotations is not None)
        if data.count(b'"annotations"') != ann:
            return False
    return (
        data.count(b'"layers"') == layers_fields
        and data.count(b'"chains"') == chains
        and data.count(b'"inputs"') == inputs
    )


def _exact(data: bytes, schema: gojson.Schema, what: str) -> Any:
    """Go's result for *data* (:mod:`cacheinspect.gojson`); an escaped time fails as it does in Go."""
    tree = gojson.loads(data, what=what)
    if b"\\" in data and _ESCAPED_TIME.search(data):
        raise MalformedContentError(
            f"{what}: Go's encoding/json rejects it: a createdAt holds an escape, not an RFC 3339 time"
        )
    try:
        return gojson.build(tree, schema)
    except gojson.GoDecodeError as e:
        raise MalformedContentError(f"{what}: {e.message}") from None
    except RecursionError:
        raise MalformedContentError(f"{what} is nested too deeply to decode") from None


def decode_config(data: bytes, *, what: str = "cache config") -> CacheConfig:
    """Decode a cache config blob as BuildKit's ``json.Unmarshal`` would (fast path when equivalent)."""
    with paused_gc(len(data)):
        try:
            cfg: CacheConfig | None = _config_decoder.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            cfg = None
        if cfg is not None and _fast_path_is_go(data, cfg):
            return cfg
        tree = _exact(data, CONFIG_SCHEMA, what)
        if not isinstance(tree, dict):  # a top-level null leaves the struct empty, in Go too
            tree = {}
        try:
            return msgspec.convert(tree, CacheConfig)
        except msgspec.ValidationError as e:  # not reachable for trees build() accepted; stay total
            raise MalformedContentError(f"{what} is not a BuildKit cache config: {e}") from None


def decode_inline(value: str, *, what: str = "inline cache") -> list[CacheRecord]:
    """Decode the ``moby.buildkit.cache.v0`` value of an image config into records.

    The image struct of ``cache/remotecache/import.go`` declares it ``[]byte``: Go's base64
    ``StdEncoding`` (padding required, nothing after it, line breaks skipped), then ``json.Unmarshal``
    into ``[]CacheRecord``.
    """
    try:
        raw = gojson.b64decode_std(value)
    except ValueError:
        raise MalformedContentError(f"{what} (moby.buildkit.cache.v0) is not valid base64") from None
    try:
        recs: list[CacheRecord] | None = _records_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        recs = None
    if recs is not None and _fast_path_is_go(raw, recs):
        return recs
    tree = _exact(raw, RECORDS_SCHEMA, what)
    try:
        return msgspec.convert(tree or [], list[CacheRecord])
    except msgspec.ValidationError as e:
        raise MalformedContentError(f"{what} is not a list of BuildKit cache records: {e}") from None


def from_inline(records: list[CacheRecord], layer_blobs: Sequence[str]) -> CacheConfig:
    """Rebuild the config BuildKit's importer builds for inline cache.

    ``cache/remotecache/import.go`` turns the image manifest's ``layers[i]`` into config layer ``i`` with
    parent ``i-1``, so a result's ``layer: n`` means "the image's first n+1 layers".
    """
    layers = [CacheLayer(blob=b, parent=i - 1) for i, b in enumerate(layer_blobs)]
    return CacheConfig(layers=layers, records=records)
