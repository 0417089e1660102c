"""Tiny builders for hand-made caches and images in OCI layouts (bytes written exactly as given)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CACHE = "application/vnd.buildkit.cacheconfig.v0"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
T0 = "2026-11-20T10:00:00Z"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def enc(x: Any) -> bytes:
    return x if isinstance(x, bytes) else json.dumps(x).encode()


class Layout:
    """``put`` blobs, then ``finish`` with the root manifest: index.json names it as tag latest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def put(self, data: bytes | Any) -> str:
        b = enc(data)
        dg = sha(b)
        (self.path / "blobs" / "sha256" / dg[7:]).write_bytes(b)
        return dg

    def desc(self, data: bytes | Any, media_type: str, **extra: Any) -> dict[str, Any]:
        b = enc(data)
        return {"mediaType": media_type, "digest": self.put(b), "size": len(b), **extra}

    def finish(self, root: bytes | Any, media_type: str = MT_INDEX) -> Path:
        d = self.desc(root, media_type, annotations={"org.opencontainers.image.ref.name": "latest"})
        (self.path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [d]}))
        return self.path


def layer_blobs(lay: Layout, n: int, salt: str = "") -> list[dict[str, Any]]:
    return [lay.desc(f"layer {salt}{i}".encode(), MT_LAYER) for i in range(n)]


def chain_config(blobs: list[str], *, created: str = T0) -> dict[str, Any]:
    """A valid two-step cache: root record, then one step per layer, each with its stack as a result."""
    layers = [{"blob": b, "parent": i - 1} for i, b in enumerate(blobs)]
    recs: list[dict[str, Any]] = [{"digest": sha(b"root@-1")}]
    for i in range(len(blobs)):
        recs.append(
            {
                "digest": sha(f"step{i}@0".encode()),
                "inputs": [[{"link": i}]],
                "layers": [{"layer": i, "createdAt": created}],
            }
        )
    return {"layers": layers, "records": recs}


def registry_cache(path: Path, config: bytes | Any | None = None, *, n_layers: int = 2, **kw: Any) -> Path:
    """An index-shaped registry cache (what ``--cache-to type=local`` writes)."""
    lay = Layout(path)
    ls = layer_blobs(lay, n_layers)
    cfg = enc(config if config is not None else chain_config([d["digest"] for d in ls]))
    cdesc = lay.desc(cfg, MT_CACHE)
    cdesc.update(kw.pop("config_desc", {}))
    manifests = [*ls, cdesc, *kw.pop("extra", [])]
    body: dict[str, Any] = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests, **kw}
    return lay.finish(body)


def inline_image(
    path: Path,
    *,
    records: Any = None,
    cache_value: Any = "auto",
    n_layers: int = 2,
    history: list[dict[str, Any]] | None = None,
    diff_ids: int | None = None,
    attestation: bytes | None = None,
    manifest_extra: dict[str, Any] | None = None,
    salt: str = "img",
) -> Path:
    """An image index with one linux/amd64 image carrying inline cache (and optionally an attestation)."""
    lay = Layout(path)
    ls = layer_blobs(lay, n_layers, salt)
    if records is None:
        records = chain_config([d["digest"] for d in ls])["records"]
    cfg: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {
            "type": "layers",
            "diff_ids": [
                sha(f"diff{i}".encode()) for i in range(diff_ids if diff_ids is not None else n_layers)
            ],
        },
        "history": history
        if history is not None
        else [{"created": T0, "created_by": f"RUN step{i}"} for i in range(n_layers)],
    }
    if cache_value == "auto":
        cfg["moby.buildkit.cache.v0"] = base64.b64encode(json.dumps(records).encode()).decode()
    elif cache_value is not None:
        cfg["moby.buildkit.cache.v0"] = cache_value
    man = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": lay.desc(cfg, MT_CONFIG),
        "layers": ls,
        **(manifest_extra or {}),
    }
    entries = [lay.desc(man, MT_MANIFEST, platform={"architecture": "amd64", "os": "linux"})]
    if attestation is not None:
        entries.append(
            lay.desc(
                attestation,
                MT_MANIFEST,
                platform={"architecture": "unknown", "os": "unknown"},
                annotations={"vnd.docker.reference.type": "attestation-manifest"},
            )
        )
    return lay.finish({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries})


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    import os

    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode != 70, p.stderr
    return p


def audit_json(*args: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    p = cli("audit", *args, "-f", "json", "-q", **kw)
    return p.returncode, json.loads(p.stdout)


def codes(doc: dict[str, Any], i: int = 0) -> list[str]:
    return [f["code"] for f in doc["results"][i]["findings"]]
