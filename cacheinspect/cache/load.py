"""Find the cache behind a reference and normalise it (the I/O edge of decoding).

Shape detection follows ``cache/remotecache/import.go``: the root's media type first, then which of
``config`` / ``layers`` / ``manifests`` are present. An index whose ``manifests[]`` holds a
``application/vnd.buildkit.cacheconfig.v0`` descriptor is a registry cache (its other entries are
layer *blobs*, not manifests); a manifest whose ``config`` has that media type is an
``image-manifest=true`` cache; anything else is an image, read for inline cache, one config per
platform, attestation manifests skipped.

Whatever the shape, the result is a :class:`LoadedCache` holding one normalised
:class:`~cacheinspect.cache.config.CacheConfig` (inline caches converted the way BuildKit's importer
does it; several platforms merged with their indexes offset) plus what the manifests say about each blob.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from cacheinspect import _log
from cacheinspect import digest as digestmod
from cacheinspect._aio import gather
from cacheinspect.cache.config import (
    CacheConfig,
    CacheInput,
    CacheLayer,
    CacheRecord,
    decode_config,
    decode_inline,
    from_inline,
)
from cacheinspect.cache.findings import Finding
from cacheinspect.cache.open import open_source
from cacheinspect.errors import MalformedContentError, NotFoundError, UsageError
from cacheinspect.oci import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MT_BUILDKIT_CACHE_CONFIG,
    Descriptor,
    ImageConfig,
    Manifest,
    decode,
    detect_manifest_type,
)
from cacheinspect.platforms import platform_matches
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.safeio import read_local_file
from cacheinspect.sources.base import DEFAULT_MAX_BYTES, Source
from cacheinspect.sources.targets import FileTarget, parse_target

__all__ = [
    "BlobInfo",
    "CacheKind",
    "CacheNotFoundError",
    "ImageInfo",
    "LoadedCache",
    "NoInlineCacheError",
    "NotACacheError",
    "Shape",
    "image_labels",
    "load_cache",
    "load_config_file",
    "load_image",
    "load_target",
    "merge_configs",
]

CacheKind = Literal["registry", "inline", "layout", "file"]
Shape = Literal["oci-index", "docker-manifest-list", "image-manifest", "inline", "config"]

ATTESTATION_REF_TYPE = "attestation-manifest"
#: ``readBlob`` in cache/remotecache/import.go refuses manifests and configs declaring over 1 MiB.
IMPORT_CAP = 1 << 20
UNCOMPRESSED_ANNOTATION = "containerd.io/uncompressed"
CREATED_ANNOTATION = "buildkit/createdat"


class CacheNotFoundError(NotFoundError):
    """The cache reference itself does not exist (its manifest or tag is a 404): a first run, for CI."""


class NotACacheError(MalformedContentError):
    """The reference exists but holds neither a cache config nor an image (what ``audit`` calls not-a-cache)."""


class NoInlineCacheError(NotFoundError):
    """The reference is an image, but none of its configs carries inline cache."""


class BlobInfo(msgspec.Struct, frozen=True):
    """What is known about one distinct layer blob (from its manifest descriptor and/or the config)."""

    digest: str
    media_type: str = ""
    size: int | None = None
    diff_id: str | None = None
    created_at: str | None = None
    #: How many descriptors in the manifest name this blob (chain nodes can repeat a blob).
    descriptors: int = 0


class ImageInfo(msgspec.Struct):
    """One platform image: where inline cache comes from, and where step labels come from."""

    platform: str
    manifest_digest: str
    config_digest: str
    config_size: int
    layers: list[Descriptor]
    diff_ids: list[str]
    #: ``created_by`` for each layer (history entries with ``empty_layer`` skipped), None if unknown.
    layer_labels: list[str | None]
    has_inline_cache: bool = False


class LoadedCache(msgspec.Struct):
    """One cache as loaded from a registry, a layout or a file: its shape, config, blobs and images."""

    ref: str
    kind: CacheKind
    location: Literal["registry", "layout", "file"]
    shape: Shape
    media_type: str
    config: CacheConfig
    manifest_digest: str | None = None
    manifest_size: int | None = None
    config_digest: str | None = None
    config_size: int = 0
    #: Distinct layer blobs the cache's manifest(s) list, by digest.
    blobs: dict[str, BlobInfo] = msgspec.field(default_factory=dict)
    #: Number of layer descriptors in the manifest(s), duplicates included.
    layer_descriptors: int = 0
    platforms: list[str] = msgspec.field(default_factory=list)
    images: list[ImageInfo] = msgspec.field(default_factory=list)
    #: Step labels by blob digest and by diffID (from image history; blobs at one position only).
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    #: Step labels by config layer node (inline cache: node i is image layer i); preferred over ``labels``.
    node_labels: dict[int, str] = msgspec.field(default_factory=dict)
    findings: list[Finding] = msgspec.field(default_factory=list)

    def __repr__(self) -> str:
        # Short on purpose: CPython 3.11's asyncio.run formats the repr of its result
        # (python/cpython#112559); the generated repr of a 100k-record config takes seconds.
        n = len(self.config.records or ())
        return f"LoadedCache({self.ref!r}, {self.kind}, {self.shape}, {n} records)"


def _platform_of(desc: Descriptor | None, cfg: ImageConfig | None) -> str:
    if desc is not None and desc.platform is not None and desc.platform.os:
        return str(desc.platform)
    if cfg is not None and cfg.os:
        return f"{cfg.os}/{cfg.architecture}" + (f"/{cfg.variant}" if cfg.variant else "")
    return "unknown"


def _clean_created_by(s: str | None) -> str | None:
    """History text as a Dockerfile step, e.g. ``RUN make [FLAVOR=plain]``.

    BuildKit writes ``RUN |1 FLAVOR=plain /bin/sh -c make # buildkit`` (the build args that reached the
    step, then the shell form) and ``COPY a /a # buildkit``; the classic builder wrote
    ``/bin/sh -c #(nop) COPY ...``. Build args are kept because they explain a ``definition-changed``.
    """
    if not s:
        return None
    s = s.strip().removesuffix("# buildkit").rstrip()
    s = s.removeprefix("/bin/sh -c #(nop) ").strip()
    args = ""
    if s.startswith("RUN |"):
        head, _, rest = s[len("RUN |") :].partition(" ")
        if head.isdigit():
            parts = rest.split(" ")
            n = int(head)
            args, s = " ".join(parts[:n]), "RUN " + " ".join(parts[n:])
    if s.startswith("RUN /bin/sh -c "):
        s = "RUN " + s[len("RUN /bin/sh -c ") :]
    elif s.startswith("/bin/sh -c "):
        s = "RUN " + s[len("/bin/sh -c ") :]
    return f"{s} [{args}]" if args else s


def _layer_labels(cfg: ImageConfig, n_layers: int) -> list[str | None]:
    labels: list[str | None] = [h.created_by for h in cfg.history if not h.empty_layer]
    labels = [_clean_created_by(x) for x in labels]
    # Images made without history (or squashed) have fewer entries than layers: align from the top.
    if len(labels) < n_layers:
        pad: list[str | None] = [None] * (n_layers - len(labels))
        labels = pad + labels
    return labels[-n_layers:] if n_layers else []


def image_labels(images: list[ImageInfo]) -> dict[str, str]:
    """blob digest / diffID -> step label, for every layer of the given images."""
    out: dict[str, str] = {}
    for img in images:
        # A blob at several positions (the empty layer is the usual one) has several history entries:
        # it cannot label a step by itself.
        counts: dict[str, int] = {}
        for d in img.layers:
            counts[d.digest] = counts.get(d.digest, 0) + 1
        for i, d in enumerate(img.layers):
            if counts[d.digest] > 1:
                continue
            label = img.layer_labels[i] if i < len(img.layer_labels) else None
            if label:
                out.setdefault(d.digest, label)
                if i < len(img.diff_ids):
                    out.setdefault(img.diff_ids[i], label)
    return out


async def _read_image(
    source: Source, desc: Descriptor, manifest: Manifest, digest: str
) -> tuple[ImageInfo, ImageConfig]:
    if manifest.config is None:
        raise MalformedContentError(f"image manifest {digestmod.short(digest)} has no config")
    cdata = await source.fetch_blob(manifest.config.digest, max_bytes=DEFAULT_MAX_BYTES)
    cfg = decode(cdata, ImageConfig, what=f"image config {digestmod.short(manifest.config.digest)}")
    layers = list(manifest.layers or [])
    info = ImageInfo(
        platform=_platform_of(desc, cfg),
        manifest_digest=digest,
        config_digest=manifest.config.digest,
        config_size=len(cdata),
        layers=layers,
        diff_ids=list(cfg.rootfs.diff_ids) if cfg.rootfs else [],
        layer_labels=_layer_labels(cfg, len(layers)),
        has_inline_cache=cfg.inline_cache is not None,
    )
    return info, cfg


def _platform_selected(want: str | None, have: str) -> bool:
    """``--platform``: ``linux/arm64`` matches ``linux/arm64/v8`` both ways (default variants)."""
    if want is None:
        return True
    return platform_matches(want, have)


async def _platform_manifests(
    source: Source, index: Manifest, platform: str | None = None
) -> tuple[list[tuple[Descriptor, Manifest, str]], int]:
    """The platform image manifests of an image index (attestations skipped), fetched concurrently;
    with *platform*, only the entries of that platform (``--platform``)."""
    wanted: list[Descriptor] = []
    skipped = 0
    seen: list[str] = []
    for d in index.manifests or []:
        ann = d.annotations or {}
        if ann.get("vnd.docker.reference.type") == ATTESTATION_REF_TYPE or (
            d.platform is not None and d.platform.os == "unknown"
        ):
            skipped += 1
            continue
        # BuildKit reads every entry and decides from the bytes (allDistributionManifests): a
        # descriptor's mediaType is not trusted, only nested indexes are left to _check_other_entries.
        if d.mediaType not in INDEX_TYPES:
            if platform is not None:
                have = _platform_of(d, None)
                seen.append(have)
                if not _platform_selected(platform, have):
                    continue
            wanted.append(d)
    if platform is not None and not wanted:
        raise NotFoundError(
            f"{source.display} has no {platform} image (it has {', '.join(seen) or 'no platform images'})"
        )
    fetched = await gather(*(source.fetch_manifest(d.digest) for d in wanted))
    out = []
    for d, f in zip(wanted, fetched, strict=True):
        what = f"manifest {digestmod.short(d.digest)}"
        # BuildKit refuses an ambiguous or self-contradicting body; an index here is a nested one
        if detect_manifest_type(f.data, what=what) in INDEX_TYPES:
            continue
        out.append((d, decode(f.data, Manifest, what=what), f.digest))
    return out, skipped


async def _check_other_entries(source: Source, index: Manifest, read: set[str]) -> None:
    """Read the index entries the inline view skips (attestations, other media types) as BuildKit does.

    ``allDistributionManifests`` in import.go fetches *every* entry, detects its type and, for a
    manifest with a config and layers, reads and unmarshals that config: a broken attestation manifest
    or config fails the whole import although it never carries cache. Errors raise like the others.
    """
    others = [d for d in index.manifests or [] if d.digest not in read]
    fetched = await gather(*(source.fetch_manifest(d.digest) for d in others))
    for d, f in zip(others, fetched, strict=True):
        what = f"manifest {digestmod.short(d.digest)}"
        mt = detect_manifest_type(f.data, what=what)
        if mt in INDEX_TYPES:
            continue  # nested indexes: not followed (a stated difference, docs/importer-parity.md)
        pm = decode(f.data, Manifest, what=what)
        if pm.config is not None and pm.config.digest and pm.layers:
            cdata = await source.fetch_blob(pm.config.digest, max_bytes=DEFAULT_MAX_BYTES)
            decode(cdata, ImageConfig, what=f"image config {digestmod.short(pm.config.digest)}")


async def load_image(source: Source, *, platform: str | None = None) -> list[ImageInfo]:
    """Read an image (single manifest or index) for its layers and history: used by ``--image``."""
    root = await source.fetch_manifest()
    m = decode(root.data, Manifest, what=f"manifest of {source.display}")
    if _is_index(root.media_type, m):
        parts, _ = await _platform_manifests(source, m, platform)
        infos = await gather(*(_read_image(source, d, pm, dg) for d, pm, dg in parts))
        return [i for i, _ in infos]
    info, _ = await _read_image(
        source, Descriptor(mediaType=root.media_type, digest=root.digest), m, root.digest
    )
    return [info]


def _is_index(media_type: str, m: Manifest) -> bool:
    if media_type in INDEX_TYPES:
        return True
    if media_type in MANIFEST_TYPES:
        return False
    return m.manifests is not None and m.config is None


def _real_time(t: str | None) -> str | None:
    """Go's zero time (``0001-01-01T00:00:00Z``) means "not set"."""
    return None if not t or t.startswith("0001-01-01") else t


