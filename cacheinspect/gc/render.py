"""Pure renderers for ``du``, ``gc simulate`` and ``gc lint``: each takes a result and returns ``str``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cacheinspect.gc.records import CacheRecord, RecordSet, paused_gc
from cacheinspect.gc.simulate import SimulationResult
from cacheinspect.gc.units import format_bytes, format_ns
from cacheinspect.render.escape import esc, esc_json

if TYPE_CHECKING:  # gc lint's rule table is not imported for du / gc simulate
    from cacheinspect.gc.lint import Finding

__all__ = ["DU_SCHEMA", "LINT_SCHEMA", "render_du", "render_lint", "render_simulation"]

DU_SCHEMA = "cacheinspect.du/v1"
LINT_SCHEMA = "cacheinspect.gc-lint/v1"


#: Tree rows deeper than this are not indented further (a marker gives the depth): a parent chain of n
#: records would otherwise print n rows of up to 3n characters of prefix, O(n^2) bytes.
MAX_TREE_DEPTH = 32
#: Columns are padded to at most this width; a longer cell overflows its row only (linear output).
MAX_PAD = 100


def _json(doc: object) -> str:
    """Indented JSON; msgspec's encoder, because json.dumps with indent= runs in pure Python (seconds
    for a 100,000-record simulation). Bidi overrides, C1 controls and DEL in ids or descriptions from a
    dump are written as ``\\uNNNN`` escapes (the value is unchanged, a terminal shows nothing raw)."""
    if _small(doc):  # json's C encoder is as fast here, and importing msgspec is not free (~30 ms)
        import json

        data = json.dumps(doc, indent=2, ensure_ascii=False).encode()
    else:
        import msgspec

        data = msgspec.json.format(msgspec.json.encode(doc), indent=2)
    return esc_json(data).decode() + "\n"


def _small(doc: object) -> bool:
    """A document with at most 2,000 entries in any list at its first two levels (same bytes either
    way: msgspec's ``format(indent=2)`` and ``json.dumps(indent=2, ensure_ascii=False)`` agree)."""
    if not isinstance(doc, dict):
        return False
    for v in doc.values():
        if isinstance(v, list) and len(v) > 2000:
            return False
        if isinstance(v, list):
            for x in v[:50]:
                if isinstance(x, dict) and any(isinstance(y, list) and len(y) > 2000 for y in x.values()):
                    return False
    return True


def _safe(text: str) -> str:
    """Text output with every control character of every line shown as an escape (ids, types,
    descriptions and filters come from dumps and policies: ESC/OSC sequences, bidi overrides)."""
    if text.isascii() and text.replace("\n", "").isprintable():
        return text
    return "\n".join(esc(line) for line in text.split("\n"))


def _table(rows: list[list[str]], headers: list[str], fmt: str) -> str:
    """tabulate's plain or GitHub table; past 2,000 rows or a cell over :data:`MAX_PAD` characters, a
    linear rendering of the same shape (tabulate pads every row to the longest cell and is slow)."""
    if len(rows) <= 2000 and all(len(c) <= MAX_PAD for row in rows for c in row):
        from tabulate import tabulate  # imported only here: it costs ~40 ms at start-up

        tf = "github" if fmt == "markdown" else "plain"
        return tabulate(rows, headers=headers, tablefmt=tf, disable_numparse=True) + "\n"
    if fmt != "markdown":
        return _plain(rows, headers)

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)]) + "\n"


def _tree(rs: RecordSet) -> list[tuple[str, CacheRecord, bool]]:
    """Depth-first, parents before children: (tree prefix, record, is-a-reference) rows.

    A record with several parents (a merge or diff) is listed in full under the first parent the walk
    reaches and as a reference row under each other one, so no parent looks childless: BuildKit prunes
    a parent only after all its children are gone.
    """
    out: list[tuple[str, CacheRecord, bool]] = []
    seen: set[str] = set()
    # (prefix of this row, prefix for its children, depth, record)
    stack: list[tuple[str, str, int, CacheRecord]] = [("", "", 0, r) for r in reversed(rs.roots())]
    while stack:
        prefix, child_prefix, depth, r = stack.pop()
        if depth > MAX_TREE_DEPTH:
            prefix = f"{prefix}[depth {depth}] "
        if r.id in seen:
            out.append((prefix, r, True))
            continue
        seen.add(r.id)
        out.append((prefix, r, False))
        kids = rs.kids(r.id)
        for i in range(len(kids) - 1, -1, -1):
            last = i == len(kids) - 1
            if depth >= MAX_TREE_DEPTH:  # no deeper indentation: the rows carry their depth instead
                stack.append((child_prefix + "└┄ ", child_prefix, depth + 1, kids[i]))
                continue
            stack.append(
                (
                    child_prefix + ("└─ " if last else "├─ "),
                    child_prefix + ("   " if last else "│  "),
                    depth + 1,
                    kids[i],
                )
            )
    for r in rs.records.values():  # cycles or odd dumps: never drop a record
        if r.id not in seen:
            out.append(("", r, False))
    return out


def _plain(rows: list[list[str]], headers: list[str]) -> str:
    """Left-aligned columns two spaces apart, like tabulate's "plain", but keeping the leading blanks of
    the tree prefixes (tabulate strips them, which breaks the drawing)."""
    widths = [min(max(len(x) for x in col), MAX_PAD) for col in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in [headers, *rows]
    ]
    return "\n".join(lines) + "\n"


def _state(r: CacheRecord) -> str:
    flags = [f for f, on in (("in use", r.in_use), ("shared", r.shared)) if on]
    return ",".join(flags) or "-"


