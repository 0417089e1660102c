"""The ``inspect`` report as a table or markdown (JSON is streamed by ``cache.report``).

Large caches are summarised: the records and layers tables show the first N records in build order
and the N largest layers (``--records all`` / ``--layers all`` show everything), followed by a line
saying how many were left out. A table of 100,000 rows is 18 MB that nobody reads.
"""

from __future__ import annotations

from typing import Any

from cacheinspect.digest import short
from cacheinspect.render.common import Format, heading, human_bytes, media_short, table, to_json
from cacheinspect.render.escape import esc
from cacheinspect.render.findings import render_findings

__all__ = ["render_inspect"]


def _short(d: str | None) -> str:
    return short(esc(d)) if d else "-"


def _more(shown: int, total: int, what: str, which: str, flag: str, fmt: Format) -> str:
    if shown >= total:
        return ""
    listed = which.format(shown)
    text = f"{total - shown} more {what} not shown: the {listed} are listed ({flag} all lists every one)"
    return f"\n_{text}_\n" if fmt == "markdown" else f"… {text}\n"


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
    # A markdown table needs a header row: an empty one renders as a blank bar above the summary.
    summary_headers = ["field", "value"] if fmt == "markdown" else ["", ""]
    out = [heading("Summary", fmt).lstrip("\n"), table(rows, summary_headers, fmt)]
    if layers:
        lrows = [
            [
                _short(x["digest"]),
                media_short(x["media_type"]),
                human_bytes(x["size"]),
                str(x["nodes"]),
                x["created_at"] or "-",
                x["step"] or "",
            ]
            for x in report["layers"]
        ]
        out += [
            heading("Layers", fmt),
            table(lrows, ["blob", "media type", "size", "nodes", "created", "step"], fmt),
            _more(len(lrows), s["layers"], "layers", "{} largest", "--layers", fmt),
        ]
    if records:
        stage_no = {st["head"]: k for k, st in enumerate(report["stages"], 1)}
        rrows = []
        for r in report["records"]:
            ins = " ".join(
                f"{i}:" + ",".join(f"#{lk['record']}" + ("*" if lk["selector"] else "") for lk in alts)
                for i, alts in enumerate(r["inputs"])
            )
            res_txt = ", ".join(
                f"{_short(x['top'])}/{x['height'] if 'height' in x else len(x['layers'])}"
                + (" (dropped)" if x["dropped"] else "")
                for x in r["results"]
            )
            stage = str(stage_no.get(r["stage"], "")) if r["stage"] is not None else ""
            rrows.append(
                [
                    f"#{r['index']}",
                    _short(r["digest"]),
                    stage,
                    str(r["depth"]),
                    ins or "(root)",
                    res_txt or "-",
                    r["step"] or "",
                ]
            )
        out += [
            heading("Records", fmt),
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
            _more(len(rrows), s["records"], "records", "first {} in build order", "--records", fmt),
        ]
    out += [heading("Findings", fmt), render_findings(report["findings"], fmt)]
    return "".join(out)
