"""The pre-rendered help is exactly what typer prints, and --help/--version never import typer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cacheinspect import __version__
from cacheinspect.cli import _help, _helpcheck
from cacheinspect.cli._gen_help import render_all


def test_pre_rendered_help_is_current() -> None:
    """Fails after a CLI change until `python -m cacheinspect.cli._gen_help` is run."""
    assert _helpcheck.fresh(), "CLI sources changed: run python -m cacheinspect.cli._gen_help"
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


def test_freshness_does_not_depend_on_where_the_checkout_is(tmp_path: Path) -> None:
    """The CRC once hashed the tail of each file's absolute path: fresh in /work/main, stale in a CI clone."""
    import shutil

    import cacheinspect

    root = Path(cacheinspect.__file__).resolve().parent
    copy = tmp_path / "some" / "much" / "longer" / "place" / "for" / "a" / "checkout" / "cacheinspect"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__"))
    code = "import sys; sys.path.insert(0, sys.argv[1]); from cacheinspect.cli import _helpcheck; print(_helpcheck.fresh())"
    out = subprocess.run(
        [sys.executable, "-c", code, str(copy.parent)], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "True"


def test_usage_marks_every_repeatable_argument() -> None:
    """A command taking several REFs or DOCKERFILEs says so in its usage line (``REF...``), whatever
    typer does with metavars: the expectation comes from each argument's own nargs."""
    from typer.core import TyperArgument, TyperGroup
    from typer.main import get_command

    from cacheinspect.cli import build_app

    seen = 0

    def walk(cmd: object, path: list[str]) -> None:
        nonlocal seen
        if isinstance(cmd, TyperGroup):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
            return
        usage = _help.HELP[" ".join(path)].splitlines()[0]
        for p in getattr(cmd, "params", []):
            if isinstance(p, TyperArgument) and p.nargs != 1:
                seen += 1
                assert f"{p.metavar}..." in usage or f"{p.metavar}]..." in usage, usage

    walk(get_command(build_app()), [])
    assert seen >= 2  # audit REF..., lint [DOCKERFILE]... at least
