"""The OCI 1.1 side of the fingerprint push: a registry *with* the referrers API (distribution 3 / zot /
Harbor 2.8+ answer ``OCI-Subject`` on the manifest PUT and serve ``/v2/<name>/referrers/<digest>``).

No such registry is packaged for these machines (Debian ships distribution 2.8, covered for real in
``test_push.py``), so this one is a small in-memory registry behind httpx's transport hook, implementing
just the endpoints the spec defines for this flow (spec.md "Pushing Manifests with Subject", "Listing
Referrers"). It checks the two things 2.8 cannot show: no fallback tag is written when the registry
indexes referrers itself, and the API (with ``artifactType`` filtering) is what the lookup reads.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import httpx
import pytest

from cacheinspect.context.push import ARTIFACT_TYPE
from cacheinspect.errors import IntegrityError
from cacheinspect.registry.client import RegistryClient
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.registry.push import list_referrers, push_artifact
from cacheinspect.registry.reference import parse_reference

INDEX = "application/vnd.oci.image.index.v1+json"


class Oci11Registry:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[str, bytes]] = {}  # digest or tag -> (media type, body)
        self.uploads = 0
        self.writes: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/v2/":
            return httpx.Response(200)
        name, _, rest = path[len("/v2/") :].partition("/blobs/")
        if rest:
            if rest.startswith("uploads/") and method == "POST":
                self.uploads += 1
                return httpx.Response(
                    202, headers={"Location": f"/v2/{name}/blobs/uploads/u{self.uploads}?state=x"}
                )
            if rest.startswith("uploads/") and method == "PUT":
                d = request.url.params["digest"]
                body = request.read()
                assert "sha256:" + hashlib.sha256(body).hexdigest() == d
                self.blobs[d] = body
                self.writes.append(f"blob {d}")
                return httpx.Response(201, headers={"Docker-Content-Digest": d})
            if rest in self.blobs:
                return httpx.Response(200, content=b"" if method == "HEAD" else self.blobs[rest])
            return httpx.Response(404, json={"errors": [{"code": "BLOB_UNKNOWN"}]})
        name, _, ref = path[len("/v2/") :].partition("/manifests/")
        if ref:
            if method == "PUT":
                body = request.read()
                d = "sha256:" + hashlib.sha256(body).hexdigest()
                mt = request.headers["content-type"]
                self.manifests[d] = self.manifests[ref] = (mt, body)
                self.writes.append(f"manifest {ref}")
                headers = {"Docker-Content-Digest": d}
                subject = json.loads(body).get("subject")
                if subject:
                    headers["OCI-Subject"] = subject["digest"]
                return httpx.Response(201, headers=headers)
            if ref in self.manifests:
                mt, body = self.manifests[ref]
                return httpx.Response(200, content=body, headers={"Content-Type": mt})
            return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        name, _, subject = path[len("/v2/") :].partition("/referrers/")
        if subject:
            want = request.url.params.get("artifactType")
            items: list[dict[str, Any]] = []
            for d, (mt, body) in self.manifests.items():
                if not d.startswith("sha256:"):
                    continue
                m = json.loads(body)
                if (m.get("subject") or {}).get("digest") == subject and (
                    not want or m.get("artifactType") == want
                ):
                    items.append(
                        {
                            "mediaType": mt,
                            "digest": d,
                            "size": len(body),
                            "artifactType": m.get("artifactType"),
                        }
                    )
            return httpx.Response(
                200,
                content=json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": items}),
                headers={"Content-Type": INDEX},
            )
        return httpx.Response(404)


def test_referrers_api_is_used_and_no_tag_is_written() -> None:
    reg = Oci11Registry()
    subject_body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    subject_digest = "sha256:" + hashlib.sha256(subject_body).hexdigest()
    reg.manifests["cache"] = reg.manifests[subject_digest] = (
        "application/vnd.oci.image.manifest.v1+json",
        subject_body,
    )
    ref = parse_reference("registry.test/app:cache")

    async def go() -> list[dict[str, Any]]:
        options = RegistryOptions(plain_http=True)
        async with RegistryClient(options, transport=httpx.MockTransport(reg.handle)) as client:
            pushed = await push_artifact(
                client,
                ref,
                artifact_type=ARTIFACT_TYPE,
                payload=b'{"schema":"x"}',
                payload_media_type=ARTIFACT_TYPE,
                subject={
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": subject_digest,
                    "size": len(subject_body),
                },
            )
            assert pushed.fallback_tag is None
            other = await list_referrers(client, ref, subject_digest, "application/x-other")
            assert other == []
            return await list_referrers(client, ref, subject_digest, ARTIFACT_TYPE)

    found = asyncio.run(go())
    assert [d["artifactType"] for d in found] == [ARTIFACT_TYPE]
    assert not any(w.startswith("manifest sha256-") for w in reg.writes), reg.writes
    assert sum(w.startswith("blob") for w in reg.writes) == 2  # the empty config and the payload


class Registry28(Oci11Registry):
    """No ``OCI-Subject`` on the manifest PUT and no referrers API: the client writes the tag fallback."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        if "/referrers/" in request.url.path:
            return httpx.Response(404, json={"errors": [{"code": "NAME_UNKNOWN"}]})
        resp = super().handle(request)
        resp.headers.pop("OCI-Subject", None)
        return resp


@pytest.mark.parametrize("existing", [b"[1, 2]", b'{"schemaVersion": 2, "manifests": null}'])
def test_a_fallback_tag_that_is_no_referrers_index_is_left_alone(existing: bytes) -> None:
    reg = Registry28()
    subject_body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    subject_digest = "sha256:" + hashlib.sha256(subject_body).hexdigest()
    reg.manifests["cache"] = reg.manifests[subject_digest] = (
        "application/vnd.oci.image.manifest.v1+json",
        subject_body,
    )
    tag = "sha256-" + subject_digest.split(":")[1]
    reg.manifests[tag] = (INDEX, existing)
    ref = parse_reference("registry.test/app:cache")

    async def go() -> None:
        async with RegistryClient(
            RegistryOptions(plain_http=True), transport=httpx.MockTransport(reg.handle)
        ) as client:
            await push_artifact(
                client,
                ref,
                artifact_type=ARTIFACT_TYPE,
                payload=b'{"schema":"x"}',
                payload_media_type=ARTIFACT_TYPE,
                subject={
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": subject_digest,
                    "size": len(subject_body),
                },
            )

    with pytest.raises(IntegrityError, match="not an image index of referrers"):
        asyncio.run(go())
    assert reg.manifests[tag] == (INDEX, existing)
