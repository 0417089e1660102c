"""The minimal caches ``registry probe`` pushes: one per shape BuildKit writes (pure: bytes in memory).

Each probe cache is the smallest thing BuildKit's importer would accept as a cache of that shape
(BUILDKIT-CACHE-FORMAT.md; ``cache/remotecache/export.go`` and ``import.go``): one real layer (a tar with
one file) and a cache config with one record whose result is that layer. Every shape carries a nonce in
its cache config (or image config), so every manifest of a probe run has a digest no one else's tag can
share: deleting it by digest can never take a user's tag along.

Shapes, as ``--cache-to type=registry`` writes them:

* ``image-manifest``: OCI image manifest, ``config.mediaType`` ``application/vnd.buildkit.cacheconfig.v0``
  (``image-manifest=true``; the default since v0.21);
* ``oci-index``: OCI image index whose ``manifests[]`` are the layer blob plus the cache config
  (``image-manifest=false``, the default before v0.21);
* ``docker-manifest-list``: the same as a Docker manifest list with Docker layer media types
  (``oci-mediatypes=false``);
* ``inline``: a Docker image manifest whose image config carries ``moby.buildkit.cache.v0``
  (``--cache-to type=inline``);
* ``zstd``: the image-manifest shape with a ``tar+zstd`` layer (``compression=zstd``).

The zstd layer is a real zstd frame holding one *raw* (stored) block (RFC 8878 §3.1.1): no compressor
library is needed for a few KiB, and any zstd decoder reads it (the tests decompress it with ``zstd``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

from cacheinspect import digest as digestmod
from cacheinspect.oci import (
    MT_BUILDKIT_CACHE_CONFIG,
    MT_DOCKER_CONFIG,
    MT_DOCKER_MANIFEST,
    MT_DOCKER_MANIFEST_LIST,
    MT_OCI_INDEX,
    MT_OCI_MANIFEST,
)

__all__ = [
    "MT_DOCKER_LAYER_GZIP",
    "MT_OCI_LAYER_GZIP",
    "MT_OCI_LAYER_ZSTD",
    "SHAPES",
    "Blob",
    "ProbeCache",
    "build_probe_caches",
    "zstd_raw_frame",
]

MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

#: Probe shapes in report order.
SHAPES: tuple[str, ...] = ("image-manifest", "oci-index", "docker-manifest-list", "inline", "zstd")
#: A fixed timestamp: probe bytes depend only on the nonce.
_CREATED = "2024-01-01T00:00:00Z"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_MAX_RAW_BLOCK = 128 * 1024


@dataclass(frozen=True, slots=True)
class Blob:
    """One blob to upload and the descriptor media type it is listed with."""

    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return digestmod.compute(self.data)

    def descriptor(self, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}
        if annotations:
            d["annotations"] = annotations
        return d


@dataclass(frozen=True, slots=True)
class ProbeCache:
    """One shape: its blobs (config first), its manifest bytes and media type, the scratch tag."""

    shape: str
    tag: str
    manifest: bytes
    media_type: str
    blobs: tuple[Blob, ...]
    #: The blob read back with GET (the cache config, or the image config for inline).
    config_digest: str
    #: The ``--cache-to`` attributes that make BuildKit write this shape.
    attrs: str
    notes: tuple[str, ...] = field(default=())

    @property
    def digest(self) -> str:
        return digestmod.compute(self.manifest)


def zstd_raw_frame(data: bytes) -> bytes:
    """A zstd frame storing *data* in raw blocks (RFC 8878 §3.1.1): single segment, 8-byte content size."""
    # Frame_Header_Descriptor: FCS_Flag=3 (8-byte Frame_Content_Size), Single_Segment_flag=1.
    out = bytearray(_ZSTD_MAGIC + bytes([0xE0]) + len(data).to_bytes(8, "little"))
    chunks = [data[i : i + _ZSTD_MAX_RAW_BLOCK] for i in range(0, len(data), _ZSTD_MAX_RAW_BLOCK)] or [b""]
    for i, chunk in enumerate(chunks):
        last = 1 if i == len(chunks) - 1 else 0
        header = (len(chunk) << 3) | (0 << 1) | last  # Block_Type 0: Raw_Block
        out += header.to_bytes(3, "little") + chunk
    return bytes(out)


def _layer_tar(nonce: str) -> bytes:
    """A deterministic one-file tar (the uncompressed layer; its sha256 is the diffID)."""
    buf = io.BytesIO()
    content = f"cacheinspect registry probe {nonce}\n".encode()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("cacheinspect-probe")
        info.size = len(content)
        info.mtime = 0
        info.mode = 0o644
        tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()


def _record_digest(nonce: str, shape: str) -> str:
    """Like BuildKit's ``sha256("<cache-map digest>@<output>")``, made unique to this probe and shape."""
    return "sha256:" + hashlib.sha256(f"cacheinspect-probe {nonce} {shape}@0".encode()).hexdigest()


