"""Renderers: SARIF 2.1.0 against the official OASIS schema, GitHub escaping, the docs in sync."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from cacheinspect.lint.engine import LintReport, lint_text
from cacheinspect.lint.render import render_lint, sarif_document
from cacheinspect.lint.rules import RULES, Severity

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent / "docs" / "lint.md"
BAD = (
    "FROM python:3.10 AS build\n"
    "RUN --mount=type=cache,target=/pip-packages pip install --target=/pip-packages uwsgi\n"
    "RUN pip install flask\n"
    "FROM scratch\nCOPY --from=build /pip-packages /x\n"
)


def report() -> LintReport:
    return LintReport(
        [lint_text(BAD, filename="dir with space/Dockerfile"), lint_text("FROM scratch\n", filename="b")]
    )


def test_sarif_validates_against_the_oasis_schema() -> None:
    schema = json.loads((HERE / "sarif-schema-2.1.0.json").read_text())
    doc = json.loads(render_lint(report(), "sarif"))
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(doc)
    empty = json.loads(render_lint(LintReport([]), "sarif"))
    jsonschema.Draft4Validator(schema).validate(empty)


def test_sarif_what_code_scanning_reads() -> None:
    doc = sarif_document(report())
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.code for r in RULES]
    assert {r["defaultConfiguration"]["level"] for r in rules} <= {"error", "warning", "note"}
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "dir%20with%20space/Dockerfile"
        assert loc["region"]["startLine"] >= 1 and loc["region"]["startColumn"] >= 1
    assert [r["ruleId"] for r in run["results"]] == ["CM001", "CM009", "CM002"]
    assert [r["level"] for r in run["results"]] == ["error", "note", "error"]


def test_github_escapes_properties_and_data() -> None:
    r = LintReport([lint_text(BAD, filename="a,b:c%\n.Dockerfile")])
    out = render_lint(r, "github")
    first = out.splitlines()[0]
    assert first.startswith("::error file=a%2Cb%3Ac%25\\n.Dockerfile,line=2,col=")
    assert out.count("\n") == 3


def test_table_summary_counts() -> None:
    out = render_lint(report(), "table")
    assert out.endswith("3 findings (2 error, 1 info) in 2 files\n")
    assert render_lint(LintReport([lint_text("FROM scratch\n")]), "table") == "no findings in 1 file\n"


def test_severity_order() -> None:
    assert Severity.info < Severity.warning < Severity.error
    assert [str(s) for s in Severity] == ["info", "warning", "error"]


def test_docs_are_generated_from_the_rules() -> None:
    """docs/lint.md's rule sections are exactly what the rule data renders (one source of truth)."""
    from cacheinspect.lint.docs import render_rules_markdown

    text = DOCS.read_text()
    start = text.index("<!-- rules:start -->")
    end = text.index("<!-- rules:end -->")
    assert text[start + len("<!-- rules:start -->") : end].strip() == render_rules_markdown().strip()
