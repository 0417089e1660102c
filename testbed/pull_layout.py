"""Copy one tag from a plain-HTTP loopback registry into an OCI image layout directory, byte for byte.

Generic tools choke on BuildKit cache indexes (their ``manifests[]`` hold layer blobs, not manifests), so
this walks descriptors by media type: manifests and indexes are recursed into (config and layers of a
manifest are fetched as blobs), everything else is fetched as a blob. Raw bytes are kept and every digest
is verified.

    python testbed/pull_layout.py 127.0.0.1:5000/cache/threestage:max fixtures/threestage-max

Prints a JSON summary (root media type and digest, blob count, total bytes) on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import httpx

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
ACCEPT = ", ".join(MANIFEST_TYPES)


def parse_ref(ref: str) -> tuple[str, str, str]:
    """``host:port/repo/name:tag`` (or ``@sha256:…``) -> (host, repo, reference)."""
    host, _, rest = ref.partition("/")
    if "@" in rest:
        repo, _, reference = rest.partition("@")
    else:
        repo, _, reference = rest.rpartition(":")
        if not repo:
            repo, reference = rest, "latest"
    return host, repo, reference


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Puller:
    def __init__(self, host: str, repo: str, out: Path) -> None:
        self.base = f"http://{host}/v2/{repo}"
        self.out = out
        self.blobs = out / "blobs" / "sha256"
        self.client = httpx.Client(timeout=60.0)
        self.seen: set[str] = set()
        self.total = 0

    def _store(self, digest: str, data: bytes) -> None:
        if sha256(data) != digest:
            raise SystemExit(f"digest mismatch for {digest}: got {sha256(data)}")
        path = self.blobs / digest.split(":", 1)[1]
        if not path.exists():
            path.write_bytes(data)
            self.total += len(data)

    def fetch_manifest(self, reference: str) -> tuple[str, str, bytes]:
        r = self.client.get(f"{self.base}/manifests/{reference}", headers={"Accept": ACCEPT})
        r.raise_for_status()
        data = r.content
        media_type = r.headers.get("content-type", "").split(";")[0].strip()
        body = json.loads(data)
        media_type = body.get("mediaType") or media_type
        digest = sha256(data)
        if reference.startswith("sha256:") and reference != digest:
            raise SystemExit(f"manifest digest mismatch: asked {reference}, got {digest}")
        return media_type, digest, data

    def fetch_blob(self, desc: dict[str, Any]) -> None:
        digest = desc["digest"]
        if digest in self.seen:
            return
        self.seen.add(digest)
        r = self.client.get(f"{self.base}/blobs/{digest}", follow_redirects=True)
        r.raise_for_status()
        if "size" in desc and len(r.content) != desc["size"]:
            raise SystemExit(f"size mismatch for {digest}: {len(r.content)} != {desc['size']}")
        self._store(digest, r.content)

    def walk_manifest(self, reference: str, expect: dict[str, Any] | None = None) -> tuple[str, str, int]:
        media_type, digest, data = self.fetch_manifest(reference)
        if expect is not None and (expect["digest"] != digest or expect.get("size", len(data)) != len(data)):
            raise SystemExit(f"descriptor mismatch for {expect['digest']}")
        self.seen.add(digest)
        self._store(digest, data)
        body = json.loads(data)
        if "config" in body:
            self.fetch_blob(body["config"])
        for layer in body.get("layers", []):
            self.fetch_blob(layer)
        for child in body.get("manifests", []):
            if child.get("mediaType") in MANIFEST_TYPES:
                if child["digest"] not in self.seen:
                    self.walk_manifest(child["digest"], child)
            else:  # cache index: layer blobs and the cacheconfig sit in manifests[]
                self.fetch_blob(child)
        return media_type, digest, len(data)

    def pull(self, reference: str) -> dict[str, Any]:
        self.blobs.mkdir(parents=True, exist_ok=True)
        media_type, digest, size = self.walk_manifest(reference)
        (self.out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": media_type,
                    "digest": digest,
                    "size": size,
                    "annotations": {"org.opencontainers.image.ref.name": "latest"},
                }
            ],
        }
        (self.out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
        return {
            "root_media_type": media_type,
            "root_digest": digest,
            "blob_count": len(list(self.blobs.iterdir())),
            "bytes": sum(p.stat().st_size for p in self.blobs.iterdir()),
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref", help="host:port/repo:tag on a plain-HTTP registry")
    ap.add_argument("dest", type=Path, help="OCI layout directory to write (created)")
    args = ap.parse_args(argv)
    host, repo, reference = parse_ref(args.ref)
    args.dest.mkdir(parents=True, exist_ok=True)
    summary = Puller(host, repo, args.dest).pull(reference)
    json.dump(summary, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
