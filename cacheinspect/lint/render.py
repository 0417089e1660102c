"""Lint reports as text: a table for people, ``cacheinspect.lint/v1`` JSON, SARIF 2.1.0 for code
scanning, and GitHub workflow annotations. Pure functions returning ``str``.

SARIF follows the OASIS SARIF 2.1.0 schema (validated in the tests) and what GitHub code scanning
reads: ``tool.driver.rules[]`` with ``shortDescription``/``fullDescription``/``help`` and
``defaultConfiguration.level``; results with ``ruleId``/``ruleIndex``/``level``/``message`` and one
physical location with a 1-based ``startLine``/``startColumn``.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any, Literal
from urllib.parse import quote

from cacheinspect._version import __version__
from cacheinspect.lint.engine import LintReport
from cacheinspect.lint.rules import RULES, Rule, Severity
from cacheinspect.render.common import to_json
from cacheinspect.render.escape import esc

__all__ = ["LintFormat", "render_lint", "rule_help_markdown", "sarif_document"]

LintFormat = Literal["table", "json", "sarif", "github"]

_SARIF_LEVEL = {Severity.error: "error", Severity.warning: "warning", Severity.info: "note"}
_GH_LEVEL = {Severity.error: "error", Severity.warning: "warning", Severity.info: "notice"}
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)


def render_lint(report: LintReport, fmt: LintFormat, *, root: str | None = None) -> str:
    """*report* as text; *root* anchors SARIF file locations (the CLI passes its working directory)."""
    if fmt == "json":
        return _to_json(report.to_json())
    if fmt == "sarif":
        return _to_json(sarif_document(report, root=root))
    if fmt == "github":
        return _github(report)
    return _table(report)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(doc: Any) -> Any:
    """*doc* with every lone surrogate replaced by U+FFFD, as Go's encoding/json writes invalid UTF-8.

    A Dockerfile is decoded with ``surrogateescape`` so that its invalid bytes survive to BuildKit's
    byte-wise scanners; such a byte can reach a finding's ``instruction`` or message, and no UTF-8
    JSON document can hold it (the encoder raised UnicodeEncodeError, exit 70)."""
    if isinstance(doc, str):
        return _SURROGATE.sub("\ufffd", doc)
    if isinstance(doc, dict):
        return {_valid_text(k): _valid_text(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_valid_text(v) for v in doc]
    return doc


def _to_json(doc: Any) -> str:
    try:
        return to_json(doc)
    except UnicodeEncodeError:  # rare: only a document that carries a non-UTF-8 byte pays the walk
        return to_json(_valid_text(doc))


def _table(report: LintReport) -> str:
    lines: list[str] = []
    counts = {s: 0 for s in Severity}
    for r in report.files:
        for f in r.findings:
            counts[f.severity] += 1
            lines.append(f"{esc(f.file)}:{f.line}:{f.column}: {f.code} {f.severity} {f.name}")
            lines.append(f"    {esc(f.message)}")
            lines.append(f"    fix: {esc(f.fix)}")
    total = sum(counts.values())
    files = len(report.files)
    if total == 0:
        lines.append(f"no findings in {files} file{'s' if files != 1 else ''}")
    else:
        parts = ", ".join(f"{counts[s]} {s}" for s in sorted(Severity, reverse=True) if counts[s])
        lines.append(
            f"{total} finding{'s' if total != 1 else ''} ({parts}) in {files} file{'s' if files != 1 else ''}"
        )
    return "\n".join(lines) + "\n"


def _gh_data(text: str) -> str:
    return esc(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(report: LintReport) -> str:
    lines = []
    for r in report.files:
        for f in r.findings:
            props = (
                f"file={_gh_prop(f.file)},line={f.line},col={f.column},title={_gh_prop(f'{f.code} {f.name}')}"
            )
            lines.append(f"::{_GH_LEVEL[f.severity]} {props}::{_gh_data(f.message)} (fix: {_gh_data(f.fix)})")
    return "\n".join(lines) + ("\n" if lines else "")


def rule_help_markdown(rule: Rule) -> str:
    """The rule's documentation in markdown (what it does / why / example / use instead)."""
    return (
        f"## What it does\n{rule.what}\n\n## Why\n{rule.why}\n\n"
        f"## Example\n```dockerfile\n{rule.example}\n```\n\n## Use instead\n```dockerfile\n{rule.use_instead}\n```\n"
    )


def _sarif_rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.what},
        "help": {
            "text": f"{rule.what}\n\nWhy: {rule.why}\n\nExample:\n{rule.example}\n\nUse instead:\n{rule.use_instead}",
            "markdown": rule_help_markdown(rule),
        },
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        "properties": {"tags": ["dockerfile", "buildkit", "cache-mount"], "precision": "high"},
    }


def _artifact_location(path: str, root: str | None) -> dict[str, str]:
    """SARIF ``artifactLocation`` for a file as the user named it.

    GitHub code scanning resolves ``uri`` against the checkout (``uriBaseId`` ``%SRCROOT%``), which only
    works for a relative reference inside it. A path under *root* (the CLI passes its working
    directory) becomes relative to it; any other absolute path, or one that climbs out with ``..``,
    becomes an absolute ``file://`` URI without ``uriBaseId`` (SARIF 2.1.0 §3.4.4: a base id goes with
    a relative reference only)."""
    if path in ("-", "<stdin>"):
        return {"uri": "stdin", "uriBaseId": "%SRCROOT%"}
    p = posixpath.normpath(path.replace("\\", "/"))
    if root is not None:
        base = posixpath.normpath(root.replace("\\", "/"))
        absolute = p if p.startswith("/") else posixpath.normpath(posixpath.join(base, p))
        if absolute == base or absolute.startswith(base.rstrip("/") + "/"):
            return {"uri": quote(posixpath.relpath(absolute, base), safe="/"), "uriBaseId": "%SRCROOT%"}
        p = absolute
    if p.startswith("/"):
        return {"uri": "file://" + quote(p, safe="/")}
    if p == ".." or p.startswith("../"):
        return {"uri": quote(p, safe="/")}  # no root to anchor it: a relative reference, no base id
    return {"uri": quote(p, safe="/"), "uriBaseId": "%SRCROOT%"}


def sarif_document(report: LintReport, *, root: str | None = None) -> dict[str, Any]:
    """The SARIF 2.1.0 log; *root* is the directory file names are relative to (see
    :func:`_artifact_location`)."""
    index = {r.code: k for k, r in enumerate(RULES)}
    results = []
    for fr in report.files:
        for f in fr.findings:
            results.append(
                {
                    "ruleId": f.code,
                    "ruleIndex": index[f.code],
                    "level": _SARIF_LEVEL[f.severity],
                    "message": {"text": f"{f.message}. Fix: {f.fix}"},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": _artifact_location(f.file, root),
                                "region": {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)},
                            }
                        }
                    ],
                    "properties": {"fix": f.fix, "instruction": f.instruction},
                }
            )
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cacheinspect",
                        "version": __version__,
                        "rules": [_sarif_rule(r) for r in RULES],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
