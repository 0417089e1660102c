"""Host A's fingerprint stored next to its cache, and found again by ``context check`` on host B.

``context fingerprint --push CACHE_REF`` stores the fingerprint as an OCI 1.1 artifact in the cache's
repository: ``artifactType`` :data:`ARTIFACT_TYPE`, an empty config, one layer holding the JSON, and
``subject`` = the cache's manifest, so any OCI 1.1 tool lists it under the cache
(``oras discover``). ``context check`` looks it up through the referrers API, or the ``sha256-<hex>``
tag that registries without it (distribution 2.8) use, and takes the newest one whose roots appear in
the cache. Registry mechanics are in :mod:`cacheinspect.registry.push`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cacheinspect.errors import CacheInspectError, UsageError

if TYPE_CHECKING:
    from cacheinspect.registry.options import RegistryOptions
    from cacheinspect.registry.push import Pushed

__all__ = ["ARTIFACT_TYPE", "find_fingerprint", "push_fingerprint"]

ARTIFACT_TYPE = "application/vnd.cacheinspect.context-fingerprint.v1+json"
_CREATED = "org.opencontainers.image.created"


def _registry_ref(cache_ref: str) -> Any:
    from cacheinspect.reference import Reference
    from cacheinspect.sources.targets import parse_target

    t = parse_target(cache_ref)
    if not isinstance(t, Reference):
        raise UsageError(f"--push {cache_ref}: a fingerprint is pushed to a registry cache reference")
    return t


async def push_fingerprint(doc: dict[str, Any], cache_ref: str, options: RegistryOptions) -> Pushed:
    """Push ``doc`` as an artifact referring to the manifest ``cache_ref`` points at (it must exist)."""
    from cacheinspect.registry.client import RegistryClient
    from cacheinspect.registry.push import push_artifact

    ref = _registry_ref(cache_ref)
    from .fingerprint import dumps_json

    payload = (dumps_json(doc, indent=1) + "\n").encode()
    async with RegistryClient(options) as client:
        top = await client.fetch_manifest(ref)
        subject = {"mediaType": top.media_type, "digest": top.digest, "size": len(top.data)}
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return await push_artifact(
            client,
            ref,
            artifact_type=ARTIFACT_TYPE,
            payload=payload,
            payload_media_type=ARTIFACT_TYPE,
            subject=subject,
            annotations={
                _CREATED: created,
                "dev.cacheinspect.buildkit-rules": str(doc.get("buildkit_rules", "")),
            },
        )


async def find_fingerprint(
    cache_ref: str, subject_digest: str, options: RegistryOptions, *, roots: set[str] | None = None
) -> tuple[dict[str, Any], str] | None:
    """The newest fingerprint referring to ``subject_digest`` in ``cache_ref``'s repository whose step
    roots appear among ``roots`` (the cache's; the newest of all when none does), with a label saying
    where it came from; None when there is none (or the registry does not let us look)."""
    from cacheinspect.context.fingerprint import load_fingerprint
    from cacheinspect.registry.client import RegistryClient
    from cacheinspect.registry.push import list_referrers

    ref = _registry_ref(cache_ref)
    async with RegistryClient(options) as client:
        try:
            found = await list_referrers(client, ref, subject_digest, ARTIFACT_TYPE)
        except CacheInspectError:
            return None
        found.sort(key=lambda d: str((d.get("annotations") or {}).get(_CREATED, "")), reverse=True)
        fallback: tuple[dict[str, Any], str] | None = None
        for desc in found:
            try:
                m = json.loads((await client.fetch_manifest(ref, desc["digest"])).data)
                layers = [x for x in m.get("layers", []) if x.get("mediaType") == ARTIFACT_TYPE]
                if not layers:
                    continue
                data = await client.fetch_blob(ref, layers[0]["digest"])
                doc = load_fingerprint(data, name=f"fingerprint {desc['digest']}")
            except (CacheInspectError, ValueError, KeyError, TypeError, AttributeError):
                continue
            label = f"{ref.name}@{desc['digest']} (referrer of the cache)"
            own = {str(st.get("root")) for st in doc.get("steps", []) if isinstance(st, dict)}
            if roots is None or own & roots:
                return doc, label
            fallback = fallback or (doc, label)
    return fallback
