"""The README's example blocks are real output: every line shown (bar the elisions) is what the command prints."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```\n\$ cacheinspect ([^\n]*)\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize(("args", "body"), BLOCKS, ids=[b[0][:40] for b in BLOCKS])
def test_readme_example_is_real_output(args: str, body: str) -> None:
    argv = shlex.split(args.split("  #")[0])
    out = subprocess.run(
        [sys.executable, "-m", "cacheinspect", *argv], capture_output=True, text=True, cwd=ROOT, timeout=60
    ).stdout
    shown = [line for line in body.splitlines() if line.strip() and line.strip() != "…"]
    assert [line for line in shown if line not in out] == []
