"""The pre-rendered help is exactly what typer prints, and --help/--version never import typer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cacheinspect import __version__
from cacheinspect.cli import _help
from cacheinspect.cli._gen_help import render_all


def test_pre_rendered_help_is_current() -> None:
    """Fails after a CLI change until `python -m cacheinspect.cli._gen_help` is run."""
    assert _help.fresh(), "CLI sources changed: run python -m cacheinspect.cli._gen_help"
    assert render_all() == _help.HELP


def _modules_after(*args: str) -> tuple[str, str]:
    code = (
        "import sys\n"
        "from cacheinspect.cli import main\n"
        f"try:\n    main({list(args)!r})\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(repr(sorted(m for m in ('typer', 'httpx', 'msgspec', 'asyncio') if m in sys.modules)))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return p.stdout, p.stderr


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["inspect", "--help"], ["audit", "-h"], ["--version"]])
def test_fast_path_imports_nothing_heavy(args: list[str]) -> None:
    out, loaded = _modules_after(*args)
    assert loaded == "[]"
    assert out == (
        f"cacheinspect {__version__}\n" if args == ["--version"] else _help.HELP[" ".join(args[:-1])]
    )


def test_every_command_help_has_an_example_and_no_python_types() -> None:
    for path, text in _help.HELP.items():
        if path in ("", "inspect", "graph", "diff", "audit", "version", "completion"):
            assert "cacheinspect " in text.split("Options:")[-1] or "Example" in text, path
        usage = text.splitlines()[0]
        assert "{" not in usage, usage
        assert "<list[" not in text and "<str>" not in text and "<int>" not in text, path
