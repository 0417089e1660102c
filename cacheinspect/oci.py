"""OCI / Docker distribution types and media types (pure, decoded as BuildKit's Go code decodes them).

Only the fields cacheinspect reads are declared; the rest are ignored, so new fields in a registry's
answer never break decoding. Up to BuildKit's 1 MiB import cap, bodies are decoded with Go's
``encoding/json`` rules (:mod:`cacheinspect.gojson`: case-insensitive keys, duplicate keys, ``null``,
int64, base64 ``data``, RFC 3339 ``history[].created``) against the structs BuildKit unmarshals into
(``ocispecs.Index`` / ``ocispecs.Manifest`` / ``Descriptor``, and the ``image`` struct of
``cache/remotecache/import.go``); larger bodies, which BuildKit refuses anyway, go through msgspec.
Errors name the JSON path (``$.layers[0].digest``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from cacheinspect import gojson
from cacheinspect.errors import MalformedContentError

__all__ = [
    "ACCEPT_MANIFESTS",
    "MT_BUILDKIT_CACHE_CONFIG",
    "MT_DOCKER_CONFIG",
    "MT_DOCKER_MANIFEST",
    "MT_DOCKER_MANIFEST_LIST",
    "MT_OCI_CONFIG",
    "MT_OCI_INDEX",
    "MT_OCI_MANIFEST",
    "Descriptor",
    "ImageConfig",
    "Index",
    "Manifest",
    "Platform",
    "decode",
    "detect_manifest_type",
    "sniff_media_type",
]

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_BUILDKIT_CACHE_CONFIG = "application/vnd.buildkit.cacheconfig.v0"

#: The Accept list for manifest requests: everything BuildKit may have pushed as a cache or image.
ACCEPT_MANIFESTS: tuple[str, ...] = (
    MT_OCI_INDEX,
    MT_OCI_MANIFEST,
    MT_DOCKER_MANIFEST_LIST,
    MT_DOCKER_MANIFEST,
)

INDEX_TYPES = frozenset({MT_OCI_INDEX, MT_DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = frozenset({MT_OCI_MANIFEST, MT_DOCKER_MANIFEST})


class Platform(msgspec.Struct, omit_defaults=True, frozen=True):
    architecture: str = ""
    os: str = ""
    variant: str | None = None
    os_version: str | None = msgspec.field(default=None, name="os.version")

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        return f"{s}/{self.variant}" if self.variant else s


class Descriptor(msgspec.Struct, omit_defaults=True, frozen=True):
    mediaType: str = ""
    digest: str = ""
    size: int = 0
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    artifactType: str | None = None
    urls: list[str] | None = None


class Manifest(msgspec.Struct, omit_defaults=True):
    """An OCI image manifest or Docker schema2 manifest (they share these fields)."""

    schemaVersion: int = 2
    mediaType: str | None = None
    artifactType: str | None = None
    config: Descriptor | None = None
    layers: list[Descriptor] | None = None
    manifests: list[Descriptor] | None = None  # present when the body is really an index
    annotations: dict[str, str] | None = None


# An index and a manifest decode into the same struct: BuildKit's own detection
# (cache/remotecache/import.go) looks at which of config / layers / manifests are present.
Index = Manifest


class HistoryEntry(msgspec.Struct, omit_defaults=True):
    created: str | None = None
    created_by: str | None = None
    comment: str | None = None
    empty_layer: bool = False


class RootFS(msgspec.Struct, omit_defaults=True):
    type: str = ""
    diff_ids: list[str] = msgspec.field(default_factory=list)


class ImageConfig(msgspec.Struct, omit_defaults=True):
    """The image config; ``moby.buildkit.cache.v0`` is where inline cache lives."""

    architecture: str = ""
    os: str = ""
    variant: str | None = None
    created: str | None = None
    history: list[HistoryEntry] = msgspec.field(default_factory=list)
    rootfs: RootFS | None = None
    inline_cache: str | None = msgspec.field(default=None, name="moby.buildkit.cache.v0")
    config: dict[str, Any] | None = None


T = TypeVar("T")

#: Bodies up to this size are decoded with Go's rules (BuildKit's readBlob cap; larger ones fail import).
GO_EXACT_BELOW = 1 << 20

_OPTSTR = gojson.ANY  # a field BuildKit never reads: taken when it is a string, dropped otherwise
_PLATFORM = gojson.StructOf(
    {
        "architecture": gojson.STR,
        "os": gojson.STR,
        "os.version": gojson.STR,
        "os.features": gojson.ListOf(gojson.STR),
        "variant": gojson.STR,
    }
)
_DESCRIPTOR = gojson.StructOf(
    {
        "mediaType": gojson.STR,
        "digest": gojson.STR,
        "size": gojson.INT,
        "urls": gojson.ListOf(gojson.STR),
        "annotations": gojson.MapOf(gojson.STR),
        "data": gojson.BYTES,
        "platform": gojson.Ptr(_PLATFORM),
        "artifactType": gojson.STR,
    }
)
#: ``ocispecs.Index`` and ``ocispecs.Manifest`` in one (BuildKit picks one by DetectManifestBlobMediaType).
_MANIFEST = gojson.StructOf(
    {
        "schemaVersion": gojson.INT,
        "mediaType": gojson.STR,
        "artifactType": gojson.STR,
        "config": _DESCRIPTOR,
        "layers": gojson.ListOf(_DESCRIPTOR),
        "manifests": gojson.ListOf(_DESCRIPTOR),
        "subject": gojson.Ptr(_DESCRIPTOR),
        "annotations": gojson.MapOf(gojson.STR),
    }
)
#: The ``image`` struct of cache/remotecache/import.go (what the inline importer reads), plus fields
#: cacheinspect reads for labels and platforms, taken leniently because BuildKit ignores them.
_IMAGE = gojson.StructOf(
    {
        "architecture": _OPTSTR,
        "os": _OPTSTR,
        "variant": _OPTSTR,
        "created": _OPTSTR,
        "config": gojson.ANY,
        "rootfs": gojson.StructOf({"type": _OPTSTR, "diff_ids": gojson.ListOf(gojson.STR)}),
        "moby.buildkit.cache.v0": gojson.BYTES,
        "history": gojson.ListOf(
            gojson.StructOf(
                {
                    "created": gojson.TIME,  # *time.Time: null is nil, a string must be RFC 3339
                    "created_by": gojson.STR,
                    "comment": _OPTSTR,
                    "empty_layer": gojson.BOOL,
                }
            )
        ),
    }
)
_TIME_KEYS = frozenset({"CREATED"})
_SCHEMAS: dict[type, gojson.Schema] = {Manifest: _MANIFEST, Descriptor: _DESCRIPTOR, ImageConfig: _IMAGE}


def _lenient(tree: Any, typ: type) -> Any:
    """Drop values of fields BuildKit does not read when their type is not the one declared here."""
    if typ is ImageConfig and isinstance(tree, dict):
        for k in ("architecture", "os", "variant", "created"):
            if k in tree and not isinstance(tree[k], str):
                del tree[k]
        if isinstance(tree.get("created"), str):  # not a field BuildKit reads: its escapes are fine
            tree["created"] = tree["created"].removeprefix(gojson.ESCAPED_MARK)
        if "config" in tree and not isinstance(tree["config"], dict):
            del tree["config"]
        rootfs = tree.get("rootfs")
        if isinstance(rootfs, dict) and "type" in rootfs and not isinstance(rootfs["type"], str):
            del rootfs["type"]
        for h in tree.get("history") or ():
            if "comment" in h and not isinstance(h["comment"], str):
                del h["comment"]
    return tree


def decode(data: bytes, typ: type[T], *, what: str) -> T:
    """Decode JSON bytes into *typ* as Go's ``json.Unmarshal`` would; errors become ours."""
    schema = _SCHEMAS.get(typ)
    surrogates = b"\\u" in data and gojson.SURROGATE_ESCAPE.search(data) is not None
    if schema is not None and (len(data) <= GO_EXACT_BELOW or surrogates):
        if typ is ImageConfig:
            data = gojson.mark_escaped_times(data, _TIME_KEYS)
        tree = gojson.loads(data, what=what)
        try:
            tree = gojson.build(tree, schema)
        except gojson.GoDecodeError as e:
            raise MalformedContentError(f"{what} is not valid: {e.message}") from None
        except RecursionError:
            raise MalformedContentError(f"{what} is nested too deeply to decode") from None
        if not isinstance(tree, dict):
            tree = {}
        try:
            return msgspec.convert(_lenient(tree, typ), typ)
        except msgspec.ValidationError as e:
            raise MalformedContentError(f"{what} is not valid: {e}") from None
    try:
        return msgspec.json.decode(data, type=typ)
    except msgspec.ValidationError as e:
        raise MalformedContentError(f"{what} is not valid: {e}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise MalformedContentError(f"{what} is not JSON: {e}") from None
    except RecursionError:
        raise MalformedContentError(f"{what} is nested too deeply to decode") from None


def detect_manifest_type(data: bytes, *, what: str = "manifest") -> str:
    """``imageutil.DetectManifestBlobMediaType`` (BuildKit v0.13, unchanged through v0.29).

    Presence of ``config`` or ``layers`` (even ``null``) makes it a manifest, else a manifest list; a
    manifest that also has ``manifests`` is "invalid ambiguous manifest and manifest list"; a declared
    index/manifest ``mediaType`` that contradicts the contents is refused; any other declared type is
    ignored. Keys match case-insensitively, as everywhere in ``encoding/json``.
    """
    tree = gojson.loads(data, what=what)
    if not isinstance(tree, gojson.Obj):
        raise MalformedContentError(f"{what} is not a JSON object")
    present: dict[str, bool] = {}
    media: str | None = None
    for k, v in tree:
        f = gojson.fold(k)
        if f in ("CONFIG", "MANIFESTS", "LAYERS"):
            present[f] = True
        elif f == "MEDIATYPE":
            if v is not None and not isinstance(v, str):
                raise MalformedContentError(f"{what}: mediaType is not a string")
            media = gojson.clean(v) if isinstance(v, str) else None
    mt = MT_DOCKER_MANIFEST_LIST
    if present.get("CONFIG") or present.get("LAYERS"):
        mt = MT_DOCKER_MANIFEST
        if present.get("MANIFESTS"):
            raise MalformedContentError(f"{what}: invalid ambiguous manifest and manifest list")
    if media in INDEX_TYPES:
        if mt != MT_DOCKER_MANIFEST_LIST:
            raise MalformedContentError(f"{what}: mediaType in manifest does not match manifest contents")
        mt = media
    elif media in MANIFEST_TYPES:
        if mt != MT_DOCKER_MANIFEST:
            raise MalformedContentError(f"{what}: mediaType in manifest does not match manifest contents")
        mt = media
    return mt


class _Media(msgspec.Struct):
    mediaType: str | None = None


def sniff_media_type(data: bytes) -> str:
    """The ``mediaType`` a JSON body declares about itself, or "" when it declares none."""
    try:
        return msgspec.json.decode(data, type=_Media).mediaType or ""
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        pass
    # What msgspec refuses and Go reads (invalid UTF-8, a lone surrogate escape, a key in another case)
    tree = gojson.loads(data, what="manifest")
    if not isinstance(tree, gojson.Obj):
        raise MalformedContentError("manifest is not a JSON object")
    media = ""
    for k, v in tree:
        if gojson.fold(k) == "MEDIATYPE":
            media = gojson.clean(v) if isinstance(v, str) else ""
    return media
