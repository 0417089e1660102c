"""An OCI image layout directory as a :class:`~cacheinspect.sources.base.Source`.

``--cache-to type=local,dest=DIR`` writes one (``oci-layout``, ``index.json`` whose entry carries the
``org.opencontainers.image.ref.name`` annotation, ``blobs/<alg>/<hex>``), and so do the fixtures.
Reads are verified exactly like registry fetches so offline reports are as trustworthy as online ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cacheinspect import digest as digestmod
from cacheinspect.errors import (
    MalformedContentError,
    NotFoundError,
    ReferenceError_,
    SizeLimitError,
    UsageError,
)
from cacheinspect.oci import Descriptor, Manifest, decode, sniff_media_type
from cacheinspect.sources.base import DEFAULT_MAX_BYTES, Fetched, ProgressCallback, SourceKind

__all__ = ["REF_NAME_ANNOTATION", "LayoutSource", "is_layout"]

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"


def is_layout(path: Path) -> bool:
    """A directory is an OCI layout when it has an ``oci-layout`` marker or an ``index.json``."""
    return path.is_dir() and ((path / "oci-layout").is_file() or (path / "index.json").is_file())


class LayoutSource:
    """Serve manifests and blobs from an OCI layout; ``tag``/``digest`` pick the entry of index.json."""

    kind: SourceKind = "layout"

    def __init__(self, path: Path, *, tag: str | None = None, digest: str | None = None) -> None:
        if not is_layout(path):
            raise UsageError(f"{path} is not an OCI layout directory (no oci-layout or index.json)")
        if digest is not None:
            digestmod.parse(digest)
        self.path = path
        self.tag = tag
        self.digest = digest
        suffix = f"@{digest}" if digest else (f":{tag}" if tag else "")
        self.display = f"oci-layout://{path}{suffix}"

    # -- the index ---------------------------------------------------------------------------------
    def _index(self) -> Manifest:
        try:
            data = (self.path / "index.json").read_bytes()
        except OSError as e:
            raise UsageError(f"cannot read {self.path / 'index.json'}: {e.strerror}") from None
        return decode(data, Manifest, what=f"{self.path / 'index.json'}")

    def root_descriptor(self) -> Descriptor:
        """The index.json entry this source stands for (by digest, by tag, or the only one)."""
        entries = self._index().manifests or []
        if self.digest:
            for d in entries:
                if d.digest == self.digest:
                    return d
            # A digest not listed in index.json may still be a blob of the layout.
            return Descriptor(digest=self.digest)
        tags = {(d.annotations or {}).get(REF_NAME_ANNOTATION): d for d in entries}
        if self.tag is not None:
            if self.tag in tags:
                return tags[self.tag]
            raise NotFoundError(
                f"tag {self.tag!r} not found in {self.path}/index.json "
                f"(tags: {', '.join(sorted(t for t in tags if t)) or 'none'})"
            )
        if len(entries) == 1:
            return entries[0]
        if "latest" in tags:
            return tags["latest"]
        if not entries:
            raise NotFoundError(f"{self.path}/index.json lists no manifests")
        raise UsageError(
            f"{self.path}/index.json lists {len(entries)} manifests; pick one with oci-layout://DIR:TAG "
            "or oci-layout://DIR@DIGEST"
        )

    # -- Source ------------------------------------------------------------------------------------
    def _blob_path(self, digest: str) -> Path:
        # Digests reaching here come from index.json or manifests (the user's own is checked in
        # __init__): a malformed one is malformed content (exit 6), not a usage error.
        try:
            alg, hexpart = digestmod.parse(digest)
        except ReferenceError_ as e:
            raise MalformedContentError(f"{self.path}: {e.message}") from None
        return self.path / "blobs" / alg / hexpart

    def _read(self, digest: str, max_bytes: int, what: str) -> bytes:
        p = self._blob_path(digest)
        try:
            size = p.stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"{what} {digest} is not in {self.path}/blobs") from None
        if size > max_bytes:
            raise SizeLimitError(
                f"{what} {digestmod.short(digest)} is {size} bytes, over the {max_bytes}-byte cap"
            )
        data = p.read_bytes()
        digestmod.verify(data, digest, what=what)
        return data

    async def fetch_manifest(self, reference: str | None = None) -> Fetched:
        if reference is None or not reference.count(":"):
            if reference is not None:
                self_tag = LayoutSource(self.path, tag=reference)
                return await self_tag.fetch_manifest()
            desc = self.root_descriptor()
            dig = desc.digest
        else:
            desc, dig = Descriptor(digest=reference), reference
        data = self._read(dig, DEFAULT_MAX_BYTES, "manifest")
        media = desc.mediaType or sniff_media_type(data)
        return Fetched(data=data, media_type=media, digest=dig)

    async def fetch_blob(self, digest: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
        return self._read(digest, max_bytes, "blob")

    async def blobs_exist(
        self, digests: Iterable[str], *, progress: ProgressCallback | None = None
    ) -> dict[str, bool]:
        todo = list(dict.fromkeys(digests))
        out: dict[str, bool] = {}
        for i, d in enumerate(todo, 1):
            out[d] = self._blob_path(d).is_file()
            if progress:
                progress(i, len(todo))
        return out

    async def aclose(self) -> None:
        return None
