"""An OCI image layout directory as a :class:`~cacheinspect.sources.base.Source`.

``--cache-to type=local,dest=DIR`` writes one (``oci-layout``, ``index.json`` whose entry carries the
``org.opencontainers.image.ref.name`` annotation, ``blobs/<alg>/<hex>``), and so do the fixtures.
Reads are verified exactly like registry fetches so offline reports are as trustworthy as online ones.

A layout is untrusted input (a CI artifact, a downloaded tarball), so every read goes through
:meth:`LayoutSource._read_file`: the path must resolve inside the layout (symlinks out of it are refused
unless ``follow_links``), its type is checked before it is opened (a FIFO, a device such as
``/dev/zero``, a directory, a socket are refused, never read), it is opened non-blocking and checked
again on the open descriptor, and the read stops one byte past the cap whatever ``st_size`` claims.
Every OS error becomes a :class:`~cacheinspect.errors.CacheInspectError`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from cacheinspect import digest as digestmod
from cacheinspect.errors import (
    CacheInspectError,
    MalformedContentError,
    NotFoundError,
    ReferenceError_,
    SizeLimitError,
    UsageError,
)
from cacheinspect.oci import Descriptor, Manifest, decode, sniff_media_type
from cacheinspect.safeio import read_capped
from cacheinspect.sources.base import DEFAULT_MAX_BYTES, Fetched, ProgressCallback, SourceKind

__all__ = ["REF_NAME_ANNOTATION", "LayoutSource", "is_layout"]

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
_CHUNK = 1 << 20


def _exists(p: Path) -> bool:
    """lstat-based: a FIFO, a dangling link or an unreadable entry still *exists* (and is refused later)."""
    try:
        os.lstat(p)
    except (OSError, ValueError):
        return False
    return True


def is_layout(path: Path) -> bool:
    """A directory is an OCI layout when it has an ``oci-layout`` marker or an ``index.json``."""
    try:
        return path.is_dir() and (_exists(path / "oci-layout") or _exists(path / "index.json"))
    except (OSError, ValueError):
        return False


class LayoutSource:
    """Serve manifests and blobs from an OCI layout; ``tag``/``digest`` pick the entry of index.json."""

    kind: SourceKind = "layout"

    def __init__(
        self, path: Path, *, tag: str | None = None, digest: str | None = None, follow_links: bool = False
    ) -> None:
        if not is_layout(path):
            raise UsageError(f"{path} is not an OCI layout directory (no oci-layout or index.json)")
        if digest is not None:
            digestmod.parse(digest)
        self.path = path
        #: the size index.json declares for the root manifest (set by fetch_manifest())
        self.root_declared_size: int | None = None
        #: Follow symlinks that leave the layout (off: a layout is untrusted, and /dev/zero is a file too).
        self.follow_links = follow_links
        try:
            self._root = os.path.realpath(path)
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read {path}: {e}") from None
        self.tag = tag
        self.digest = digest
        suffix = f"@{digest}" if digest else (f":{tag}" if tag else "")
        self.display = f"oci-layout://{path}{suffix}"

    # -- the index ---------------------------------------------------------------------------------
    def _index(self) -> Manifest:
        p = self.path / "index.json"
        data = self._read_file(p, DEFAULT_MAX_BYTES, "index.json", missing=UsageError)
        return decode(data, Manifest, what=f"{p}")

    # -- safe reads --------------------------------------------------------------------------------
    def _resolve(self, p: Path, what: str, missing: type[CacheInspectError]) -> str:
        """The real path of *p*, refusing what resolves outside the layout (unless ``follow_links``)."""
        try:
            os.lstat(p)
            real = os.path.realpath(p, strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise missing(
                f"{what} is not in {self.path} ({p.relative_to(self.path)} does not exist)"
            ) from None
        except OSError as e:
            raise self._os_error(p, what, e) from None
        except ValueError as e:  # NUL byte in a path
            raise MalformedContentError(f"{what}: invalid path {str(p)!r}: {e}") from None
        if not self.follow_links and os.path.commonpath([self._root, real]) != self._root:
            raise MalformedContentError(
                f"{what} {p.relative_to(self.path)} is a link out of the layout (to {real})",
                hint="a layout is read only from inside its directory",
            )
        return real

    def _os_error(self, p: Path, what: str, e: OSError) -> CacheInspectError:
        if e.errno == errno.ELOOP:
            return MalformedContentError(f"{what} {p}: symlink loop")
        if e.errno in (errno.EACCES, errno.EPERM):
            return UsageError(f"cannot read {what} {p}: permission denied")
        if e.errno == errno.ENAMETOOLONG:
            return MalformedContentError(f"{what}: path too long")
        return UsageError(f"cannot read {what} {p}: {e.strerror or e}")

    def _read_file(
        self, p: Path, max_bytes: int, what: str, *, missing: type[CacheInspectError] = NotFoundError
    ) -> bytes:
        real = self._resolve(p, what, missing)
        try:
            st = os.stat(real)
            if not stat.S_ISREG(st.st_mode):
                raise MalformedContentError(f"{what} {p.relative_to(self.path)} is not a regular file")
            if st.st_size > max_bytes:
                raise SizeLimitError(
                    f"{what} {p.name[:19]} is {st.st_size} bytes, over the {max_bytes}-byte cap"
                )
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        except OSError as e:
            raise self._os_error(p, what, e) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a FIFO/device between stat and open
                raise MalformedContentError(f"{what} {p.relative_to(self.path)} is not a regular file")
            data = read_capped(fd, max_bytes)
            if data is None:
                raise SizeLimitError(f"{what} {p.name[:19]} is over the {max_bytes}-byte cap")
        except OSError as e:
            raise self._os_error(p, what, e) from None
        finally:
            os.close(fd)
        return data

    def _stat_blob(self, digest: str) -> int | None:
        """Size of the blob when it is a regular file inside the layout, else None (missing or refused).

        A malformed digest raises :class:`MalformedContentError`, as it does for every other read."""
        p = self._blob_path(digest)  # a malformed digest is malformed content: it raises
        try:
            real = self._resolve(p, "blob", NotFoundError)
            st = os.stat(real)
        except (CacheInspectError, OSError):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def blob_sizes(self, digests: Iterable[str]) -> dict[str, int | None]:
        """Size on disk of each blob (None: missing, not a regular file, or outside the layout)."""
        return {d: self._stat_blob(d) for d in dict.fromkeys(digests)}

    def verify_blob(self, digest: str) -> bool | None:
        """Hash the blob in chunks: True when it matches its digest, False when not, None when absent."""
        try:
            alg, _ = digestmod.parse(digest)
        except ReferenceError_:
            return False
        p = self._blob_path(digest)
        try:
            real = self._resolve(p, "blob", NotFoundError)
        except NotFoundError:
            return None
        except CacheInspectError:
            return False
        try:
            if not stat.S_ISREG(os.stat(real).st_mode):
                return False
            h = hashlib.new(alg)
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return False
                while chunk := os.read(fd, _CHUNK):
                    h.update(chunk)
            finally:
                os.close(fd)
        except (OSError, ValueError):
            return False
        return f"{alg}:{h.hexdigest()}" == digest

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
        try:
            data = self._read_file(self._blob_path(digest), max_bytes, what)
        except NotFoundError:
            raise NotFoundError(f"{what} {digest} is not in {self.path}/blobs") from None
        digestmod.verify(data, digest, what=what)
        return data

    async def fetch_manifest(self, reference: str | None = None) -> Fetched:
        if reference is None or not reference.count(":"):
            if reference is not None:
                self_tag = LayoutSource(self.path, tag=reference)
                return await self_tag.fetch_manifest()
            desc = self.root_descriptor()
            dig = desc.digest
            # BuildKit's readBlob refuses a manifest whose descriptor *declares* over 1 MiB before
            # reading a byte, whatever the blob's real size: the loader reports the larger of the two.
            self.root_declared_size = desc.size if isinstance(desc.size, int) else None
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
            out[d] = self._stat_blob(d) is not None
            if progress:
                progress(i, len(todo))
        return out

    async def aclose(self) -> None:
        return None
