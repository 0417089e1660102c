"""Writing to a registry: blobs, manifests, and OCI 1.1 referrers (the tool's only writes).

Only ``context fingerprint --push`` calls this. Everything follows the OCI distribution spec
(``spec.md``) and what CNCF distribution 2.8 — the registry most self-hosted setups still run — accepts:

* blobs: ``HEAD`` first (an existing blob is not sent again), else a *monolithic* upload: ``POST
  /v2/<name>/blobs/uploads/`` then one ``PUT <Location>&digest=<d>`` with the whole body. Afterwards the
  blob is read back and its digest verified: a registry that stored something else is an error.
* manifests: ``PUT /v2/<name>/manifests/<reference>``; the digest the registry answers with
  (``Docker-Content-Digest``) must be the digest of the bytes sent.
* referrers: ``GET /v2/<name>/referrers/<digest>`` (OCI 1.1). A registry without that API (distribution
  2.8 answers 404) gets the *referrers tag schema* fallback: an image index under the tag
  ``sha256-<hex of the subject>`` listing the artifacts, updated read-modify-write. A registry that
  reports ``OCI-Subject`` on the manifest PUT indexes referrers itself and the tag is left alone.

Token auth needs ``pull,push`` on the repository; the registry's 401 challenge names that scope and the
client's auth flow asks for it (``registry/auth.py``).
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from cacheinspect import digest as digestmod
from cacheinspect.errors import IntegrityError, NotFoundError, RegistryError
from cacheinspect.oci import MT_OCI_INDEX, MT_OCI_MANIFEST
from cacheinspect.registry.client import RegistryClient
from cacheinspect.registry.reference import Reference

__all__ = [
    "EMPTY_CONFIG",
    "MT_EMPTY",
    "Pushed",
    "fallback_tag",
    "list_referrers",
    "push_artifact",
    "push_blob",
    "push_manifest",
]

MT_EMPTY = "application/vnd.oci.empty.v1+json"
#: The OCI 1.1 empty descriptor's content (``{}``), used as the config of artifacts without one.
EMPTY_CONFIG = b"{}"


@dataclass(frozen=True, slots=True)
class Pushed:
    """Where an artifact went: its manifest digest and whether the tag fallback was written."""

    repository: str
    digest: str
    size: int
    fallback_tag: str | None


def fallback_tag(subject_digest: str) -> str:
    """The referrers tag schema's tag for a subject: ``<alg>-<hex>`` (spec.md "Referrers Tag Schema")."""
    alg, _, hexpart = subject_digest.partition(":")
    return f"{alg}-{hexpart}"[:128]


async def push_blob(client: RegistryClient, ref: Reference, data: bytes, media_type: str) -> dict[str, Any]:
    """Upload one blob (skipped when it exists), verify it by reading it back; returns its descriptor."""
    dig = digestmod.compute(data)
    what = f"blob {digestmod.short(dig)}"
    if not await client.blob_exists(ref, dig):
        status, headers, _ = await client.request(
            ref, "POST", f"/v2/{ref.repository}/blobs/uploads/", headers={"Content-Length": "0"}, what=what
        )
        location = headers.get("location")
        if status != 202 or not location:
            raise RegistryError(f"{what}: upload start answered HTTP {status} without a Location")
        if not (location.startswith("/") or "://" in location):
            raise RegistryError(f"{what}: unusable upload Location {location!r}")
        target = location
        sep = "&" if "?" in target else "?"
        status, _, _ = await client.request(
            ref,
            "PUT",
            f"{target}{sep}digest={dig}",
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
            content=data,
            what=what,
        )
        if status != 201:
            raise RegistryError(f"{what}: upload answered HTTP {status}, expected 201")
    back = await client.fetch_blob(ref, dig, max_bytes=max(len(data), 1))  # verifies the digest
    if back != data:
        raise IntegrityError(f"{what}: the registry returned other bytes than were uploaded")
    return {"mediaType": media_type, "digest": dig, "size": len(data)}