def _blob_infos(descs: list[Descriptor], diff_ids: list[str | None] | None = None) -> dict[str, BlobInfo]:
    """Distinct blobs of a descriptor list; ``diff_ids`` (aligned with ``descs``) come from image configs."""
    out: dict[str, BlobInfo] = {}
    for k, d in enumerate(descs):
        prev = out.get(d.digest)
        ann = d.annotations or {}
        known_diff = diff_ids[k] if diff_ids is not None and k < len(diff_ids) else None
        out[d.digest] = BlobInfo(
            digest=d.digest,
            media_type=d.mediaType,
            size=d.size,
            diff_id=ann.get(UNCOMPRESSED_ANNOTATION) or known_diff or (prev.diff_id if prev else None),
            created_at=_real_time(ann.get(CREATED_ANNOTATION)) or (prev.created_at if prev else None),
            descriptors=(prev.descriptors if prev else 0) + 1,
        )
    return out


def merge_configs(parts: list[CacheConfig]) -> CacheConfig:
    """Concatenate configs, offsetting layer and record indexes (one config per platform → one graph).

    BuildKit parses each platform's config on its own, so an index that is out of range *within its
    part* must stay out of range after merging (negative ones stay as they are, too-large ones are
    pushed past the merged arrays) instead of landing in another platform's records.
    """
    if len(parts) == 1:
        return parts[0]
    n_layers = sum(len(p.layers or []) for p in parts)
    n_records = sum(len(p.records or []) for p in parts)

    def shift(v: int, size: int, offset: int, total: int) -> int:
        return v + offset if 0 <= v < size else (v if v < 0 else total + v)

    layers: list[CacheLayer] = []
    records: list[CacheRecord] = []
    for p in parts:
        lo, ro = len(layers), len(records)
        pl, pr = len(p.layers or []), len(p.records or [])
        for cl in p.layers or []:
            layers.append(
                CacheLayer(
                    blob=cl.blob, parent=shift(cl.parent, pl, lo, n_layers), annotations=cl.annotations
                )
            )
        for r in p.records or []:
            res = [
                type(x)(layer=shift(x.layer, pl, lo, n_layers), createdAt=x.created_at)
                for x in r.layers or []
            ]
            chains = [
                type(c)(layers=[shift(i, pl, lo, n_layers) for i in c.layers or []], createdAt=c.created_at)
                for c in r.chains or []
            ]
            inputs: list[list[CacheInput] | None] = [
                [CacheInput(link=shift(x.link, pr, ro, n_records), selector=x.selector) for x in inp]
                if inp is not None
                else None
                for inp in r.inputs or []
            ]
            records.append(
                CacheRecord(digest=r.digest, layers=res or None, chains=chains or None, inputs=inputs or None)
            )
    return CacheConfig(layers=layers, records=records)


