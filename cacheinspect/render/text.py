"""The text renderers under their first module name (``render.inspect``, ``render.diff``,
``render.audit``, ``render.common`` hold them now); kept so existing imports keep working."""

from __future__ import annotations

from cacheinspect.render.audit import AuditFormat, render_audit
from cacheinspect.render.common import Format, human_bytes, table, to_json
from cacheinspect.render.diff import render_diff
from cacheinspect.render.findings import render_findings
from cacheinspect.render.inspect import render_inspect

__all__ = [
    "AuditFormat",
    "Format",
    "human_bytes",
    "render_audit",
    "render_diff",
    "render_findings",
    "render_inspect",
    "table",
    "to_json",
]
