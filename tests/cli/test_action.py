"""The composite GitHub Action (action.yml), its shell steps run here the way a runner runs them.

A runner evaluates each step's ``env`` (``${{ inputs.NAME }}`` with the inputs' defaults), sets
GITHUB_ACTION_PATH, GITHUB_WORKSPACE, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT and RUNNER_TEMP, and runs ``run``
with ``bash`` in the workspace. This test does exactly that for every ``run`` step (the install step with
``install: false``: cacheinspect is on PATH from the test's venv), then reads what a workflow would see:
annotations on stdout, the step summary, the step outputs, the exit code. The one ``uses`` step (SARIF
upload) is checked to take the file the lint step names.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def _eval(text: str, inputs: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        expr = m.group(1)
        if expr.startswith("inputs."):
            return inputs[expr.removeprefix("inputs.")]
        raise AssertionError(f"the test runner does not evaluate {expr!r} in a run step's env")

    return EXPR.sub(sub, text)


def run_action(tmp_path: Path, **given: str) -> dict[str, Any]:
    """Every run step of the action with *given* inputs; returns per-step results and the files."""
    declared = ACTION["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    inputs = {k: str(v.get("default", "")) for k, v in declared.items()} | given | {"install": "false"}
    summary, outputs, temp = tmp_path / "summary.md", tmp_path / "outputs", tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    results: dict[str, Any] = {"summary": summary, "outputs": outputs}
    for step in ACTION["runs"]["steps"]:
        if "run" not in step:
            continue
        assert step["shell"] == "bash"
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_WORKSPACE": str(ROOT),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(outputs),
            "RUNNER_TEMP": str(temp),
            "CI": "true",
        }
        env.update({k: _eval(str(v), inputs) for k, v in (step.get("env") or {}).items()})
        p = subprocess.run(
            ["bash", "-e", "-c", step["run"]], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
        )
        assert "Traceback" not in p.stderr, p.stderr
        results[step["id"]] = p
    return results


def step_outputs(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_audit_step_annotates_summarises_and_fails_on_findings(tmp_path: Path) -> None:
    r = run_action(tmp_path, audit="fixtures/threestage-min", **{"audit-args": "--expect-mode max"})
    assert r["install"].returncode == 0 and r["install"].stdout.startswith("cacheinspect ")
    audit = r["audit"]
    assert audit.returncode == 1, audit.stderr
    assert (
        "::error title=cacheinspect mode-mismatch::fixtures/threestage-min: expected mode=max" in audit.stdout
    )
    assert r["summary"].read_text().startswith("## cacheinspect audit")
    assert step_outputs(r["outputs"])["audit-exit-code"] == "1"
    for other in ("fingerprint", "lint", "context-check"):  # no input: nothing happens
        assert (r[other].returncode, r[other].stdout) == (0, "")


def test_audit_step_passes_a_good_cache(tmp_path: Path) -> None:
    r = run_action(tmp_path, audit="fixtures/threestage-max")
    assert r["audit"].returncode == 0, r["audit"].stderr
    assert "cacheinspect audit: fixtures/threestage-max: ok" in r["audit"].stdout


def test_lint_step_writes_sarif_annotations_and_summary(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:3.10\nRUN --mount=type=cache,target=/pip-packages pip install --target=/pip-packages uwsgi\n"
    )
    r = run_action(tmp_path, lint=str(bad))
    lint = r["lint"]
    assert lint.returncode == 1, lint.stderr
    assert re.search(r"^::error file=[^,]*Dockerfile,line=2,col=\d+,title=CM001", lint.stdout, re.M), (
        lint.stdout
    )
    out = step_outputs(r["outputs"])
    sarif = json.loads(Path(out["sarif"]).read_text())
    assert sarif["version"] == "2.1.0"
    assert [res["ruleId"] for res in sarif["runs"][0]["results"]] == ["CM001"]
    assert "## cacheinspect lint" in r["summary"].read_text() and "CM001" in r["summary"].read_text()
    assert out["lint-exit-code"] == "1"


def test_lint_step_expands_globs(tmp_path: Path) -> None:
    r = run_action(tmp_path, lint="testbed/cases/three*/Dockerfile testbed/cases/multi*/Dockerfile")
    assert r["lint"].returncode == 0, r["lint"].stderr
    assert "no findings in 2 files" in r["summary"].read_text()


def test_context_check_step_annotates_the_dockerfile(tmp_path: Path) -> None:
    r = run_action(
        tmp_path,
        **{
            "context-check": "fixtures/crosshost-b-mode",
            "context": "testbed/cases/crosshost",
            "context-check-args": "--no-referrers",
            "fail-on-miss": "true",
        },
    )
    cc = r["context-check"]
    assert cc.returncode == 1, cc.stderr
    assert "::error file=testbed/cases/crosshost/Dockerfile,line=4,title=cache miss predicted::" in cc.stdout
    assert "### Context check" in r["summary"].read_text()
    assert step_outputs(r["outputs"])["context-check-exit-code"] == "1"


def test_sarif_upload_takes_the_file_the_lint_step_names() -> None:
    steps = ACTION["runs"]["steps"]
    upload = next(s for s in steps if "uses" in s)
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["with"]["sarif_file"] == "${{ steps.lint.outputs.sarif }}"
    assert any(s.get("id") == "lint" for s in steps)


def test_the_readme_snippet_uses_only_real_inputs() -> None:
    """The README's five-line job step names inputs the action has."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    uses = [b for b in blocks if "uses: OWNER/cacheinspect@v1" in b]
    assert uses, "the README shows the action"
    for block in uses:
        doc = yaml.safe_load(block)
        steps = doc if isinstance(doc, list) else doc.get("steps", [])
        for step in steps:
            if str(step.get("uses", "")).startswith("OWNER/cacheinspect"):
                assert set(step.get("with", {})) <= set(ACTION["inputs"]), step


@pytest.mark.parametrize("name", sorted(ACTION["inputs"]))
def test_every_input_is_passed_to_a_step(name: str) -> None:
    used = " ".join(json.dumps(s) for s in ACTION["runs"]["steps"])
    assert f"inputs.{name} " in used.replace("}}", " }}")
