"""The ``diff`` report as a table or markdown.

Markdown is what people paste into PR comments, so it has to render: the divergences are a numbered
list with nested bullets, steps and digests are code spans (a Dockerfile step full of ``*`` or ``_``
would otherwise turn into emphasis), and every outside string is escaped first.
"""

from __future__ import annotations

from typing import Any

from cacheinspect.digest import short
from cacheinspect.render.common import Format, heading, md_code, md_text, media_short, table, to_json
from cacheinspect.render.escape import esc

__all__ = ["render_diff"]


def _step(x: dict[str, Any], key: str, fmt: Format, prefix: str = "") -> str:
    label = x.get("step") or prefix + short(x.get(key))
    return md_code(label) if fmt == "markdown" else esc(label)


_CHANGE = {
    "definition": "its own definition (the step's cache key is new)",
    "input": "an input (A has the step's key on another parent or content)",
}


def _down(x: dict[str, Any], fmt: Format) -> str:
    """A downstream step, with its own definition change when it has one (a second edit below)."""
    label = _step(x, "record", fmt)
    if x.get("change") != "definition":
        return label
    why = "; ".join(x.get("fields") or []) or "its own key is new too"
    return f"{label} (definition changed: {md_text(why) if fmt == 'markdown' else esc(why)})"


def render_diff(report: dict[str, Any], fmt: Format) -> str:
    """Blobs, records, results present on one side only, divergences and hints."""
    if fmt == "json":
        return to_json(report)
    md = fmt == "markdown"
    a, b = report["a"], report["b"]
    rows = [
        ["", "A", "B"],
        ["ref", a["ref"], b["ref"]],
        ["kind / shape", f"{a['kind']} / {a['shape']}", f"{b['kind']} / {b['shape']}"],
        ["mode (estimate)", a["summary"]["mode"], b["summary"]["mode"]],
        [
            "records (with results)",
            f"{a['summary']['records']} ({a['summary']['records_with_results']})",
            f"{b['summary']['records']} ({b['summary']['records_with_results']})",
        ],
        ["layer blobs", str(a["summary"]["layers"]), str(b["summary"]["layers"])],
    ]
    out = [heading("Caches", fmt).lstrip("\n"), table(rows[1:], rows[0], fmt)]
    bl = report["blobs"]
    out += [
        heading("Layer blobs", fmt),
        f"shared: {bl['shared']}, only in A: {len(bl['only_in_a'])}, only in B: {len(bl['only_in_b'])}, "
        f"recompressed: {len(bl['recompressed'])}\n",
    ]
    if bl["recompressed"]:
        out.append(
            ("\n" if md else "")
            + table(
                [
                    [
                        short(x["a"]),
                        short(x["b"]),
                        short(x["diff_id"]),
                        f"{media_short(x['a_media_type'])} -> {media_short(x['b_media_type'])}",
                    ]
                    for x in bl["recompressed"]
                ],
                ["A blob", "B blob", "diffID", "media types"],
                fmt,
            )
        )
    rec = report["records"]
    out += [
        heading("Records", fmt),
        f"shared keys: {rec['shared']}, only in A: {rec['only_in_a']}, only in B: {rec['only_in_b']}\n",
    ]
    for side, key in (("B", "results_only_in_b"), ("A", "results_only_in_a")):
        items = rec[key]
        if not items:
            continue
        out.append(
            f"\n{len(items)} step(s) have layers in {side} but only keys in {'A' if side == 'B' else 'B'}:\n"
            + ("\n" if md else "")
        )
        by_stage: dict[str, list[dict[str, Any]]] = {}
        for x in items:
            by_stage.setdefault(x["stage_label"], []).append(x)
        rows2 = [
            [stage, x["step"] or short(x["digest"]), ", ".join(short(t) for t in x["layers"])]
            for stage, xs in by_stage.items()
            for x in xs
        ]
        out.append(table(rows2, ["stage", "step", f"layer in {side}"], fmt))
    divs = report["divergences"]
    out.append(heading("Divergence (why B missed A's cache)", fmt))
    if report.get("unrelated"):
        out.append("none: the caches share no step (a different Dockerfile or target?)\n")
    elif not divs:
        out.append("none: every step of B has its key, with a layer, in A\n")
    for i, d in enumerate(divs, 1):
        label = _step(d, "record", fmt, "record ")
        change = _CHANGE.get(d.get("change") or "")
        fields = d.get("fields") or []
        if md:
            out.append(f"{i}. {label}\n   - cause: `{esc(d['cause'])}`\n")
            if change:
                out.append(f"   - changed: {md_text(change)}\n")
            out += [f"   - field: {md_text(f)}\n" for f in fields]
            out.append(f"   - {md_text(d['detail'])}\n")
            if d["downstream"]:
                out.append(f"   - missed downstream ({len(d['downstream'])}):\n")
                out += [f"     - {_down(x, fmt)}\n" for x in d["downstream"]]
            continue
        out.append(f"{i}. {label}\n   cause: {esc(d['cause'])}\n")
        if change:
            out.append(f"   changed: {esc(change)}\n")
        out += [f"   field: {esc(f)}\n" for f in fields]
        out.append(f"   {esc(d['detail'])}\n")
        if d["downstream"]:
            out.append(f"   missed downstream ({len(d['downstream'])}):\n")
            out += [f"     - {_down(x, fmt)}\n" for x in d["downstream"]]
    if report["hints"]:
        out.append(heading("Hints", fmt))
        out += [f"- {md_text(h) if md else esc(h)}\n" for h in report["hints"]]
    return "".join(out)
