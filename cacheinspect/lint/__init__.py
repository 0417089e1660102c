"""Lint Dockerfiles for ``RUN --mount=type=cache`` misuse (issue 10).

Layers: :mod:`.shell` reads a RUN's shell string into simple commands; :mod:`.tools` says what each
package manager/build tool does with the filesystem; :mod:`.checks` walks the resolved stages
(:mod:`cacheinspect.dockerfile`) and reports :class:`Finding` objects for the rules in :mod:`.rules`
(rules as data: code, name, severity, summary, message and fix templates, documentation);
:mod:`.render` turns a :class:`LintReport` into a table, ``cacheinspect.lint/v1`` JSON, SARIF 2.1.0 or
GitHub annotations. Everything is pure; the CLI (``cacheinspect lint``) reads the files.

>>> from cacheinspect.lint import lint_text
>>> r = lint_text("FROM python:3.12\\nRUN --mount=type=cache,target=/d pip install -t /d flask\\n")
>>> [(f.code, f.line) for f in r.findings]
[('CM001', 2)]

Names are imported lazily, so importing :mod:`cacheinspect.lint.rules` (the CLI's ``--help``) does
not import the Dockerfile front end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cacheinspect.lint.checks import Finding
    from cacheinspect.lint.engine import SCHEMA_LINT, FileResult, LintReport, lint_text
    from cacheinspect.lint.render import render_lint, sarif_document
    from cacheinspect.lint.rules import RULES, RULES_BY_CODE, Rule, Severity

__all__ = [
    "RULES",
    "RULES_BY_CODE",
    "SCHEMA_LINT",
    "FileResult",
    "Finding",
    "LintReport",
    "Rule",
    "Severity",
    "lint_text",
    "render_lint",
    "sarif_document",
]

_WHERE = {
    "Finding": "checks",
    "SCHEMA_LINT": "engine",
    "FileResult": "engine",
    "LintReport": "engine",
    "lint_text": "engine",
    "render_lint": "render",
    "sarif_document": "render",
    "RULES": "rules",
    "RULES_BY_CODE": "rules",
    "Rule": "rules",
    "Severity": "rules",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'cacheinspect.lint' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"cacheinspect.lint.{module}"), name)
    globals()[name] = value
    return value
