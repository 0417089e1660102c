"""The ``inspect`` report: a cache graph as a JSON-able dict with a documented, stable schema (pure).

The JSON is the contract scripts rely on (schema id ``cacheinspect.inspect/v1``; fields are only ever
added). The table and markdown renderers read the same dict, so every format says the same thing.
"""

from __future__ import annotations

from typing import Any

from cacheinspect.cache.findings import Finding
from cacheinspect.cache.graph import IMPORT_CAP, CacheGraph, Record

__all__ = ["SCHEMA_INSPECT", "inspect_report", "record_json", "summary"]

SCHEMA_INSPECT = "cacheinspect.inspect/v1"


def summary(g: CacheGraph) -> dict[str, Any]:
    """The numbers a user asks first: how much is cached, what mode, how old."""
    c = g.cache
    oldest, newest = g.times()
    sizes = [b.size for b in c.blobs.values() if b.size is not None]
    return {
        "layers": len(c.blobs),
        "diff_ids": len({b.diff_id for b in c.blobs.values() if b.diff_id}),
        "layer_nodes": len(c.config.layers or []),
        "layer_descriptors": c.layer_descriptors,
        "records": len(g.records),
        "records_with_results": sum(1 for r in g.records if r.live_results),
        "roots": sum(1 for r in g.records if r.is_root),
        "stages": len(g.stages),
        "bytes": sum(sizes),
        "platforms": list(c.platforms),
        "mode": g.mode,
        "mode_reason": g.mode_reason,
        "oldest": oldest.isoformat() if oldest else None,
        "newest": newest.isoformat() if newest else None,
    }


def record_json(g: CacheGraph, r: Record) -> dict[str, Any]:
    return {
        "index": r.index,
        "digest": r.digest,
        "identity": r.identity,
        "step": r.step,
        "root": r.is_root,
        "depth": r.depth,
        "stage": r.stage,
        "results": [
            {
                "layers": list(res.blobs),
                "top": res.top,
                "created_at": res.created_at,
                "via": res.via,
                "dropped": res.dropped,
            }
            for res in r.results
        ],
        "inputs": [
            [
                {"record": lk.link, "digest": g.records[lk.link].digest, "selector": lk.selector or None}
                for lk in alts
            ]
            for alts in r.inputs
        ],
        "children": list(r.children),
    }


def inspect_report(g: CacheGraph, extra_findings: list[Finding] | None = None) -> dict[str, Any]:
    """Everything ``cacheinspect inspect`` shows, as one dict."""
    c = g.cache
    nodes_per_blob: dict[str, int] = {}
    for cl in c.config.layers or []:
        nodes_per_blob[cl.blob] = nodes_per_blob.get(cl.blob, 0) + 1
    step_by_blob: dict[str, str] = {}
    # Inline caches have no per-blob annotations: a layer was created when the result it tops was.
    created_by_top: dict[str, str] = {}
    for r in g.records:
        for res in r.results:
            if res.top:
                if r.step:
                    step_by_blob.setdefault(res.top, r.step)
                if res.created_at:
                    created_by_top.setdefault(res.top, res.created_at)
    findings = [*g.findings, *(extra_findings or [])]
    return {
        "schema": SCHEMA_INSPECT,
        "ref": c.ref,
        "kind": c.kind,
        "location": c.location,
        "shape": c.shape,
        "media_type": c.media_type,
        "manifest": {"digest": c.manifest_digest, "size": c.manifest_size},
        "config": {"digest": c.config_digest, "size": c.config_size, "import_cap": IMPORT_CAP},
        "summary": summary(g),
        "layers": [
            {
                "digest": b.digest,
                "media_type": b.media_type,
                "size": b.size,
                "diff_id": b.diff_id,
                "created_at": b.created_at or created_by_top.get(b.digest),
                "descriptors": b.descriptors,
                "nodes": nodes_per_blob.get(b.digest, 0),
                "step": step_by_blob.get(b.digest) or c.labels.get(b.digest),
            }
            for b in sorted(c.blobs.values(), key=lambda b: b.digest)
        ],
        "records": [record_json(g, g.records[i]) for i in g.order]
        + [record_json(g, r) for r in g.records if r.identity.startswith("loop:")],
        "stages": [{"head": s.head, "label": s.label, "records": list(s.records)} for s in g.stages],
        "findings": [f.to_json() for f in findings],
    }
