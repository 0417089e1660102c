"""Pure renderers for the context commands (return ``str``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .fingerprint import FingerprintDiff

__all__ = ["diff_roots", "render_fingerprint_diff"]


def diff_roots(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, int, str, Any, Any]]:
    """Steps (matched by stage and line) whose computed root differs: (stage, line, instruction, a, b)."""
    sa = {(s.get("stage"), s.get("line")): s for s in a.get("steps", [])}
    sb = {(s.get("stage"), s.get("line")): s for s in b.get("steps", [])}
    out = []
    for key in list(sa) + [k for k in sb if k not in sa]:
        ra = sa.get(key, {}).get("root")
        rb = sb.get(key, {}).get("root")
        if ra != rb:
            instr = (sa.get(key) or sb.get(key) or {}).get("instruction", "")
            out.append((str(key[0]), int(key[1] or 0), instr, ra, rb))
    return out


def _short(v: Any) -> str:
    if v is None:
        return "-"
    if v is True:
        return "present"
    if v is False:
        return "absent"
    s = str(v)
    if s.startswith("sha256:") and len(s) == 71:
        return s[:19]
    return s


def render_fingerprint_diff(
    diffs: Sequence[FingerprintDiff], roots: Sequence[tuple[str, int, str, Any, Any]], fmt: str
) -> str:
    """``context diff`` output: steps whose roots differ, then the per-file differences."""
    if fmt == "json":
        doc = {
            "schema": "cacheinspect.context-diff/v1",
            "steps": [
                {"stage": s, "line": ln, "instruction": i, "a": ra, "b": rb} for s, ln, i, ra, rb in roots
            ],
            "files": [{"path": p, "field": f, "a": va, "b": vb} for p, f, va, vb in diffs],
        }
        return json.dumps(doc, indent=2) + "\n"  # ensure_ascii: names need not be UTF-8
    from cacheinspect.render.common import Format, table

    tf: Format = "markdown" if fmt == "markdown" else "table"
    out = "Steps whose context root differs\n--------------------------------\n"
    rows = [[s, str(ln), i, _short(ra), _short(rb)] for s, ln, i, ra, rb in roots]
    out += table(rows, ["stage", "line", "instruction", "A", "B"], tf)
    out += "\nFiles\n-----\n"
    out += table([[p, f, _short(va), _short(vb)] for p, f, va, vb in diffs], ["path", "field", "A", "B"], tf)
    return out
