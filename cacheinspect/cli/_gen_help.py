"""Regenerate ``cli/_help.py`` (every command's ``--help`` exactly as typer renders it) and
``cli/_fastspec.py`` (every command's parameters as typer defines them, for ``cli/_fastrun.py``).

``python -m cacheinspect.cli._gen_help`` after changing any CLI module (tests/cli/test_help_text.py
fails until you do; until then the CLI renders help with typer, correctly but slowly).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def render_all() -> dict[str, str]:
    """``{"": top-level help, "inspect": ..., "context check": ...}``, each as typer prints it."""
    from typer.core import TyperGroup
    from typer.main import get_command
    from typer.testing import CliRunner

    from cacheinspect.cli import build_app

    app = build_app()
    runner = CliRunner()
    out: dict[str, str] = {}

    def walk(cmd: object, path: list[str]) -> None:
        res = runner.invoke(app, [*path, "--help"], prog_name="cacheinspect", env={"COLUMNS": "200"})
        if res.exit_code != 0:
            raise SystemExit(f"{' '.join(path)} --help failed: {res.output}")
        out[" ".join(path)] = res.stdout
        if isinstance(cmd, TyperGroup):
            for name, sub in cmd.commands.items():
                if not getattr(sub, "hidden", False):
                    walk(sub, [*path, name])

    walk(get_command(app), [])
    return out


def _py_kind(hint: Any) -> tuple[str, bool]:
    """How typer converts a parameter of annotation *hint*: (kind, repeatable)."""
    import enum
    import pathlib
    import types
    import typing

    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(rest) != 1:
            raise _Unsupported(f"union {hint}")
        hint = rest[0]
    many = typing.get_origin(hint) is list
    if many:
        (hint,) = typing.get_args(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return f"enum:{hint.__module__}:{hint.__qualname__}", many
    for cls, kind in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (pathlib.Path, "path")):
        if hint is cls:
            return kind, many
    raise _Unsupported(f"type {hint}")


class _Unsupported(Exception):
    """A parameter the fast path does not take: its command stays typer's."""


def _param(p: Any, cmd: Any, hints: dict[str, Any] | None, default: Any, injected: bool) -> dict[str, Any]:
    """One click parameter as ``cli/_fastrun.py`` reads it."""
    import enum

    from typer._click import types as ct
    from typer._types import TyperChoice
    from typer.models import TyperPath

    from cacheinspect.cli._grammar import _flag

    if p.envvar or p.callback is not None or p.is_eager or not p.expose_value or p.nargs not in (1, -1):
        raise _Unsupported(p.name)
    if getattr(p, "count", False) or getattr(p, "prompt", None) or getattr(p, "_flag_needs_value", False):
        raise _Unsupported(p.name)
    t = p.type
    ty: dict[str, Any]
    if isinstance(t, TyperChoice):
        if not t.case_sensitive:
            raise _Unsupported(p.name)
        ty = {"kind": "choice", "choices": [t.normalize_choice(c, None) for c in t.choices]}
    elif isinstance(t, ct._NumberRangeBase):
        if t.clamp:
            raise _Unsupported(p.name)
        ty = {"kind": "int" if isinstance(t, ct.IntParamType) else "float"}
        ty.update({k: getattr(t, k) for k in ("min", "max", "min_open", "max_open")})
    elif isinstance(t, ct.IntParamType | ct.FloatParamType):
        ty = {"kind": "int" if isinstance(t, ct.IntParamType) else "float"}
    elif isinstance(t, TyperPath):
        if t.resolve_path:
            raise _Unsupported(p.name)
        ty = {"kind": "path"}
        ty.update(
            {
                k: getattr(t, k)
                for k in ("exists", "file_okay", "dir_okay", "readable", "writable", "allow_dash")
            }
        )
    elif isinstance(t, ct.StringParamType):
        ty = {"kind": "str"}
    elif isinstance(t, ct.BoolParamType):
        ty = {"kind": "bool"}
    else:
        raise _Unsupported(f"{p.name}: {t!r}")
    flag = bool(getattr(p, "is_flag", False))
    if flag and (not p.is_bool_flag or p.multiple):  # typer's bool flag: primary True, secondary False
        raise _Unsupported(p.name)
    if hints is None:  # the root's and the grammar's own options: no Python annotation
        py, many = ("bool" if flag else "str"), bool(p.multiple)
    else:
        py, many = _py_kind(hints[p.name])
    if many != (bool(p.multiple) or p.nargs == -1):
        raise _Unsupported(p.name)
    if isinstance(default, enum.Enum):
        default = default.value
    elif default is not None and not isinstance(default, bool | int | float | str):
        if py != "path":
            raise _Unsupported(f"{p.name} default {default!r}")
        default = str(default)
    if many and default is not None:
        raise _Unsupported(p.name)
    return {
        "name": p.name,
        "kind": p.param_type_name,
        "opts": [o for o in p.opts if p.param_type_name == "option"],
        "secondary": list(p.secondary_opts),
        "flag": flag,
        "flag_value": True if flag else None,
        "multiple": bool(p.multiple),
        "nargs": p.nargs,
        "required": bool(p.required),
        "type": ty,
        "py": py,
        "default": default,
        "injected": injected,
        "flag_text": _flag(cmd, p.name),
    }


