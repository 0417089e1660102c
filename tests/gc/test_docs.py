"""docs/gc.md (README text for du/gc): every finding code documented, every example equal to real output."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from cacheinspect.cli import main
from cacheinspect.gc.lint import RULES

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "gc.md").read_text()


def test_every_code_in_the_traps_table() -> None:
    for code, rule in RULES.items():
        assert f"| `{code}` | {rule.severity} | {rule.name} | {rule.applies} |" in DOC, code


EXAMPLES = [
    (m.group(1), m.group(2))
    for m in re.finditer(r"```console\n\$ (cacheinspect [^\n]+)\n(.*?)```", DOC, re.S)
]


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c[:60] for c, _ in EXAMPLES])
def test_example_output_is_real(
    command: str, expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit):
        main(shlex.split(command)[1:])
    assert capsys.readouterr().out == expected


def test_examples_found() -> None:
    assert len(EXAMPLES) >= 4
