"""The command line surface: help texts, documented codes, version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cacheinspect import __version__
from cacheinspect.cache.findings import CODES
from cacheinspect.errors import (
    EXIT_AUTH,
    EXIT_FINDINGS,
    EXIT_INTEGRITY,
    EXIT_NOT_FOUND,
    EXIT_REGISTRY,
    EXIT_USAGE,
)

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cacheinspect", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", [[], ["inspect"], ["graph"], ["diff"], ["audit"]])
def test_help_works_for_every_command(command: list[str]) -> None:
    p = run(*command, "--help")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert "Usage:" in p.stdout


def test_top_level_help_states_the_exit_codes() -> None:
    out = " ".join(run("--help").stdout.split())
    for code, word in [
        (EXIT_FINDINGS, "findings"),
        (EXIT_USAGE, "usage"),
        (EXIT_AUTH, "authentication"),
        (EXIT_NOT_FOUND, "not found"),
        (EXIT_REGISTRY, "network"),
        (EXIT_INTEGRITY, "integrity"),
    ]:
        assert f"{code} {word}" in out


def test_readme_documents_every_finding_code_with_its_severity() -> None:
    for code, (severity, _) in CODES.items():
        assert f"| `{code}` | {severity} |" in README, code


def test_readme_documents_every_exit_code() -> None:
    for code in (EXIT_FINDINGS, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_REGISTRY, EXIT_INTEGRITY):
        assert f"\n| {code} |" in README


def test_version() -> None:
    p = run("--version")
    assert p.returncode == 0
    assert p.stdout.strip() == f"cacheinspect {__version__}"


def test_no_arguments_shows_usage_and_exits_2() -> None:
    p = run("inspect")
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