async def load_cache(
    source: Source, *, image: Source | None = None, platform: str | None = None
) -> LoadedCache:
    """Fetch and normalise the cache at *source* (:func:`_load_cache`), with the root manifest's size
    as BuildKit's importer sees it: a layout's index.json may declare more than the blob holds, and
    ``readBlob`` refuses a declared size over its 1 MiB cap before reading (gate parity, issue 17)."""
    out = await _load_cache(source, image=image, platform=platform)
    declared = getattr(source, "root_declared_size", None)
    if isinstance(declared, int) and out.manifest_size is not None and declared > out.manifest_size:
        out.manifest_size = declared
    return out


async def _load_cache(
    source: Source, *, image: Source | None = None, platform: str | None = None
) -> LoadedCache:
    """Fetch and normalise the cache at *source*; ``image`` supplies step labels for a registry cache.

    *platform* (``--platform os/arch[/variant]``) keeps one platform of an inline cache's image index
    and of the ``image``; a registry cache itself does not record platforms.
    """
    try:
        root = await source.fetch_manifest()
    except CacheNotFoundError:
        raise
    except NotFoundError as e:  # the ref itself is not there: for audit, a first run (cache-not-found)
        raise CacheNotFoundError(e.message, hint=e.hint) from None
    m = decode(root.data, Manifest, what=f"manifest of {source.display}")
    location: Literal["registry", "layout"] = "registry" if source.kind == "registry" else "layout"
    kind: CacheKind = location

    # BuildKit decides the shape from the bytes alone (DetectManifestBlobMediaType), refusing an
    # ambiguous body or a mediaType that contradicts it: the whole cache source fails.
    detected = detect_manifest_type(root.data, what=f"manifest of {source.display}")
    if detected in INDEX_TYPES:
        entries = m.manifests or []
        # import.go loops over every entry and keeps the *last* cache config descriptor.
        configs = [d for d in entries if d.mediaType == MT_BUILDKIT_CACHE_CONFIG]
        cfg_desc = configs[-1] if configs else None
        if cfg_desc is not None:
            shape: Shape = "docker-manifest-list" if "docker" in detected else "oci-index"
            layer_descs = [d for d in entries if d.mediaType != MT_BUILDKIT_CACHE_CONFIG]
            return await _registry_cache(
                source,
                root.data,
                root.digest,
                root.media_type,
                shape,
                cfg_desc,
                layer_descs,
                kind,
                location,
                image,
                platform,
                extra_configs=len(configs) - 1,
            )
        parts, skipped = await _platform_manifests(source, m, platform)
        if platform is None:
            await _check_other_entries(source, m, {dg for _, _, dg in parts})
        return await _inline_cache(source, root.data, root.digest, root.media_type, parts, skipped, location)

    if m.config is not None and m.config.mediaType == MT_BUILDKIT_CACHE_CONFIG:
        return await _registry_cache(
            source,
            root.data,
            root.digest,
            root.media_type,
            "image-manifest",
            m.config,
            list(m.layers or []),
            kind,
            location,
            image,
            platform,
        )
    if m.config is not None:
        desc = Descriptor(mediaType=root.media_type, digest=root.digest, size=len(root.data))
        if platform is not None:
            info, _ = await _read_image(source, desc, m, root.digest)
            if not _platform_selected(platform, info.platform):
                raise NotFoundError(f"{source.display} is a {info.platform} image, not {platform}")
        return await _inline_cache(
            source, root.data, root.digest, root.media_type, [(desc, m, root.digest)], 0, location
        )
    raise NotACacheError(
        f"{source.display} is neither an index, a cache manifest nor an image manifest "
        f"(media type {root.media_type or 'none'})"
    )


