"""Registry rules no registry here reproduces, emulated by a rule proxy in front of a real registry.

These are **emulations**, not the registries: each answers exactly what the cited issue documents for
the request it documents, and forwards everything else to the real CNCF distribution 2.8 behind it.

* ECR (moby/buildkit#699, aws/containers-roadmap#876): the PUT of a cache *index* (OCI index or Docker
  manifest list whose children are layer blobs, not manifests) answers ``400`` with
  ``{"errors":[{"code":"UNSUPPORTED","message":"Unsupported manifest type: \\"<media type>\\""}]}``
  (the body quoted in moby/buildkit#699); an image manifest whose config is the cache config is taken
  (ECR's BuildKit 0.12 remote-cache support, aws/containers-roadmap#876).
* Harbor (goharbor/harbor#14774, moby/buildkit#2479): the PUT of the cache index answers
  ``404 Not Found``. The issues show only the status line; the body here is Harbor's error envelope with
  code ``NOT_FOUND`` (illustrative).
* Quay (moby/buildkit#1550, #3222, #1440): an index whose children lack ``platform`` answers ``400``
  ``MANIFEST_INVALID`` with the detail message quoted in moby/buildkit#1440 ("failed to parse manifest:
  manifest data does not match schema: 'platform' is a required property").
"""

from __future__ import annotations

import json

from tests.support.faultproxy import FaultProxy, Rule

__all__ = ["EMULATIONS", "ecr", "harbor", "quay"]

_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_MANIFEST_CHILDREN = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def _content_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip()


def _children(body: bytes) -> list[dict[str, object]]:
    try:
        doc = json.loads(body)
    except ValueError:
        return []
    items = doc.get("manifests") if isinstance(doc, dict) else None
    return [d for d in items if isinstance(d, dict)] if isinstance(items, list) else []


def _cache_index(headers: dict[str, str], body: bytes) -> bool:
    """An index whose children are not all manifests: BuildKit's index cache shape."""
    return _content_type(headers) in _INDEX_TYPES and any(
        d.get("mediaType") not in _MANIFEST_CHILDREN for d in _children(body)
    )


def ecr(proxy: FaultProxy) -> None:
    for mt in _INDEX_TYPES:
        body = json.dumps(
            {"errors": [{"code": "UNSUPPORTED", "message": f'Unsupported manifest type: "{mt}"'}]}
        )
        proxy.add(
            Rule(
                "respond",
                r"/manifests/",
                "PUT",
                status=400,
                body=body.encode(),
                when=lambda h, b, mt=mt: _content_type(h) == mt and _cache_index(h, b),  # type: ignore[misc]
            )
        )


def harbor(proxy: FaultProxy) -> None:
    body = json.dumps({"errors": [{"code": "NOT_FOUND", "message": "not found"}]}).encode()
    proxy.add(Rule("respond", r"/manifests/", "PUT", status=404, body=body, when=_cache_index))


def quay(proxy: FaultProxy) -> None:
    detail = {
        "message": "failed to parse manifest: manifest data does not match schema: 'platform' is a required property"
    }
    body = json.dumps(
        {"errors": [{"code": "MANIFEST_INVALID", "detail": detail, "message": "manifest invalid"}]}
    )

    def no_platform(h: dict[str, str], b: bytes) -> bool:
        return _content_type(h) in _INDEX_TYPES and any("platform" not in d for d in _children(b))

    proxy.add(Rule("respond", r"/manifests/", "PUT", status=400, body=body.encode(), when=no_platform))


EMULATIONS = {"ecr": ecr, "harbor": harbor, "quay": quay}
