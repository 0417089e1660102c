"""The ``audit`` document as a table, markdown, JSON or GitHub workflow annotations."""

from __future__ import annotations

from typing import Any, Literal

from cacheinspect.render.common import md_cell, to_json
from cacheinspect.render.escape import esc
from cacheinspect.render.findings import render_findings

__all__ = ["AuditFormat", "gh_escape", "render_audit"]

AuditFormat = Literal["table", "json", "markdown", "github"]


def gh_escape(text: str) -> str:
    """Workflow-command data escaping: a raw newline would let content start its own ``::command``.

    :func:`esc` runs first (control characters and ANSI sequences become visible escapes), then
    GitHub's own data encoding of ``%``, CR and LF.
    """
    return esc(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_audit(doc: dict[str, Any], fmt: AuditFormat) -> str:
    """One block per audited ref; ``github`` prints workflow-command annotations."""
    if fmt == "json":
        return to_json(doc)
    if fmt == "github":
        lines = []
        for r in doc["results"]:
            for f in r["findings"]:
                level = {"error": "error", "warning": "warning"}.get(f["severity"], "notice")
                msg = gh_escape(f"{r['ref']}: {f['message']}")
                title = gh_escape(f"cacheinspect {f['code']}").replace(",", "%2C").replace("::", "%3A%3A")
                lines.append(f"::{level} title={title}::{msg}")
            lines.append(gh_escape(f"cacheinspect audit: {r['ref']}: {'ok' if r['ok'] else 'FAILED'}"))
        return "\n".join(lines) + "\n"
    md = fmt == "markdown"
    out = []
    for r in doc["results"]:
        status = "ok" if r["ok"] else "FAILED"
        ref = md_cell(r["ref"]) if md else esc(r["ref"])
        out.append(f"{'### ' if md else ''}{ref}: {status}\n")
        s = r.get("summary")
        if s:
            out.append(
                f"{'' if not md else '- '}{esc(r['kind'])} / {esc(r['shape'])}, mode {s['mode']}, "
                f"{s['records']} records ({s['records_with_results']} with results), {s['layers']} layer "
                f"blobs, newest {esc(s['newest'] or '-')}\n"
            )
        out.append(("\n" if md else "") + render_findings(r["findings"], "markdown" if md else "table"))
        out.append("\n")
    verdict = "all caches passed" if doc["ok"] else "audit failed"
    out.append(f"{'**' if md else ''}{verdict}{'**' if md else ''}\n")
    return "".join(out)