async def _registry_cache(
    source: Source,
    manifest_bytes: bytes,
    manifest_digest: str,
    media_type: str,
    shape: Shape,
    cfg_desc: Descriptor,
    layer_descs: list[Descriptor],
    kind: CacheKind,
    location: Literal["registry", "layout"],
    image: Source | None,
    platform: str | None = None,
    *,
    extra_configs: int = 0,
) -> LoadedCache:
    findings: list[Finding] = []
    if extra_configs:
        findings.append(
            Finding.of(
                "several-cache-configs",
                f"the index lists {extra_configs + 1} cache config descriptors: BuildKit uses the last "
                f"({digestmod.short(cfg_desc.digest)})",
                subject=cfg_desc.digest,
            )
        )
    if cfg_desc.size > IMPORT_CAP:  # readBlob refuses on the declared size, before reading anything
        findings.append(
            Finding.of(
                "config-over-import-cap",
                f"the cache config descriptor declares {cfg_desc.size} bytes, over BuildKit's "
                f"{IMPORT_CAP}-byte import cap",
                subject=cfg_desc.digest,
                size=cfg_desc.size,
                cap=IMPORT_CAP,
            )
        )
    cdata = await source.fetch_blob(cfg_desc.digest, max_bytes=DEFAULT_MAX_BYTES)
    # A registry fetch reads exactly the declared size (a short or long body then fails its digest or the
    # JSON decode); the local importer reads the file as it is, so a layout is not affected.
    if location == "registry" and cfg_desc.size != len(cdata) and cfg_desc.size <= IMPORT_CAP:
        findings.append(
            Finding.of(
                "blob-size-mismatch",
                f"the cache config descriptor declares {cfg_desc.size} bytes, the blob has {len(cdata)}",
                subject=cfg_desc.digest,
                declared=cfg_desc.size,
                actual=len(cdata),
            )
        )
    config = decode_config(cdata, what=f"cache config {digestmod.short(cfg_desc.digest)}")
    if platform is not None and image is None:
        # Said once per run (the CLI's log handler drops a repeated note), and never an error: the
        # same command line serves an inline cache, where --platform does pick one image.
        _log.get().warning(
            "note: --platform %s has no effect on a registry cache, which records no platforms "
            "(--image REF picks that platform of an image built with it)",
            platform,
        )
    images = await load_image(image, platform=platform) if image is not None else []
    blobs = _blob_infos(layer_descs)
    images, unrelated = _related_images(images, blobs)
    for img in unrelated:
        findings.append(
            Finding.of(
                "image-unrelated",
                f"--image {img.platform} ({digestmod.short(img.manifest_digest)}) has layers that are not in "
                "this cache: no label, platform or mode is taken from it",
                subject=img.manifest_digest,
            )
        )
    out = LoadedCache(
        ref=source.display,
        kind=kind,
        location=location,
        shape=shape,
        media_type=media_type,
        config=config,
        manifest_digest=manifest_digest,
        manifest_size=len(manifest_bytes),
        config_digest=cfg_desc.digest,
        config_size=len(cdata),
        blobs=blobs,
        layer_descriptors=len(layer_descs),
        images=images,
        platforms=sorted({i.platform for i in images}),
        labels=image_labels(images),
        findings=findings,
    )
    return out


