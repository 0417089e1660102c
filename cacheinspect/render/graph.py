"""The record/link graph as DOT, Mermaid or JSON, written by hand (pure).

Node ids are ``r<index>``, never digests: the ``graphviz`` package mis-quotes ids containing ``:``.
Digests and step labels go into quoted labels only, escaped for each language.
"""

from __future__ import annotations

from typing import Any, Literal

from cacheinspect.cache.graph import CacheGraph, Record
from cacheinspect.digest import short
from cacheinspect.render.common import to_json
from cacheinspect.render.escape import esc

__all__ = ["GraphFormat", "render_graph"]

GraphFormat = Literal["dot", "mermaid", "json"]


def _label(r: Record, image_roots: set[int]) -> str:
    head = esc(r.step) or (
        ("base image key" if r.index in image_roots else "source key") if r.is_root else "step"
    )
    n = _n_live(r)
    tail = f"{short(esc(r.digest))}" + (f" · {n} result{'s' if n != 1 else ''}" if n else "")
    return f"{head}\n{tail}"


def _n_live(r: Record) -> int:
    """``len(r.live_results)`` without building Result objects for records that validated cleanly."""
    if not r.has_live_results:
        return 0
    raw = r._raw
    if r._results is None and raw is not None:
        return len(raw.layers or ()) + len(raw.chains or ())
    return len(r.live_results)


def _dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _mermaid_escape(s: str) -> str:
    return (
        s.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("\n", "<br/>")
    )


def _edges(g: CacheGraph) -> list[tuple[int, int, int, str]]:
    return [
        (lk.link, r.index, i, lk.selector)
        for r in g.records
        for i, alts in enumerate(r.inputs)
        for lk in alts
    ]


def render_graph(g: CacheGraph, fmt: GraphFormat) -> str:
    image_roots = g.image_roots()
    if fmt == "json":
        doc: dict[str, Any] = {
            "schema": "cacheinspect.graph/v1",
            "ref": g.cache.ref,
            "nodes": [
                {
                    "id": f"r{r.index}",
                    "index": r.index,
                    "digest": r.digest,
                    "step": r.step,
                    "root": r.is_root,
                    "root_kind": ("image" if r.index in image_roots else "source") if r.is_root else None,
                    "results": _n_live(r),
                    "stage": r.stage,
                }
                for r in g.records
            ],
            "edges": [
                {"from": f"r{a}", "to": f"r{b}", "input": i, "selector": sel or None}
                for a, b, i, sel in _edges(g)
            ],
        }
        return to_json(doc)
    if fmt == "dot":
        lines = [
            "digraph cache {",
            "  rankdir=TB;",
            '  node [fontname="monospace", fontsize=10];',
            f'  label="{_dot_escape(esc(g.cache.ref))}"; labelloc=t;',
        ]
        for r in g.records:
            if r.is_root:
                attrs = "shape=ellipse, style=dashed"
            elif r.has_live_results:
                attrs = 'shape=box, style="filled", fillcolor="#cde8c4"'
            else:
                attrs = 'shape=box, style="dashed"'
            lines.append(f'  r{r.index} [label="{_dot_escape(_label(r, image_roots))}", {attrs}];')
        for a, b, i, sel in _edges(g):
            lab = f"{i}{' (sel)' if sel else ''}"
            tip = f', tooltip="{_dot_escape(esc(sel))}"' if sel else ""
            lines.append(f'  r{a} -> r{b} [label="{lab}"{tip}];')
        lines.append("}")
        return "\n".join(lines) + "\n"
    # mermaid
    lines = ["flowchart TD"]
    for r in g.records:
        text = _mermaid_escape(_label(r, image_roots))
        if r.is_root:
            lines.append(f'  r{r.index}(["{text}"])')
        else:
            lines.append(f'  r{r.index}["{text}"]')
    for a, b, i, sel in _edges(g):
        lines.append(f"  r{a} -->|{i}{'*' if sel else ''}| r{b}")
    cached = [f"r{r.index}" for r in g.records if r.has_live_results]
    lines.append("  classDef cached fill:#cde8c4,stroke:#4a7f3d")
    if cached:
        lines.append(f"  class {','.join(cached)} cached")
    return "\n".join(lines) + "\n"