def _cache_config(layer: Blob, nonce: str, shape: str, diff_id: str) -> Blob:
    cfg = {
        "layers": [
            {
                "blob": layer.digest,
                "parent": -1,
                "annotations": {
                    "mediaType": layer.media_type,
                    "diffID": diff_id,
                    "size": len(layer.data),
                    "createdAt": _CREATED,
                },
            }
        ],
        "records": [
            {"digest": _record_digest(nonce, shape), "layers": [{"layer": 0, "createdAt": _CREATED}]}
        ],
    }
    return Blob(_dump(cfg), MT_BUILDKIT_CACHE_CONFIG)


def build_probe_caches(nonce: str, *, tag_prefix: str = "cacheinspect-probe") -> list[ProbeCache]:
    """The probe caches of one run; *nonce* (hex) makes every digest and scratch tag unique to it."""
    tar = _layer_tar(nonce)
    diff_id = digestmod.compute(tar)
    gz = Blob(gzip.compress(tar, mtime=0), MT_OCI_LAYER_GZIP)
    gz_docker = Blob(gz.data, MT_DOCKER_LAYER_GZIP)
    zst = Blob(zstd_raw_frame(tar), MT_OCI_LAYER_ZSTD)
    layer_ann = {"buildkit/createdat": _CREATED, "containerd.io/uncompressed": diff_id}
    out: list[ProbeCache] = []

    def tag(shape: str) -> str:
        return f"{tag_prefix}-{nonce}-{shape}"[:128]

    # image-manifest (and zstd: the same shape with a zstd layer)
    for shape, layer, attrs in (
        ("image-manifest", gz, "image-manifest=true,oci-mediatypes=true"),
        ("zstd", zst, "image-manifest=true,oci-mediatypes=true,compression=zstd"),
    ):
        cfg = _cache_config(layer, nonce, shape, diff_id)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": cfg.descriptor(),
            "layers": [layer.descriptor(layer_ann)],
        }
        out.append(
            ProbeCache(shape, tag(shape), _dump(manifest), MT_OCI_MANIFEST, (cfg, layer), cfg.digest, attrs)
        )
    # oci-index and docker-manifest-list: the layers and the cache config as index "children"
    for shape, layer, media_type, attrs in (
        ("oci-index", gz, MT_OCI_INDEX, "image-manifest=false,oci-mediatypes=true"),
        (
            "docker-manifest-list",
            gz_docker,
            MT_DOCKER_MANIFEST_LIST,
            "image-manifest=false,oci-mediatypes=false",
        ),
    ):
        cfg = _cache_config(layer, nonce, shape, diff_id)
        index = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [layer.descriptor(layer_ann), cfg.descriptor()],
        }
        out.append(ProbeCache(shape, tag(shape), _dump(index), media_type, (cfg, layer), cfg.digest, attrs))
    # inline: an image whose config carries the records (mode=min, results index image layers)
    records = [{"digest": _record_digest(nonce, "inline"), "layers": [{"layer": 0, "createdAt": _CREATED}]}]
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": _CREATED, "created_by": "cacheinspect registry probe"}],
        "moby.buildkit.cache.v0": base64.b64encode(_dump(records)).decode(),
    }
    icfg = Blob(_dump(image_config), MT_DOCKER_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_DOCKER_MANIFEST,
        "config": icfg.descriptor(),
        "layers": [gz_docker.descriptor()],
    }
    out.append(
        ProbeCache(
            "inline", tag("inline"), _dump(manifest), MT_DOCKER_MANIFEST, (icfg, gz_docker), icfg.digest, ""
        )
    )
    order = {s: i for i, s in enumerate(SHAPES)}
    out.sort(key=lambda p: order[p.shape])
    return out
