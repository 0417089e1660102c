"""The rules' README text, rendered from :data:`cacheinspect.lint.rules.RULES` (one source of truth).

``python -m cacheinspect.lint.docs FILE`` rewrites the part of FILE between ``<!-- rules:start -->``
and ``<!-- rules:end -->``; a test checks that ``docs/lint.md`` is up to date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cacheinspect.lint.rules import RULES

__all__ = ["render_rules_markdown"]

START, END = "<!-- rules:start -->", "<!-- rules:end -->"


def render_rules_markdown() -> str:
    rows = ["| code | name | severity | what it catches |", "|---|---|---|---|"]
    for r in RULES:
        summary = r.summary.replace("|", "\\|")
        rows.append(f"| [{r.code}](#{r.anchor}) | {r.name} | {r.severity} | {summary} |")
    parts = ["\n".join(rows)]
    for r in RULES:
        parts.append(
            f"### {r.code} {r.name}\n\n"
            f"Severity: **{r.severity}**. {r.summary}\n\n"
            f"**What it does.** {r.what}\n\n"
            f"**Why.** {r.why}\n\n"
            f"**Example.**\n\n```dockerfile\n{r.example}\n```\n\n"
            f"**Use instead.**\n\n```dockerfile\n{r.use_instead}\n```"
        )
    return "\n\n".join(parts) + "\n"


def _main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m cacheinspect.lint.docs FILE\n")
        return 2
    path = Path(argv[0])
    text = path.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    path.write_text(text[:start] + "\n" + render_rules_markdown() + text[end:])
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
