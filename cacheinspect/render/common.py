"""What every renderer shares: tables, headings, sizes, markdown code spans, and the JSON encoder.

Tables go through tabulate with ``disable_numparse=True``: without it, digest-like strings such as
``1e100...`` are turned into numbers. Every cell passes through :func:`~cacheinspect.render.escape.esc`.

JSON is encoded by msgspec (in C) and pretty-printed by ``msgspec.json.format``: for ASCII output that
is byte for byte what ``json.dumps(indent=2)`` writes, in about a fifth of the time. Non-ASCII text is
re-encoded by ``json.dumps`` so it stays ``\\uXXXX``-escaped exactly as before.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from cacheinspect.render.escape import esc, esc_json

__all__ = [
    "MAX_CELL",
    "Format",
    "elide",
    "heading",
    "human_bytes",
    "layout",
    "md_cell",
    "md_code",
    "media_short",
    "table",
    "to_json",
    "to_json_bytes",
]

Format = Literal["table", "json", "markdown"]


def to_json_bytes(doc: object) -> bytes:
    """``json.dumps(doc, indent=2) + "\\n"`` as bytes, computed by msgspec."""
    import msgspec

    raw = msgspec.json.encode(doc)
    if raw.isascii():  # DEL is ASCII and msgspec writes it raw: esc_json escapes it
        return esc_json(msgspec.json.format(raw, indent=2) + b"\n")
    return esc_json((json.dumps(doc, indent=2) + "\n").encode())


def to_json(doc: object) -> str:
    return to_json_bytes(doc).decode()


def md_cell(v: Any) -> str:
    """A markdown table cell: ``|`` would open a column and a newline would end the row."""
    return esc(v).replace("\\", "\\\\").replace("|", "\\|")


def md_code(v: Any) -> str:
    """*v* as a markdown code span that survives backticks inside it (CommonMark: a longer fence)."""
    s = esc(v)
    if not s:
        return ""
    run = longest = 0
    for c in s:
        run = run + 1 if c == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


#: The widest a table cell is printed. A column is as wide as its widest cell, so one 100,000-character
#: value (a step label, an image reference) padded every row of the table to it: 6 MB of table, and 42 s
#: for 2 M characters (issue 17). Longer cells keep their start and end with the count of what is left
#: out between them; ``-f json`` keeps every value whole.
MAX_CELL = 240
_TAIL = 40


def elide(text: str, limit: int = MAX_CELL) -> str:
    """*text* as is when at most *limit* characters, else its start, ``…(N more)…`` and its end."""
    if len(text) <= limit:
        return text
    head = limit - _TAIL - 20
    return f"{text[:head]}…({len(text) - head - _TAIL} more)…{text[-_TAIL:]}"


def table(rows: list[list[Any]], headers: list[str], fmt: Format) -> str:
    if not rows:
        return "(none)\n"
    if fmt == "markdown":
        rows = [[md_cell(elide(esc(c))) for c in row] for row in rows]
        headers = [md_cell(h) for h in headers]
    else:
        rows = [[elide(esc(c)) for c in row] for row in rows]
    return layout(rows, headers, github=fmt == "markdown") + "\n"


def layout(rows: list[list[str]], headers: list[str], *, github: bool = False) -> str:
    """tabulate's ``simple`` (or ``github``) table of string cells, ``disable_numparse=True``, byte for
    byte for rows of equal length (tests/test_render_width.py compares the two on random tables).

    Why not tabulate itself: importing it asks ``importlib.metadata`` for its version, which scans
    site-packages (and imports ``email``): about two interpreter starts of CPU on every small run. The
    rules reproduced: cells (not headers) are stripped; a column is as wide as its widest cell and at
    least its header plus 2; there are as many columns as the longest row has cells, headers fewer than
    that label the last ones (more are dropped); missing cells are empty;
    ``simple`` joins columns with two spaces and strips each line's end, ``github`` is ``| a | b |``.
    """
    n = max(len(r) for r in rows) if rows else len(headers)
    heads = [""] * (n - len(headers)) + list(headers[:n])
    body = [[c.strip() for c in r] + [""] * (n - len(r)) for r in rows]
    widths = [max([len(heads[i]) + 2, *(len(r[i]) for r in body)]) for i in range(n)]
    if github:

        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(heads), rule, *(line(r) for r in body)])

    def sline(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([sline(heads), rule, *(sline(r) for r in body)])


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    if not isinstance(n, int) or n < 0:
        return esc(n)
    if n < 1024 or n >= 1 << 60:  # beyond PiB: no float (a config can declare any int, even 10**400)
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def heading(text: str, fmt: Format) -> str:
    return f"\n## {text}\n\n" if fmt == "markdown" else f"\n{text}\n{'-' * len(text)}\n"


def media_short(mt: str | None) -> str:
    return (
        esc(mt)
        .replace("application/vnd.oci.image.", "oci:")
        .replace("application/vnd.docker.image.rootfs.", "docker:")
        .replace("application/vnd.docker.distribution.", "docker:")
    )
