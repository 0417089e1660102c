"""Synthetic BuildKit cache configs shaped like real mode=max exports, and OCI layouts holding them.

Used by unit tests (hand-made malformed cases), the hypothesis property test and ``make bench``. The
shape follows what real exports show (see fixtures/): two base-image roots that children link to as
alternatives, content-checksum roots reached through a selector, one result per non-root step whose
layer node's parent is the previous step's node, and records/layers sorted by digest (BuildKit's
``sortConfig``), so links point both forwards and backwards in the arrays.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CACHE = "application/vnd.buildkit.cacheconfig.v0"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _d(s: str) -> str:
    return "sha256:" + hashlib.sha256(s.encode()).hexdigest()


def synth_config(n_records: int, *, seed: int = 0, stage_len: int = 10) -> dict[str, Any]:
    """A mode=max-like config with about *n_records* records (roots included)."""
    rng = random.Random(seed)
    recs: list[dict[str, Any]] = []
    layers: list[dict[str, Any]] = []
    base_m = len(recs)
    recs.append({"digest": _d(f"base-manifest-{seed}")})
    base_c = len(recs)
    recs.append({"digest": _d(f"base-chainid-{seed}")})
    ctx = len(recs)
    recs.append({"digest": _d(f"context-{seed}@-1")})
    stage_tails: list[tuple[int, int]] = []  # (record index, layer index) of each stage's last step
    s = 0
    while len(recs) < n_records:
        prev_rec: int | None = None
        prev_layer = -1
        if stage_tails and s % 3 == 2:
            prev_rec, prev_layer = rng.choice(stage_tails)
        for k in range(stage_len):
            if len(recs) >= n_records:
                break
            ins: list[list[dict[str, Any]]]
            if prev_rec is None:
                ins = [[{"link": base_m}, {"link": base_c}]]
            else:
                ins = [[{"link": prev_rec}]]
            if k % 2 == 0:
                ins.append([{"link": ctx, "selector": _d(f"/src/{s}/{k}")}])
            layers.append({"blob": _d(f"blob-{seed}-{s}-{k}"), "parent": prev_layer})
            li = len(layers) - 1
            recs.append(
                {
                    "digest": _d(f"op-{seed}-{s}-{k}@0"),
                    "layers": [{"layer": li, "createdAt": f"2026-11-{1 + (k % 28):02d}T10:00:00.{k:09d}Z"}],
                    "inputs": ins,
                }
            )
            prev_rec, prev_layer = len(recs) - 1, li
        stage_tails.append((prev_rec if prev_rec is not None else base_m, prev_layer))
        s += 1
    return sort_config({"layers": layers, "records": recs})


def sort_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Reorder layers and records by digest and remap every index, like BuildKit's sortConfig."""
    layers, recs = cfg["layers"], cfg["records"]
    lorder = sorted(range(len(layers)), key=lambda i: (layers[i]["blob"], layers[i].get("parent", 0)))
    lmap = {old: new for new, old in enumerate(lorder)}
    rorder = sorted(range(len(recs)), key=lambda i: recs[i]["digest"])
    rmap = {old: new for new, old in enumerate(rorder)}
    new_layers = []
    for old in lorder:
        lay = dict(layers[old])
        p = lay.get("parent", 0)
        lay["parent"] = lmap[p] if p >= 0 else -1
        new_layers.append(lay)
    new_recs = []
    for old in rorder:
        r = json.loads(json.dumps(recs[old]))
        for res in r.get("layers", []):
            res["layer"] = lmap[res["layer"]]
        for inp in r.get("inputs", []):
            for x in inp:
                x["link"] = rmap[x["link"]]
        new_recs.append(r)
    return {"layers": new_layers, "records": new_recs}


def encode_go(cfg: dict[str, Any]) -> bytes:
    """JSON as Go writes it: ``parent: 0`` is omitted (omitempty), which is the trap readers fall into."""
    out = json.loads(json.dumps(cfg))
    for lay in out.get("layers", []):
        if lay.get("parent") == 0:
            del lay["parent"]
    return json.dumps(out, separators=(",", ":")).encode()


def _put(blobs: Path, data: bytes) -> str:
    dg = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs / dg.split(":")[1]).write_bytes(data)
    return dg


def write_cache_layout(
    root: Path,
    cfg: dict[str, Any],
    *,
    shape: str = "oci-index",
    omit_blobs: frozenset[str] = frozenset(),
    config_bytes: bytes | None = None,
) -> dict[str, Any]:
    """Write an OCI layout holding *cfg* as a registry cache of the given shape.

    Layer blobs are stand-ins (their descriptors are what the inspector reads); their digests are the
    config's ``blob`` values, so the blob files are written under those names without content checks.
    """
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    cdata = config_bytes if config_bytes is not None else encode_go(cfg)
    cdig = _put(blobs, cdata)
    layer_descs = []
    for lay in cfg.get("layers", []):
        b = lay["blob"]
        if b in omit_blobs:
            continue
        layer_descs.append(
            {
                "mediaType": MT_LAYER,
                "digest": b,
                "size": 100,
                "annotations": {"containerd.io/uncompressed": _d("diff-" + b)},
            }
        )
    cdesc = {"mediaType": MT_CACHE, "digest": cdig, "size": len(cdata)}
    if shape == "image-manifest":
        body = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": cdesc, "layers": layer_descs}
        mt = MT_MANIFEST
    else:
        mt = MT_INDEX if shape == "oci-index" else "application/vnd.docker.distribution.manifest.list.v2+json"
        body = {"schemaVersion": 2, "mediaType": mt, "manifests": [*layer_descs, cdesc]}
    mdata = json.dumps(body).encode()
    mdig = _put(blobs, mdata)
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [
            {
                "mediaType": mt,
                "digest": mdig,
                "size": len(mdata),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return {"manifest_digest": mdig, "config_digest": cdig, "config_size": len(cdata), "layers": layer_descs}


def write_image_layout(root: Path, images: list[dict[str, Any]]) -> None:
    """An image index with one image per entry: ``{"platform": "linux/amd64", "layers": [blob digests],
    "history": [created_by, ...] (one per layer), "inline": [records] or None}``."""
    import base64

    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    entries = []
    for img in images:
        os_, arch = img["platform"].split("/")[:2]
        cfg: dict[str, Any] = {
            "os": os_,
            "architecture": arch,
            "rootfs": {"type": "layers", "diff_ids": [_d("diff-" + b) for b in img["layers"]]},
            "history": [{"created_by": h} for h in img["history"]],
        }
        if img.get("inline") is not None:
            cfg["moby.buildkit.cache.v0"] = base64.b64encode(json.dumps(img["inline"]).encode()).decode()
        cdata = json.dumps(cfg).encode()
        cdig = _put(blobs, cdata)
        man = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": cdig,
                "size": len(cdata),
            },
            "layers": [{"mediaType": MT_LAYER, "digest": b, "size": 10} for b in img["layers"]],
        }
        mdata = json.dumps(man).encode()
        entries.append(
            {
                "mediaType": MT_MANIFEST,
                "digest": _put(blobs, mdata),
                "size": len(mdata),
                "platform": {"os": os_, "architecture": arch},
            }
        )
    idata = json.dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}).encode()
    idig = _put(blobs, idata)
    (root / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": MT_INDEX,
                        "digest": idig,
                        "size": len(idata),
                        "annotations": {"org.opencontainers.image.ref.name": "latest"},
                    }
                ],
            }
        )
    )
