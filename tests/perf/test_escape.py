"""Outside text is printed escaped in every format (issue 8: forged lines, ANSI sequences)."""

from __future__ import annotations

import json
import subprocess
import sys

from cacheinspect.render.audit import render_audit
from cacheinspect.render.common import md_code, table, to_json, to_json_bytes
from cacheinspect.render.escape import esc, esc_json

EVIL = "x\n::error::forged\x1b[31mred\x1b]0;title\x07\r\u009b31m\u202eevil"


def test_esc_shows_every_control_character() -> None:
    out = esc(EVIL)
    assert out.isprintable()
    assert "\\n" in out and "\\x1b" in out and "\\r" in out and "\\x07" in out
    assert "\\u009b" in out and "\\u202e" in out
    assert esc("COPY a /a — ünïcode") == "COPY a /a — ünïcode"  # printable text is left alone
    assert esc(None) == ""


def test_esc_json_keeps_the_value_and_hides_c1_and_bidi() -> None:
    raw = json.dumps({"s": "a\u009bb\u202ec\x7f"}, ensure_ascii=False).encode()
    safe = esc_json(raw)
    assert safe.isascii()
    assert json.loads(safe) == json.loads(raw)


def test_table_cells_cannot_add_rows_or_colour() -> None:
    out = table([[EVIL, "y"]], ["a", "b"], "table")
    assert "\x1b" not in out and "\u009b" not in out
    assert len(out.strip().splitlines()) == 3  # header, rule, one row


def test_github_annotations_and_markdown_are_escaped() -> None:
    doc = {
        "ok": False,
        "results": [
            {
                "ref": EVIL,
                "ok": False,
                "kind": "registry",
                "shape": "oci-index",
                "summary": None,
                "findings": [{"code": "blob-missing", "severity": "error", "message": EVIL}],
            }
        ],
    }
    for fmt in ("github", "markdown", "table"):
        out = render_audit(doc, fmt)  # type: ignore[arg-type]
        assert "\x1b" not in out and "\r" not in out, fmt
        assert not [ln for ln in out.splitlines() if ln.startswith("::error::forged")], fmt


def test_markdown_code_span_survives_backticks() -> None:
    assert md_code("RUN echo `date`") == "``RUN echo `date```" or md_code("RUN echo `date`").startswith("``")
    assert md_code("`x`") == "`` `x` ``"


def test_json_encoder_is_json_dumps_indent_2() -> None:
    docs = [
        {"a": [], "b": {}, "c": [1, {"x": None, "y": True, "z": 'q"\\ \x01'}], "e": {"k": [[]]}, "f": 1.5},
        {"step": "COPY — ü /x", "bidi": "\u202e"},
    ]
    for doc in docs:
        want = json.dumps(doc, indent=2) + "\n"
        assert to_json(doc) == want
        assert to_json_bytes(doc) == want.encode()


def test_error_lines_are_escaped() -> None:
    """A reference carrying an ANSI sequence comes back as one escaped error line."""
    p = subprocess.run(
        [sys.executable, "-m", "cacheinspect", "inspect", "reg.invalid/x\x1b[31m:tag"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    assert "\x1b" not in p.stderr
    assert p.stderr.startswith("error: ")
