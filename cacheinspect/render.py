"""Renderers: report dicts in, ``str`` out (pure, so formats are trivial to test).

Tables go through tabulate with ``disable_numparse=True``: without it, digest-like strings such as
``1e100...`` are turned into numbers.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from tabulate import tabulate

from .digest import short

__all__ = ["Format", "human_bytes", "render_findings", "render_inspect", "table", "to_json"]

Format = Literal["table", "json", "markdown"]


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def table(rows: list[list[Any]], headers: list[str], fmt: Format) -> str:
    if not rows:
        return "(none)\n"
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
        ["kind", f"{report['kind']} ({report['location']})"],
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
            rrows.append(
                [
                    f"#{r['index']}",
                    short(r["digest"]),
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
                ["record", "digest", "depth", "inputs (* = selector)", "results (top/stack)", "step"],
                fmt,
            ),
        ]
    out += [_heading("Findings", fmt), render_findings(report["findings"], fmt)]
    return "".join(out)