def _related_images(
    images: list[ImageInfo], blobs: dict[str, BlobInfo]
) -> tuple[list[ImageInfo], list[ImageInfo]]:
    """Split ``--image`` platform images into those built from this cache and the rest.

    An image belongs to the cache when every one of its layers is a cache blob, by digest or (another
    compression of the same layer) by diffID: a mode=min export holds exactly the final image's stack,
    mode=max holds it among the rest. An image with no layers cannot be shown to belong.
    """
    diffs = {b.diff_id for b in blobs.values() if b.diff_id}
    related: list[ImageInfo] = []
    unrelated: list[ImageInfo] = []
    for img in images:
        ok = bool(img.layers) and all(
            d.digest in blobs or (k < len(img.diff_ids) and img.diff_ids[k] in diffs)
            for k, d in enumerate(img.layers)
        )
        (related if ok else unrelated).append(img)
    return related, unrelated


async def _inline_cache(
    source: Source,
    manifest_bytes: bytes,
    manifest_digest: str,
    media_type: str,
    parts: list[tuple[Descriptor, Manifest, str]],
    skipped: int,
    location: Literal["registry", "layout"],
) -> LoadedCache:
    findings: list[Finding] = []
    if skipped:
        findings.append(Finding.of("attestation-skipped", f"skipped {skipped} attestation manifest(s)"))
    images: list[ImageInfo] = []
    cached: list[ImageInfo] = []  # the images whose inline cache is read: platforms and blobs come from these
    configs: list[CacheConfig] = []
    node_labels: dict[int, str] = {}
    config_size = 0
    config_digest: str | None = None
    # import.go skips a manifest without config or layers before reading anything
    parts = [(d, pm, dg) for d, pm, dg in parts if pm.config is not None and pm.config.digest and pm.layers]
    read = await gather(*(_read_image(source, d, pm, dg) for d, pm, dg in parts))
    for info, cfg in read:
        images.append(info)
        if cfg.inline_cache is not None and len(info.diff_ids) != len(info.layers):
            # "invalid image with mismatching manifest and config": logged, this image's cache unused
            findings.append(
                Finding.of(
                    "inline-layers-mismatch",
                    f"image {info.platform} ({digestmod.short(info.manifest_digest)}) has {len(info.layers)} "
                    f"layers but {len(info.diff_ids)} rootfs.diff_ids: BuildKit ignores its inline cache",
                    subject=info.manifest_digest,
                )
            )
            continue
        if cfg.inline_cache is None:  # Go: a nil []byte; "" is an empty, non-nil one and fails to parse
            findings.append(
                Finding.of(
                    "no-inline-cache",
                    f"image {info.platform} ({digestmod.short(info.manifest_digest)}) has no inline cache",
                    subject=info.platform,
                )
            )
            continue
        records = decode_inline(cfg.inline_cache, what=f"inline cache of {info.platform}")
        dated = sum(1 for h in cfg.history if not h.empty_layer)
        if dated < len(info.layers):
            # parseCreatedLayerInfo yields one date per non-empty history entry and import.go indexes
            # it by layer: fewer entries than layers is an index-out-of-range panic in the importer.
            findings.append(
                Finding.of(
                    "inline-history-short",
                    f"image {info.platform} ({digestmod.short(info.manifest_digest)}) has {len(info.layers)} "
                    f"layers but {dated} non-empty history entries: BuildKit's inline importer panics",
                    subject=info.manifest_digest,
                )
            )
        # config layer i is image layer i (from_inline), so labels go by position: the same blob
        # (e.g. the empty layer) can sit at several positions with different history entries.
        offset = sum(len(c.layers or []) for c in configs)
        node_labels.update({offset + k: lab for k, lab in enumerate(info.layer_labels) if lab})
        configs.append(from_inline(records, [d.digest for d in info.layers]))
        cached.append(info)
        config_size = max(config_size, info.config_size)
        config_digest = config_digest or info.config_digest
    if not configs:
        ignored = [f.message for f in findings if f.code == "inline-layers-mismatch"]
        if ignored:
            raise NoInlineCacheError(
                f"{source.display}: BuildKit ignores every inline cache of this image: " + "; ".join(ignored)
            )
        raise NoInlineCacheError(
            f"{source.display} is an image without inline cache (no moby.buildkit.cache.v0 in its config"
            f"{'s' if len(images) > 1 else ''})",
            hint="build with --cache-to type=inline (or BUILDKIT_INLINE_CACHE=1), or point at a cache ref",
        )
    descs = [d for img in cached for d in img.layers]
    diff_ids: list[str | None] = []
    for img in cached:
        diff_ids += [img.diff_ids[k] if k < len(img.diff_ids) else None for k in range(len(img.layers))]
    return LoadedCache(
        ref=source.display,
        kind="inline",
        location=location,
        shape="inline",
        media_type=media_type,
        config=merge_configs(configs),
        manifest_digest=manifest_digest,
        manifest_size=len(manifest_bytes),
        config_digest=config_digest if len(cached) == 1 else None,
        config_size=config_size,
        blobs=_blob_infos(descs, diff_ids),
        layer_descriptors=len(descs),
        platforms=sorted({i.platform for i in cached}),
        images=images,
        labels=image_labels(images),
        node_labels=node_labels,
        findings=findings,
    )


