"""The ``inspect`` report: a cache graph as a JSON-able dict with a documented, stable schema (pure).

The JSON is the contract scripts rely on. Two schema ids:

* ``cacheinspect.inspect/v2`` (the default): output linear in the cache's size. A result names its
  layer stack by the config's chain node (``node``: the stack is that node and its ``parent`` chain in
  ``nodes``) or by its explicit node list (``chain``), instead of repeating every blob of the stack;
  ``records[i]`` is record ``i``; an input link is a record index. v1 repeated each record's whole stack,
  which made the output grow with records × stack height (10.8x the input at 100k records).
* ``cacheinspect.inspect/v1``: the previous schema, kept for one release behind ``--schema v1``.

Within a schema fields are only ever added. The table and markdown renderers read the same (v2) dict,
so every format says the same thing. For very large caches the CLI streams the JSON with
:func:`iter_inspect_json` instead of building the whole dict.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from cacheinspect.cache.config import CacheLayer
from cacheinspect.cache.findings import Finding
from cacheinspect.cache.graph import IMPORT_CAP, CacheGraph, Record
from cacheinspect.cache.load import BlobInfo

__all__ = [
    "SCHEMA_INSPECT",
    "SCHEMA_INSPECT_V1",
    "Schema",
    "inspect_report",
    "iter_inspect_json",
    "record_json",
    "summary",
]

SCHEMA_INSPECT = "cacheinspect.inspect/v2"
SCHEMA_INSPECT_V1 = "cacheinspect.inspect/v1"
Schema = Literal["v1", "v2"]


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
        "records_with_results": len(g.live) - g.live.count(0),
        "roots": sum(1 for r in g.records if not r.inputs),
        "stages": len(g.stages),
        "bytes": sum(sizes),
        "platforms": list(c.platforms),
        "mode": g.mode,
        "mode_reason": g.mode_reason,
        "oldest": oldest.isoformat() if oldest else None,
        "newest": newest.isoformat() if newest else None,
    }


def record_json(g: CacheGraph, r: Record) -> dict[str, Any]:
    """One record in the v1 schema (its results carry their whole layer stack)."""
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


def _heights(layers: list[CacheLayer]) -> list[int]:
    """Stack height (layers from the bottom up to and including it) of every chain node; 0 when its
    parent chain is broken (out of range or looping: such a node never backs a result)."""
    n = len(layers)
    h = [0] * n
    state = bytearray(n)  # 0 unseen, 1 on the current path, 2 done
    for start in range(n):
        if state[start]:
            continue
        path: list[int] = []
        i, base = start, 0
        while True:
            if state[i] == 2:
                base = h[i]
                break
            if state[i] == 1:
                base = -1
                break
            state[i] = 1
            path.append(i)
            p = layers[i].parent
            if p == -1:
                base = 0
                break
            if not 0 <= p < n:
                base = -1
                break
            i = p
        for j in reversed(path):
            base = base + 1 if base >= 0 else -1
            h[j] = max(base, 0)
            state[j] = 2
    return h


def _results_v2(r: Record, layers: list[CacheLayer], heights: list[int]) -> list[dict[str, Any]]:
    """A record's results in the v2 shape. Records that validated cleanly are read straight from the
    decoded config (no :class:`~cacheinspect.cache.graph.Result` objects are made for them)."""
    raw = r._raw
    out: list[dict[str, Any]] = []
    if r._results is None:
        if raw is None:
            return out
        for x in raw.layers or ():
            node = x.layer
            out.append(
                {
                    "via": "layer",
                    "node": node,
                    "top": layers[node].blob,
                    "height": heights[node],
                    "created_at": x.created_at,
                    "dropped": False,
                }
            )
        for c in raw.chains or ():
            chain = c.layers or []
            out.append(
                {
                    "via": "chain",
                    "chain": chain,
                    "top": layers[chain[-1]].blob if chain else None,
                    "height": len(chain),
                    "created_at": c.created_at,
                    "dropped": False,
                }
            )
        return out
    for res in r._results:
        d: dict[str, Any] = {"via": res.via}
        if res.chain is not None:
            d["chain"] = list(res.chain)
            d["height"] = len(res.chain)
        else:
            d["node"] = res.node
            d["height"] = heights[res.node]
        d["top"] = res.top
        d["created_at"] = res.created_at
        d["dropped"] = res.dropped
        # keep the key order of the clean path: via, node|chain, top, height, created_at, dropped
        out.append(
            {k: d[k] for k in ("via", "node", "chain", "top", "height", "created_at", "dropped") if k in d}
        )
    return out


def _record_v2(r: Record, layers: list[CacheLayer], heights: list[int]) -> dict[str, Any]:
    raw = r._raw
    if r._results is None and (raw is None or not (raw.layers or raw.chains)):
        results: list[dict[str, Any]] = []  # a pure key: the common case of min exports and roots
    else:
        results = _results_v2(r, layers, heights)
    inputs = r.inputs
    return {
        "index": r.index,
        "digest": r.digest,
        "identity": r.identity,
        "step": r.step,
        "root": not inputs,
        "depth": r.depth,
        "stage": r.stage,
        "results": results,
        "inputs": [[{"record": lk.link, "selector": lk.selector or None} for lk in alts] for alts in inputs]
        if inputs
        else [],
        "children": r.children,
    }


def _layers(g: CacheGraph, limit: int | None) -> list[dict[str, Any]]:
    """Distinct layer blobs by digest; with *limit* and more blobs than that, the largest *limit*."""
    c = g.cache
    cfg_layers = c.config.layers or []
    nodes_per_blob: dict[str, int] = {}
    for cl in cfg_layers:
        nodes_per_blob[cl.blob] = nodes_per_blob.get(cl.blob, 0) + 1
    step_by_blob: dict[str, str] = {}
    # Inline caches have no per-blob annotations: a layer was created when the result it tops was.
    created_by_top: dict[str, str] = {}
    # Only needed for blobs without their own createdAt (inline caches, configs without annotations).
    need_created = any(b.created_at is None for b in c.blobs.values())
    for r in g.records:
        step = r.step
        if not step and not need_created:
            continue
        raw = r._raw
        tops: list[tuple[Any, Any]]  # (top blob, anything with .created_at)
        if r._results is None:
            if raw is None:
                continue
            tops = [(cfg_layers[x.layer].blob, x) for x in raw.layers or ()]
            tops += [(cfg_layers[ch.layers[-1]].blob, ch) for ch in raw.chains or () if ch.layers]
        else:
            tops = [(res.top, res) for res in r._results if res.top]
        for top, x in tops:
            if step and top not in step_by_blob:
                step_by_blob[top] = step
            if need_created and top not in created_by_top:
                created = x.created_at
                if created:
                    created_by_top[top] = created
    blobs = sorted(c.blobs.values(), key=_digest_of)
    if limit is not None and len(blobs) > limit:
        blobs = sorted(blobs, key=lambda b: -(b.size or 0))[:limit]
    return [
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
        for b in blobs
    ]


def _digest_of(b: BlobInfo) -> str:
    return b.digest


def _head(g: CacheGraph, schema: Schema) -> dict[str, Any]:
    c = g.cache
    return {
        "schema": SCHEMA_INSPECT_V1 if schema == "v1" else SCHEMA_INSPECT,
        "ref": c.ref,
        "kind": c.kind,
        "location": c.location,
        "shape": c.shape,
        "media_type": c.media_type,
        "manifest": {"digest": c.manifest_digest, "size": c.manifest_size},
        "config": {"digest": c.config_digest, "size": c.config_size, "import_cap": IMPORT_CAP},
        "summary": summary(g),
    }


def _stages(g: CacheGraph) -> list[dict[str, Any]]:
    return [{"head": s.head, "label": s.label, "records": list(s.records)} for s in g.stages]


def _nodes(g: CacheGraph) -> list[dict[str, Any]]:
    return [{"blob": cl.blob, "parent": cl.parent} for cl in g.cache.config.layers or []]


def inspect_report(
    g: CacheGraph,
    extra_findings: list[Finding] | None = None,
    *,
    schema: Schema = "v2",
    records: int | None = None,
    layers: int | None = None,
) -> dict[str, Any]:
    """Everything ``cacheinspect inspect`` shows, as one dict.

    *records* / *layers* cap those lists for a summary (the table's top-N): the first *records* records
    in build order (topological, loops last) and the *layers* largest blobs. Uncapped, v2 lists every
    record in index order (``records[i]["index"] == i``) and every blob by digest.
    """
    from cacheinspect.cache.config import paused_gc

    with paused_gc(len(g.records) * 300):
        return _report(g, extra_findings, schema, records, layers)


def _report(
    g: CacheGraph,
    extra_findings: list[Finding] | None,
    schema: Schema,
    records: int | None,
    layers: int | None,
) -> dict[str, Any]:
    findings = [f.to_json() for f in [*g.findings, *(extra_findings or [])]]
    doc = _head(g, schema)
    doc["layers"] = _layers(g, layers)
    if schema == "v1":
        doc["records"] = [record_json(g, g.records[i]) for i in g.order] + [
            record_json(g, r) for r in g.records if r.identity.startswith("loop:")
        ]
        doc["stages"] = _stages(g)
        doc["findings"] = findings
        return doc
    cfg_layers = g.cache.config.layers or []
    heights = _heights(cfg_layers)
    if records is None:
        chosen: list[Record] = g.records
    else:
        order = g.order if len(g.order) == len(g.records) else [*g.order, *_unordered(g)]
        chosen = [g.records[i] for i in order[:records]]
    doc["nodes"] = _nodes(g)
    doc["records"] = [_record_v2(r, cfg_layers, heights) for r in chosen]
    doc["stages"] = _stages(g)
    doc["findings"] = findings
    return doc


def _unordered(g: CacheGraph) -> list[int]:
    placed = set(g.order)
    return [i for i in range(len(g.records)) if i not in placed]


#: Records per encoded chunk when streaming: large enough to amortise a write, small enough to stream.
_CHUNK = 2048


def iter_inspect_json(
    g: CacheGraph, extra_findings: list[Finding] | None = None, *, schema: Schema = "v2"
) -> Iterator[bytes]:
    """``inspect --format json`` as encoded chunks, without holding the whole document in memory.

    v2 is pretty-printed at the top level with one array element per line (records, layers, nodes):
    the same JSON value as ``inspect_report``, readable with ``jq`` and ``grep`` alike, and about the
    size of the input config. v1 is encoded whole, exactly as ``json.dumps(indent=2)`` writes it.
    """
    from cacheinspect.cache.config import paused_gc
    from cacheinspect.render.common import to_json_bytes
    from cacheinspect.render.escape import esc_json

    with paused_gc(len(g.records) * 300):  # millions of short-lived dicts; nothing here forms cycles
        yield from _iter_json(g, extra_findings, schema, to_json_bytes, esc_json)


def _iter_json(
    g: CacheGraph,
    extra_findings: list[Finding] | None,
    schema: Schema,
    to_json_bytes: Any,
    esc_json: Any,
) -> Iterator[bytes]:
    import msgspec

    if schema == "v1":
        yield to_json_bytes(inspect_report(g, extra_findings, schema="v1"))
        return
    enc = msgspec.json.Encoder()
    encode = enc.encode
    findings = [f.to_json() for f in [*g.findings, *(extra_findings or [])]]
    head = _head(g, schema)
    parts = [b"{\n"]
    for k, v in head.items():
        parts.append(b'  "' + k.encode() + b'": ' + esc_json(encode(v)) + b",\n")
    yield b"".join(parts)

    def array(name: str, items: Iterator[Any], last: bool = False) -> Iterator[bytes]:
        first = True
        batch: list[bytes] = []
        for item in items:
            batch.append(encode(item))
            if len(batch) >= _CHUNK:
                yield (b'  "' + name.encode() + b'": [\n    ' if first else b",\n    ") + esc_json(
                    b",\n    ".join(batch)
                )
                first = False
                batch = []
        if batch:
            yield (b'  "' + name.encode() + b'": [\n    ' if first else b",\n    ") + esc_json(
                b",\n    ".join(batch)
            )
            first = False
        tail = b"" if last else b","
        yield (b'  "' + name.encode() + b'": []' + tail + b"\n") if first else (b"\n  ]" + tail + b"\n")

    cfg_layers = g.cache.config.layers or []
    heights = _heights(cfg_layers)
    yield from array("layers", iter(_layers(g, None)))
    yield from array("nodes", ({"blob": cl.blob, "parent": cl.parent} for cl in cfg_layers))
    yield from array("records", (_record_v2(r, cfg_layers, heights) for r in g.records))
    yield from array("stages", iter(_stages(g)))
    yield from array("findings", iter(findings), last=True)
    yield b"}\n"
