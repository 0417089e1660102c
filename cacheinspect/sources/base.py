"""The seam between the inspector and where a cache lives.

Everything downstream (decoding, graph, inspect, diff, audit) talks to a :class:`Source`; it never
knows whether the bytes come from a registry over HTTP or from an OCI layout directory on disk, so
the same report runs online and offline. Implementations verify every digest they serve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, Protocol

import msgspec

__all__ = ["DEFAULT_MAX_BYTES", "Fetched", "ProgressCallback", "Source", "SourceKind"]

SourceKind = Literal["registry", "layout", "file"]

#: Generous in-memory cap for manifests and configs (REGISTRY-CLIENT.md "Size caps"). BuildKit's own
#: import cap is 1 MiB; anything between the two is read and reported as a finding.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024

#: Called as ``progress(done, total)`` while checking many blobs.
ProgressCallback = Callable[[int, int], None]


class Fetched(msgspec.Struct, frozen=True):
    """Raw bytes of a manifest or blob, already verified against ``digest``."""

    data: bytes
    media_type: str
    digest: str


class Source(Protocol):
    """Read access to one repository (registry) or one OCI layout (directory)."""

    #: "registry" or "layout".
    kind: SourceKind
    #: The reference as the user should see it in reports (no secrets).
    display: str

    async def fetch_manifest(self, reference: str | None = None) -> Fetched:
        """Fetch a manifest or index by tag or digest; ``None`` means the reference's own tag/digest.

        Fetches by digest are verified; a tag fetch is hashed and the result returned as ``digest``.
        """
        ...

    async def fetch_blob(self, digest: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
        """Fetch a (small) blob fully into memory, verified; refuse bodies over ``max_bytes``."""
        ...

    async def blobs_exist(
        self, digests: Iterable[str], *, progress: ProgressCallback | None = None
    ) -> dict[str, bool]:
        """Check which blobs exist, concurrently where the source allows; never raises for 'missing'."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