#: Largest local config file read (the user's own file; registry bodies have their own cap). 1 GiB:
#: a 1M-record mode=max config is 338 MB and decodes in ~2 GB; the cap is against a wrong path
#: (a disk image, a log), not against a big cache.
FILE_MAX_BYTES = 1 << 30


def _read_local_file(path: Path) -> bytes:
    """A regular file's bytes, opened non-blocking and capped by bytes read (FIFOs and devices refused)."""
    return read_local_file(path, what="cache config", max_bytes=FILE_MAX_BYTES)


def load_config_file(path: Path, data: bytes | None = None) -> LoadedCache:
    """A bare cache-config JSON (gha/s3/azblob style, or extracted by hand): blobs come from annotations."""
    if data is None:
        data = _read_local_file(path)
    config = decode_config(data, what=str(path))
    blobs: dict[str, BlobInfo] = {}
    for cl in config.layers or []:
        a = cl.annotations
        prev = blobs.get(cl.blob)
        blobs[cl.blob] = BlobInfo(
            digest=cl.blob,
            media_type=(a.mediaType if a and a.mediaType else (prev.media_type if prev else "")),
            size=a.size if a and a.size is not None else (prev.size if prev else None),
            diff_id=a.diffID if a and a.diffID else (prev.diff_id if prev else None),
            created_at=_real_time(a.createdAt if a else None) or (prev.created_at if prev else None),
            descriptors=(prev.descriptors if prev else 0) + 1,
        )
    return LoadedCache(
        ref=str(path),
        kind="file",
        location="file",
        shape="config",
        media_type=MT_BUILDKIT_CACHE_CONFIG,
        config=config,
        config_digest=digestmod.compute(data),
        config_size=len(data),
        blobs=blobs,
        layer_descriptors=len(config.layers or []),
    )