async def push_manifest(
    client: RegistryClient, ref: Reference, data: bytes, media_type: str, reference: str
) -> tuple[str, bool]:
    """PUT a manifest under a tag or its digest; returns (digest, registry indexes referrers itself)."""
    dig = digestmod.compute(data)
    what = f"manifest {digestmod.short(dig)}"
    status, headers, _ = await client.request(
        ref,
        "PUT",
        f"/v2/{ref.repository}/manifests/{reference}",
        headers={"Content-Type": media_type},
        content=data,
        what=what,
    )
    if status not in (200, 201):
        raise RegistryError(f"{what}: PUT answered HTTP {status}, expected 201")
    claimed = headers.get("docker-content-digest")
    if claimed and claimed != dig:
        raise IntegrityError(f"{what}: the registry stored it as {claimed}")
    fetched = await client.fetch_manifest(ref, dig)  # verifies the digest of what is stored
    if fetched.data != data:
        raise IntegrityError(f"{what}: the registry returned other bytes than were uploaded")
    return dig, bool(headers.get("oci-subject"))


async def list_referrers(
    client: RegistryClient, ref: Reference, subject: str, artifact_type: str | None = None
) -> list[dict[str, Any]]:
    """The descriptors referring to ``subject``: the referrers API, else the ``sha256-<hex>`` tag index."""
    digestmod.parse(subject)
    path = f"/v2/{ref.repository}/referrers/{subject}"
    if artifact_type:
        path += "?artifactType=" + urllib.parse.quote(artifact_type, safe="")  # "+" must not become " "
    body: bytes | None = None
    try:
        status, headers, data = await client.request(
            ref, "GET", path, headers={"Accept": MT_OCI_INDEX}, want_body=True, what=f"referrers of {subject}"
        )
        if status == 200 and headers.get("content-type", "").split(";")[0].strip() == MT_OCI_INDEX:
            body = data
    except (NotFoundError, RegistryError):
        body = None  # no referrers API (404, or 400/405 from registries that route it nowhere)
    if body is None:
        try:
            body = (await client.fetch_manifest(ref, fallback_tag(subject))).data
        except NotFoundError:
            return []
    try:
        index = json.loads(body)
    except ValueError:
        raise IntegrityError(f"referrers of {subject}: not JSON") from None
    items = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(items, list):
        return []
    out = [d for d in items if isinstance(d, dict) and isinstance(d.get("digest"), str)]
    if artifact_type:
        out = [d for d in out if d.get("artifactType") == artifact_type]
    return out


async def push_artifact(
    client: RegistryClient,
    ref: Reference,
    *,
    artifact_type: str,
    payload: bytes,
    payload_media_type: str,
    subject: dict[str, Any],
    annotations: dict[str, str] | None = None,
) -> Pushed:
    """Push an OCI 1.1 artifact (empty config, one layer) whose ``subject`` is another manifest, and make
    it findable through the referrers API or, failing that, the tag fallback."""
    config = await push_blob(client, ref, EMPTY_CONFIG, MT_EMPTY)
    layer = await push_blob(client, ref, payload, payload_media_type)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        "layers": [layer],
        "subject": {k: subject[k] for k in ("mediaType", "digest", "size")},
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    data = json.dumps(manifest, separators=(",", ":")).encode()
    dig, indexed = await push_manifest(client, ref, data, MT_OCI_MANIFEST, digestmod.compute(data))
    tag: str | None = None
    if not indexed:
        tag = fallback_tag(subject["digest"])
        try:
            current = json.loads((await client.fetch_manifest(ref, tag)).data)
        except NotFoundError:
            current = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": []}
        except ValueError:
            raise IntegrityError(f"{ref.repository}:{tag} is not JSON") from None
        listed = current.get("manifests") if isinstance(current, dict) else None
        if not isinstance(listed, list):
            # someone else's tag of that name: rewriting it would destroy what it holds
            raise IntegrityError(f"{ref.repository}:{tag} exists and is not an image index of referrers")
        entries = [d for d in listed if isinstance(d, dict) and d.get("digest") != dig]
        entry: dict[str, Any] = {
            "mediaType": MT_OCI_MANIFEST,
            "digest": dig,
            "size": len(data),
            "artifactType": artifact_type,
        }
        if annotations:
            entry["annotations"] = dict(annotations)
        entries.append(entry)
        index = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": entries}
        await push_manifest(client, ref, json.dumps(index, separators=(",", ":")).encode(), MT_OCI_INDEX, tag)
    return Pushed(ref.repository, dig, len(data), tag)
