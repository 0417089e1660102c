"""Renderers: report dicts in, ``str`` out (pure, so formats are trivial to test).

Tables go through tabulate with ``disable_numparse=True``: without it, digest-like strings such as
``1e100...`` are turned into numbers.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from tabulate import tabulate

from cacheinspect.digest import short

__all__ = ["Format", "human_bytes", "render_findings", "render_inspect", "table", "to_json"]

Format = Literal["table", "json", "markdown"]


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def _md_cell(v: Any) -> str:
    """A markdown table cell: ``|`` would open a column and a newline would end the row."""
    return str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def table(rows: list[list[Any]], headers: list[str], fmt: Format) -> str:
    if not rows:
        return "(none)\n"
    if fmt == "markdown":
        rows = [[_md_cell(c) for c in row] for row in rows]
        headers = [_md_cell(h) for h in headers]
    tf = "github" if fmt == "markdown" else "simple"
    return tabulate(rows, headers=headers, tablefmt=tf, disable_numparse=True) + "\n"


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _heading(text: str, fmt: Format) -> str:
    return f"\n## {text}\n\n" if fmt == "markdown" else f"\n{text}\n{'-' * len(text)}\n"


def _media_short(mt: str) -> str:
    return (
        mt.replace("application/vnd.oci.image.", "oci:")
        .replace("application/vnd.docker.image.rootfs.", "docker:")
        .replace("application/vnd.docker.distribution.", "docker:")
    )


def render_findings(findings: list[dict[str, Any]], fmt: Format) -> str:
    if not findings:
        return "no findings\n"
    rows = [[f["severity"], f["code"], f["message"]] for f in findings]
    return table(rows, ["severity", "code", "message"], fmt)


def render_inspect(report: dict[str, Any], fmt: Format, *, records: bool = True, layers: bool = True) -> str:
    if fmt == "json":
        return to_json(report)
    s = report["summary"]
    cap = report["config"]["import_cap"]
    csize = report["config"]["size"]
    rows = [
        ["ref", report["ref"]],
        [
            "kind",
            report["kind"]
            if report["kind"] == report["location"]
            else f"{report['kind']} ({report['location']})",
        ],
        ["shape", report["shape"]],
        ["media type", report["media_type"]],
        ["platforms", ", ".join(s["platforms"]) or "not recorded"],
        ["mode (estimate)", f"{s['mode']}: {s['mode_reason']}"],
        ["records", f"{s['records']} ({s['records_with_results']} with results, {s['roots']} roots)"],
        ["layer blobs", f"{s['layers']} distinct, {human_bytes(s['bytes'])}"],
        ["layer nodes", f"{s['layer_nodes']} chain nodes, {s['layer_descriptors']} manifest descriptors"],
        ["stages", str(s["stages"])],
        ["oldest / newest", f"{s['oldest'] or '-'} / {s['newest'] or '-'}"],
        ["config size", f"{csize} bytes ({100 * csize / cap:.1f}% of the 1 MiB import cap)"],
    ]
    if report["manifest"]["size"] is not None:
        rows.append(["manifest size", f"{report['manifest']['size']} bytes"])
    out = [_heading("Summary", fmt).lstrip("\n"), table(rows, ["", ""], fmt)]
    if layers:
        lrows = [
            [
                short(x["digest"]),
                _media_short(x["media_type"]),
                human_bytes(x["size"]),
                str(x["nodes"]),
                x["created_at"] or "-",
                x["step"] or "",
            ]
            for x in report["layers"]
        ]
        out += [
            _heading("Layers", fmt),
            table(lrows, ["blob", "media type", "size", "nodes", "created", "step"], fmt),
        ]
    if records:
        stage_no = {st["head"]: k for k, st in enumerate(report["stages"], 1)}
        rrows = []
        for r in report["records"]:
            ins = " ".join(
                f"{i}:" + ",".join(f"#{lk['record']}" + ("*" if lk["selector"] else "") for lk in alts)
                for i, alts in enumerate(r["inputs"])
            )
            res = r["results"]
            res_txt = ", ".join(
                f"{short(x['top'] or '-')}/{len(x['layers'])}" + (" (dropped)" if x["dropped"] else "")
                for x in res
            )
            stage = str(stage_no.get(r["stage"], "")) if r["stage"] is not None else ""
            rrows.append(
                [
                    f"#{r['index']}",
                    short(r["digest"]),
                    stage,
                    str(r["depth"]),
                    ins or "(root)",
                    res_txt or "-",
                    r["step"] or "",
                ]
            )
        out += [
            _heading("Records", fmt),
            table(
                rrows,
                [
                    "record",
                    "digest",
                    "stage",
                    "depth",
                    "inputs (* = selector)",
                    "results (top/stack)",
                    "step",
                ],
                fmt,
            ),
        ]
    out += [_heading("Findings", fmt), render_findings(report["findings"], fmt)]
    return "".join(out)


def _list_or_none(items: list[str]) -> str:
    return "\n".join(items) + "\n" if items else "(none)\n"


def render_diff(report: dict[str, Any], fmt: Format) -> str:
    """Blobs, records, results present on one side only, divergences and hints."""
    if fmt == "json":
        return to_json(report)
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
    out = [_heading("Caches", fmt).lstrip("\n"), table(rows[1:], rows[0], fmt)]
    bl = report["blobs"]
    out += [
        _heading("Layer blobs", fmt),
        f"shared: {bl['shared']}, only in A: {len(bl['only_in_a'])}, only in B: {len(bl['only_in_b'])}, "
        f"recompressed: {len(bl['recompressed'])}\n",
    ]
    if bl["recompressed"]:
        out.append(
            table(
                [
                    [
                        short(x["a"]),
                        short(x["b"]),
                        short(x["diff_id"]),
                        f"{_media_short(x['a_media_type'])} -> {_media_short(x['b_media_type'])}",
                    ]
                    for x in bl["recompressed"]
                ],
                ["A blob", "B blob", "diffID", "media types"],
                fmt,
            )
        )
    rec = report["records"]
    out += [
        _heading("Records", fmt),
        f"shared keys: {rec['shared']}, only in A: {rec['only_in_a']}, only in B: {rec['only_in_b']}\n",
    ]
    for side, key in (("B", "results_only_in_b"), ("A", "results_only_in_a")):
        items = rec[key]
        if not items:
            continue
        out.append(
            f"\n{len(items)} step(s) have layers in {side} but only keys in {'A' if side == 'B' else 'B'}:\n"
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
    out.append(_heading("Divergence (why B missed A's cache)", fmt))
    if not divs:
        out.append("none: every step of B has its key, with a layer, in A\n")
    for i, d in enumerate(divs, 1):
        label = d["step"] or f"record {short(d['record'])}"
        out.append(f"{i}. {label}\n   cause: {d['cause']}\n   {d['detail']}\n")
        if d["downstream"]:
            out.append(f"   missed downstream ({len(d['downstream'])}):\n")
            out += [f"     - {x['step'] or short(x['record'])}\n" for x in d["downstream"]]
    if report["hints"]:
        out.append(_heading("Hints", fmt))
        out += [f"- {h}\n" for h in report["hints"]]
    return "".join(out)


AuditFormat = Literal["table", "json", "markdown", "github"]


def _gh_escape(text: str) -> str:
    """Workflow-command data escaping: a raw newline would let content start its own ``::command``."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_audit(doc: dict[str, Any], fmt: AuditFormat) -> str:
    """One block per audited ref; ``github`` prints workflow-command annotations."""
    if fmt == "json":
        return to_json(doc)
    if fmt == "github":
        lines = []
        for r in doc["results"]:
            for f in r["findings"]:
                level = {"error": "error", "warning": "warning"}.get(f["severity"], "notice")
                msg = _gh_escape(f"{r['ref']}: {f['message']}")
                title = f"cacheinspect {f['code']}".replace(",", "%2C").replace("::", "%3A%3A")
                lines.append(f"::{level} title={title}::{msg}")
            lines.append(_gh_escape(f"cacheinspect audit: {r['ref']}: {'ok' if r['ok'] else 'FAILED'}"))
        return "\n".join(lines) + "\n"
    md = fmt == "markdown"
    out = []
    for r in doc["results"]:
        status = "ok" if r["ok"] else "FAILED"
        ref = _md_cell(r["ref"]) if md else r["ref"].replace("\n", "\\n")
        out.append(f"{'### ' if md else ''}{ref}: {status}\n")
        s = r.get("summary")
        if s:
            out.append(
                f"{'' if not md else '- '}{r['kind']} / {r['shape']}, mode {s['mode']}, {s['records']} records "
                f"({s['records_with_results']} with results), {s['layers']} layer blobs, newest "
                f"{s['newest'] or '-'}\n"
            )
        out.append(("\n" if md else "") + render_findings(r["findings"], "markdown" if md else "table"))
        out.append("\n")
    verdict = "all caches passed" if doc["ok"] else "audit failed"
    out.append(f"{'**' if md else ''}{verdict}{'**' if md else ''}\n")
    return "".join(out)