class _Sniff(msgspec.Struct):
    # Raw: the sniff only asks which keys are present; decoding their values into Python objects
    # was a second full decode of the file (0.8 s at 100k records).
    records: msgspec.Raw = None  # type: ignore[assignment]  # None: key absent
    layers: msgspec.Raw = None  # type: ignore[assignment]  # None: key absent
    manifests: msgspec.Raw = None  # type: ignore[assignment]  # None: key absent
    config: msgspec.Raw = None  # type: ignore[assignment]  # None: key absent
    schemaVersion: int | None = None


async def load_target(
    target: str, options: RegistryOptions, *, image: str | None = None, platform: str | None = None
) -> LoadedCache:
    """Load the cache *target* names; ``image`` (a ref) labels a registry cache's steps from its history;
    ``platform`` selects one platform of an inline cache or of the image (see :func:`load_cache`)."""
    t = parse_target(target)
    if isinstance(t, FileTarget):
        if image is not None:
            raise UsageError("--image labels registry and layout caches, not a bare config file")
        if platform is not None:
            raise UsageError("--platform selects an image platform; a bare config file has none")
        data = _read_local_file(t.path)
        try:
            sniff = msgspec.json.decode(data, type=_Sniff)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
            sniff = _Sniff(records=msgspec.Raw(b"1"))  # let the decoder report exactly what is wrong
        if (
            sniff.records is None
            and sniff.layers is None
            and sniff.manifests is None
            and sniff.config is None
        ):
            raise NotACacheError(
                f"{t.path} is not a BuildKit cache config: it has neither 'records' nor 'layers'"
            )
        if sniff.records is None and (sniff.manifests is not None or sniff.config is not None):
            raise UsageError(
                f"{t.path} is a manifest or an image config, not a cache config: point at the registry ref "
                "or the OCI layout directory it came from"
            )
        return load_config_file(t.path, data)
    async with open_source(target, options) as src:
        if image is None:
            return await load_cache(src, platform=platform)
        async with open_source(image, options) as img:
            return await load_cache(src, image=img, platform=platform)
