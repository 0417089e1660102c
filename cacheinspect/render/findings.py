"""Findings as a table (shared by ``inspect`` and ``audit``)."""

from __future__ import annotations

from typing import Any

from cacheinspect.render.common import Format, table

__all__ = ["render_findings"]


def render_findings(findings: list[dict[str, Any]], fmt: Format) -> str:
    if not findings:
        return "no findings\n"
    rows = [[f["severity"], f["code"], f["message"]] for f in findings]
    return table(rows, ["severity", "code", "message"], fmt)