def render_du(records: list[CacheRecord], fmt: str, *, source: str = "") -> str:
    rs = RecordSet(records)
    if fmt == "json":
        doc: dict[str, Any] = {
            "schema": DU_SCHEMA,
            "source": source,
            "records": [
                {
                    "id": r.id,
                    "parents": list(r.parents),
                    "children": [k.id for k in rs.kids(r.id)],
                    "type": r.type,
                    "size": r.size,
                    "in_use": r.in_use,
                    "shared": r.shared,
                    "created": format_ns(r.created_ns) if r.created_ns is not None else None,
                    "last_used": format_ns(r.last_used_ns) if r.last_used_ns is not None else None,
                    "usage_count": r.usage_count,
                    "reclaimable": not r.in_use and not r.shared,
                    "description": r.description,
                }
                for _, r, ref in _tree(rs)
                if not ref
            ],
            "total": rs.total_size(include_shared=True),
            "reclaimable": rs.reclaimable(),
            "approximate": any(r.approximate for r in records),
        }
        return _json(doc)
    rows = []
    for prefix, r, ref in _tree(rs):
        if ref:
            rows.append([f"{prefix}{r.id} (listed above)", "", "", "", "", "", "", ""])
            continue
        extra = ""
        if len(r.parents) > 1:
            extra = f" (parents: {', '.join(r.parents[:3])}{', …' if len(r.parents) > 3 else ''})"
        rows.append(
            [
                prefix + r.id + extra,
                r.type,
                format_bytes(r.size),
                _state(r),
                format_ns(r.created_ns),
                format_ns(r.last_used_ns),
                str(r.usage_count),
                "no" if r.in_use or r.shared else "yes",
            ]
        )
    head = ["ID", "TYPE", "SIZE", "STATE", "CREATED", "LAST USED", "USES", "RECLAIMABLE"]
    text = _plain(rows, head) if fmt == "table" else _table(rows, head, fmt)
    total, recl = rs.total_size(include_shared=True), rs.reclaimable()
    approx = " (rounded sizes from a text dump)" if any(r.approximate for r in records) else ""
    text += f"\n{len(rs)} records, {format_bytes(total)} total, {format_bytes(recl)} reclaimable{approx}\n"
    return _safe(text)


def render_simulation(res: SimulationResult, fmt: str) -> str:
    with paused_gc():  # one dict per deletion and kept record for -f json
        return _render_simulation(res, fmt)


def _render_simulation(res: SimulationResult, fmt: str) -> str:
    if fmt == "json":
        doc = res.to_json(deletions_as_objects=True)  # msgspec writes Deletion as the same object
        return _json(res.to_json() if _small(doc) else doc)  # json.dumps needs the dicts
    out = [f"BuildKit {res.buildkit_version} semantics" + (f"; {res.source}" if res.source else "")]
    for n in res.notes:
        out.append(f"note: {n}")
    for r in res.rules:
        out.append("")
        target = f"target {format_bytes(r.keep_bytes)}" if r.keep_bytes else "no size target"
        out.append(f"{r.rule}  [{target}, unshared total {format_bytes(r.total_before)}]")
        if r.deleted:
            rows = [
                [str(i + 1), d.id, d.type, format_bytes(d.size), d.reason] for i, d in enumerate(r.deleted)
            ]
            out.append(_table(rows, ["#", "ID", "TYPE", "SIZE", "WHY"], fmt).rstrip("\n"))
        else:
            out.append("deletes nothing")
        out.append(f"reclaims {format_bytes(r.bytes)}; stops: {r.stopped}")
    if res.ties:
        out.append("")
        out.append("ties (BuildKit's order between these is arbitrary):")
        for t in res.ties:
            out.append("  " + " = ".join(t[:8]) + (f" … ({len(t)} records)" if len(t) > 8 else ""))
    out.append("")
    total = sum(r.bytes for r in res.rules)
    out.append(f"deleted {len(res.deleted)} records ({format_bytes(total)}), kept {len(res.kept)}")
    if res.kept:
        rows = [[i, w] for i, w in res.kept[:200]]
        out.append(_table(rows, ["KEPT", "WHY"], fmt).rstrip("\n"))
        if len(res.kept) > 200:
            out.append(f"… and {len(res.kept) - 200} more (use -f json)")
    if res.uncertain:
        out.append("")
        out.append(
            f"uncertain (decided otherwise if the daemon restarted since they were made): {len(res.uncertain)}"
        )
        out.append("  " + " ".join(res.uncertain[:20]) + (" …" if len(res.uncertain) > 20 else ""))
    return _safe("\n".join(out) + "\n")


def render_lint(findings: list[Finding], fmt: str) -> str:
    if fmt == "json":
        doc = {
            "schema": LINT_SCHEMA,
            "findings": [
                {
                    "code": f.code,
                    "name": f.name,
                    "severity": f.severity,
                    "message": f.message,
                    "applies": f.applies,
                    "fix": f.fix,
                    "where": f.where,
                }
                for f in findings
            ],
        }
        return _json(doc)
    if not findings:
        return "no findings\n"
    if fmt == "markdown":
        rows = [[f.code, f.severity, f.message, f.applies, f.fix] for f in findings]
        return _safe(_table(rows, ["CODE", "SEVERITY", "FINDING", "APPLIES TO", "FIX"], fmt))
    lines = []
    for f in findings:
        lines.append(f"{f.code} {f.name} [{f.severity}] {f.message}")
        lines.append(f"  applies to: {f.applies}")
        lines.append(f"  fix: {f.fix}")
    return _safe("\n".join(lines) + "\n")
