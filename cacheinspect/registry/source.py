"""A repository in a registry as a :class:`~cacheinspect.sources.base.Source` (the online twin of LayoutSource)."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

from cacheinspect.registry.client import RegistryClient
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.registry.reference import Reference
from cacheinspect.sources.base import Fetched, ProgressCallback, Source, SourceKind

__all__ = ["RegistrySource"]


class RegistrySource:
    """Serve manifests and blobs of ``ref``'s repository; ``fetch_manifest()`` without an argument
    fetches ``ref`` itself (its digest when pinned, else its tag). Every by-digest read is verified."""

    kind: SourceKind = "registry"

    def __init__(
        self,
        ref: Reference,
        options: RegistryOptions | None = None,
        *,
        client: RegistryClient | None = None,
    ) -> None:
        self.ref = ref
        self.display = str(ref)
        self._own_client = client is None
        self.client = client or RegistryClient(options)

    def __repr__(self) -> str:
        return f"RegistrySource({self.display!r})"

    async def __aenter__(self) -> RegistrySource:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def fetch_manifest(self, reference: str | None = None) -> Fetched:
        return await self.client.fetch_manifest(self.ref, reference)

    async def fetch_blob(self, digest: str, *, max_bytes: int | None = None) -> bytes:
        """``max_bytes=None`` means the client's ``RegistryOptions.max_bytes`` (``--max-bytes``)."""
        return await self.client.fetch_blob(self.ref, digest, max_bytes=max_bytes)

    async def verify_blob(self, digest: str, *, size: int | None = None) -> bool:
        """Stream the blob through a hash (no size cap, nothing held in memory): does it match *digest*?"""
        return await self.client.verify_blob(self.ref, digest, size=size)

    async def blobs_exist(
        self, digests: Iterable[str], *, progress: ProgressCallback | None = None
    ) -> dict[str, bool]:
        return await self.client.blobs_exist(self.ref, digests, progress=progress)

    async def aclose(self) -> None:
        """Close the client when this source created it (a shared client is its owner's to close)."""
        if self._own_client:
            await self.client.aclose()


def _conforms(s: RegistrySource) -> Source:
    """mypy proves here that RegistrySource implements the Source protocol."""
    return s
