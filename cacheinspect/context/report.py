"""Pure renderers for the context commands (return ``str``), `context check`'s report among them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .fingerprint import FingerprintDiff
from .verdicts import CheckReport, StepVerdict

__all__ = ["diff_roots", "render_check", "render_fingerprint_diff"]


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


def _short_cause(s: StepVerdict) -> str:
    """The cause without the per-file list (the table under it shows that)."""
    if s.explanations:
        cut = s.cause.find(": " + s.explanations[0].path)
        if cut > 0:
            return s.cause[:cut] + " (files below)"
    return s.cause


def _short_digest(v: str) -> str:
    return v[:19] if v.startswith("sha256:") and len(v) == 71 else v


def _simple(rows: list[list[Any]], headers: list[str]) -> str:
    """``tabulate(rows, headers, disable_numparse=True)`` (its ``simple`` format). For one-line printable
    ASCII cells that is :func:`cacheinspect.render.common.layout`, byte for byte (tests compare the two),
    without importing tabulate: its import asks ``importlib.metadata`` for its version, about one
    interpreter start of CPU on every `context check`. Other cells (wide characters, newlines) still
    go to tabulate, so its rules for them stay."""
    cells = [[str(c) for c in r] for r in rows]
    if all(c.isascii() and c.isprintable() for c in [*headers, *(c for r in cells for c in r)]):
        from cacheinspect.render.common import layout

        return layout(cells, headers)
    from tabulate import tabulate

    return tabulate(rows, headers=headers, disable_numparse=True)


def _cell(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "…"


def _annotation_file(path: str) -> str:
    """The ``file=`` of a workflow annotation: GitHub attaches it only to a path relative to the
    repository (``$GITHUB_WORKSPACE``, else the current directory); property syntax escaped."""
    import os

    p = path
    if os.path.isabs(p):
        base = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
        rel = os.path.relpath(p, base)
        if not rel.startswith(".."):
            p = rel
    for a, b in (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C")):
        p = p.replace(a, b)
    return p


def render_check(report: CheckReport, fmt: str, *, dockerfile: str = "Dockerfile") -> str:
    """``table`` / ``markdown`` / ``github`` (workflow annotations) / ``json`` text of a report (pure)."""
    if fmt == "json":
        from .fingerprint import dumps_json

        return dumps_json(report.to_json()) + "\n"
    counts = {v: sum(1 for s in report.steps if s.verdict == v) for v in ("hit", "miss", "unknown")}
    summary = (
        f"{len(report.steps)} steps: {counts['hit']} hit, {counts['miss']} miss, {counts['unknown']} unknown"
    )
    fields = [
        ("cache", str(report.cache)),
        ("context", str(report.context)),
        ("buildkit rules", f"{report.buildkit_rules} ({report.rules_reason})"),
        ("fingerprint", str(report.fingerprint or "none (explanations from a single-change search)")),
        (
            "step keys",
            f"computed with BuildKit {report.op_rules} struct tags "
            f"({'v0.13-v0.17' if report.op_rules == 'v0.13' else 'v0.18 and later'})",
        ),
    ]
    head = [f"{k:<16} {v}" for k, v in fields]
    if fmt == "github":
        lines = []
        for s in report.steps:
            if s.verdict == "hit":
                continue
            level = "error" if s.verdict == "miss" else "warning"
            title = "cache miss predicted" if s.verdict == "miss" else "cache hit unknown"
            msg = s.cause.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            lines.append(
                f"::{level} file={_annotation_file(dockerfile)},line={s.line},title={title}::{s.instruction}: {msg}"
            )
        lines.append(f"::notice title=cacheinspect context check::{summary}")
        return "\n".join(lines) + "\n"
    if fmt == "markdown":
        out = [
            "### Context check",
            "",
            *[f"- {k}: {v}" for k, v in fields],
        ]
        out += ["", "| stage | line | instruction | verdict | cause |", "|---|---|---|---|---|"]
        for s in report.steps:
            cells = [s.stage, str(s.line), f"`{s.instruction}`", f"**{s.verdict}**", s.cause]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        expl = [(s, e) for s in report.steps for e in s.explanations]
        if expl:
            out += ["", "| line | path | field | here | in the cache |", "|---|---|---|---|---|"]
            for s, e in expl:
                out.append(f"| {s.line} | `{e.path}` | {e.field} | {e.here} | {e.in_cache} |")
        out += ["", summary]
        return "\n".join(out) + "\n"
    rows = [[s.stage, s.line, _cell(s.instruction, 48), s.verdict, _short_cause(s)] for s in report.steps]
    out = [*head, "", _simple(rows, ["stage", "line", "instruction", "verdict", "cause"])]
    rows_e = [
        [s.line, e.path, e.field, _short_digest(e.here), _short_digest(e.in_cache)]
        for s in report.steps
        for e in s.explanations
    ]
    if rows_e:
        out += [
            "",
            _simple(rows_e, ["line", "path", "field", "here", "in the cache"]),
        ]
    downstream = [s for s in report.steps if s.downstream]
    for s in downstream:
        out.append(
            f"line {s.line}: {len(s.downstream)} later step(s) miss or are unknown because of it: "
            + ", ".join(str(d.line) for d in s.downstream)
        )
    out += ["", summary]
    return "\n".join(out) + "\n"
