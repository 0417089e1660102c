"""OCI / Docker distribution types and media types (pure, msgspec-decoded straight from bytes).

Only the fields cacheinspect reads are declared; msgspec ignores the rest, so new fields in a
registry's answer never break decoding. Decoding errors name the JSON path (``$.layers[0].digest``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

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


def decode(data: bytes, typ: type[T], *, what: str) -> T:
    """Decode JSON bytes into *typ*, turning msgspec's error (which names the JSON path) into ours."""
    try:
        return msgspec.json.decode(data, type=typ)
    except msgspec.ValidationError as e:
        raise MalformedContentError(f"{what} is not valid: {e}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise MalformedContentError(f"{what} is not JSON: {e}") from None


class _Media(msgspec.Struct):
    mediaType: str | None = None


def sniff_media_type(data: bytes) -> str:
    """The ``mediaType`` a JSON body declares about itself, or "" when it declares none."""
    try:
        return msgspec.json.decode(data, type=_Media).mediaType or ""
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        raise MalformedContentError("manifest is not a JSON object") from None