def spec_all() -> dict[str, Any]:
    """``{"ROOT": [...], "GROUPS": [...], "COMMANDS": {...}}``: what ``cli/_fastrun.py`` parses with."""
    import inspect
    import typing

    from typer.core import TyperGroup
    from typer.main import get_command

    from cacheinspect.cli import build_app

    root = get_command(build_app())
    ctx_settings = {"ignore_unknown_options", "allow_extra_args", "allow_interspersed_args"}
    out: dict[str, Any] = {
        "ROOT": [
            _param(p, root, None, p.default, False) for p in root.params if p.name not in ("help", "version")
        ],
        "GROUPS": [],
        "COMMANDS": {},
    }

    def walk(cmd: Any, path: list[str], fast: bool) -> None:
        if isinstance(cmd, TyperGroup):
            if path:
                out["GROUPS"].append(" ".join(path))
                # a sub-group's own options or callback would be skipped by the fast path
                fast = fast and cmd.callback is None and not cmd.params and not cmd.invoke_without_command
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name], fast)
            return
        func = cmd.callback.__wrapped__
        entry: dict[str, Any] = {
            "path": " ".join(["cacheinspect", *path]),
            "name": cmd.name,
            "module": func.__module__,
            "group": path[:-1],
            "function": func.__name__,
            "fast": False,
            "params": [],
        }
        try:
            if not fast or set(cmd.context_settings) & ctx_settings:
                raise _Unsupported("settings")
            hints = typing.get_type_hints(func, include_extras=True)
            sig = inspect.signature(func).parameters
            injected: set[str] = getattr(cmd, "_injected", set())
            for p in cmd.params:
                if p.name == "help":
                    continue
                if p.name in injected:
                    entry["params"].append(_param(p, cmd, None, p.default, True))
                else:
                    d = sig[p.name].default
                    entry["params"].append(
                        _param(p, cmd, hints, None if d is inspect.Parameter.empty else d, False)
                    )
            entry["fast"] = True
        except _Unsupported as e:
            entry["params"] = []
            entry["why_not"] = str(e)
        out["COMMANDS"][" ".join(path)] = entry

    walk(root, [], root.callback is not None)
    return out


def write_spec() -> int:
    """Write ``cli/_fastspec.py``; the number of commands the fast path takes."""
    from cacheinspect.cli._helpcheck import current_sources

    spec = spec_all()
    # JSON (json is imported by every run anyway): a Python literal formatted by ruff would be thousands
    # of lines to load. One string per command, parsed only for the command that runs: parsing all of
    # them cost every small run ~2 ms (issue 17).
    head = json.dumps({"ROOT": spec["ROOT"], "GROUPS": sorted(spec["GROUPS"])})
    per_command = {k: json.dumps(v) for k, v in spec["COMMANDS"].items()}
    body = [
        '"""Parameters of every command as typer defines them, for ``cli/_fastrun.py`` (generated by',
        '``python -m cacheinspect.cli._gen_help``; do not edit)."""',
        "",
        "from __future__ import annotations",
        "",
        "import json",
        "from typing import Any",
        "",
        '__all__ = ["GROUPS", "ROOT", "SOURCES", "all_commands", "command"]',
        "",
        f"SOURCES = {current_sources()!r}",
        "",
        f"_HEAD: dict[str, Any] = json.loads({head!r})",
        'ROOT: list[dict[str, Any]] = _HEAD["ROOT"]',
        'GROUPS: set[str] = set(_HEAD["GROUPS"])',
        f"_COMMANDS: dict[str, str] = {per_command!r}",
        "",
        "",
        "def command(path: str) -> dict[str, Any] | None:",
        '    """The spec of one command (``"context check"``), parsed now; None for no such command."""',
        "    text = _COMMANDS.get(path)",
        "    return None if text is None else json.loads(text)",
        "",
        "",
        "def all_commands() -> dict[str, dict[str, Any]]:",
        '    """Every command spec (tests compare them with what typer defines)."""',
        "    return {k: json.loads(v) for k, v in _COMMANDS.items()}",
        "",
    ]
    Path(__file__).with_name("_fastspec.py").write_text("\n".join(body))
    return sum(1 for c in spec["COMMANDS"].values() if c["fast"])


def main() -> None:
    from cacheinspect.cli._helpcheck import current_sources

    texts = render_all()
    body = [
        '"""Pre-rendered ``--help`` texts (generated by ``python -m cacheinspect.cli._gen_help``; do not edit)."""',
        "",
        "from __future__ import annotations",
        "",
        '__all__ = ["HELP", "SOURCES"]',
        "",
        f"SOURCES = {current_sources()!r}",
        "",
        "HELP: dict[str, str] = {",
    ]
    # json.dumps: a valid Python literal in the double quotes ruff format wants
    body += [f"    {json.dumps(k)}: {json.dumps(v)}," for k, v in sorted(texts.items())]
    body += ["}", ""]
    target = Path(__file__).with_name("_help.py")
    target.write_text("\n".join(body))
    sys.stdout.write(f"wrote {target} ({len(texts)} help texts)\n")
    fast = write_spec()
    sys.stdout.write(f"wrote {target.with_name('_fastspec.py')} ({fast} commands on the fast path)\n")
    import subprocess

    ruff = Path(sys.executable).with_name("ruff")  # the generated literals in the format ruff wants
    if ruff.exists():
        subprocess.run(
            [str(ruff), "format", "-q", str(target), str(target.with_name("_fastspec.py"))], check=False
        )


if __name__ == "__main__":
    main()
