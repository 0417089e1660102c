"""Real runs without typer: parse argv from tables generated from the typer app, call the command.

``import typer`` and building the app cost ~4x a bare interpreter start; a small run (``lint`` of one
Dockerfile, ``inspect`` of a local layout) does less than that in all. So :func:`plan` parses argv with
the tables in ``cli/_fastspec.py`` (generated from typer's own parameters by ``python -m
cacheinspect.cli._gen_help``: opts, flags, types, choices, ranges, defaults) and calls the command's
function, found through the declarations recorded by ``cli/_fastdecl.py``, with the values typer would
pass, inside the same :func:`~cacheinspect.cli._grammar.run_grammar`.

It takes only what it parses with certainty: anything else is None, and typer parses it, so every usage
error, ``--help`` and completion is typer's own. Taken: long options (``--x V``, ``--x=V``), two-letter
short options (``-o V``, ``-q``), ``--``, options between arguments, repeated options (the last wins,
or all for a repeatable one), exact choices, decimal integers and floats within their range, paths that
pass click's checks. Not taken: clustered or attached short options (``-qv``, ``-fjson``), an unknown
or incomplete option, a bad value, a missing or extra argument, ``-h``/``--help``/``--version`` among
the arguments, a flag given with both polarities, tables older than the sources (their CRC differs).
``CACHEINSPECT_FASTPATH=0`` turns it off (tests compare both paths).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["plan"]

_INT = frozenset("0123456789")


class _NotCertain(Exception):
    """This argv is typer's to parse."""


def _int(text: str) -> int:
    if not text or not set(text) <= _INT:
        raise _NotCertain
    return int(text)


def _float(text: str) -> float:
    whole, _, frac = text.partition(".")
    if not whole or not set(whole) <= _INT or (frac and not set(frac) <= _INT) or text.endswith("."):
        raise _NotCertain
    return float(text)


def _in_range(v: float, t: dict[str, Any]) -> None:
    lo, hi = t.get("min"), t.get("max")
    if lo is not None and (v < lo or (t.get("min_open") and v == lo)):
        raise _NotCertain
    if hi is not None and (v > hi or (t.get("max_open") and v == hi)):
        raise _NotCertain


def _path(text: str, t: dict[str, Any]) -> None:
    """click.Path's checks (core of ``types.Path.convert``); any failure is typer's to word."""
    import stat

    if t.get("allow_dash") and t.get("file_okay") and text == "-":
        return
    try:
        st = os.stat(text)
    except OSError:
        if t.get("exists"):
            raise _NotCertain from None
        return
    if (not t.get("file_okay") and stat.S_ISREG(st.st_mode)) or (
        not t.get("dir_okay") and stat.S_ISDIR(st.st_mode)
    ):
        raise _NotCertain
    for key, mode in (("readable", os.R_OK), ("writable", os.W_OK), ("executable", os.X_OK)):
        if t.get(key) and not os.access(text, mode):
            raise _NotCertain


def _convert(p: dict[str, Any], text: str) -> Any:
    """One command-line word as click's type checks and converts it (``ctx.params``' value)."""
    t = p["type"]
    kind = t["kind"]
    if kind == "choice":
        if text not in t["choices"]:
            raise _NotCertain
        return text
    if kind == "int":
        n = _int(text)
        _in_range(n, t)
        return n
    if kind == "float":
        x = _float(text)
        _in_range(x, t)
        return x
    if kind == "path":
        _path(text, t)
        return text
    if kind == "str":
        return text
    raise _NotCertain


def _default(p: dict[str, Any]) -> Any:
    """A parameter not given: its default as click passes it on (``type_cast_value``)."""
    d = p["default"]
    if p["multiple"] or p["nargs"] == -1:
        return ()
    if d is not None and p["py"] == "path":
        from pathlib import Path

        return Path(d)  # a Path default stays one (TyperPath.coerce_path_result)
    return d


def _typed(p: dict[str, Any], value: Any) -> Any:
    """What typer's callback wrapper makes of a click value (``typer.main``'s convertors): enums and
    Paths built, a repeatable parameter a list (None when empty and its default is None)."""
    py = p["py"]
    if p["multiple"] or p["nargs"] == -1:
        if not value and p["default"] is None:
            return None
        return [_one(py, v) for v in value]
    return _one(py, value)


def _one(py: str, value: Any) -> Any:
    if value is None:
        return None
    if py == "path":
        from pathlib import Path

        return Path(value)
    if py.startswith("enum:"):
        import importlib

        module, _, name = py[5:].partition(":")
        return getattr(importlib.import_module(module), name)(value)
    return value


def _tables(params: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Long and short option spellings -> (parameter, primary?): click's parser files ``-x`` (one
    prefix character, one letter) as short, everything else as long."""
    long: dict[str, tuple[dict[str, Any], bool]] = {}
    short: dict[str, tuple[dict[str, Any], bool]] = {}
    for p in params:
        if p["kind"] != "option":
            continue
        for opt, primary in [(o, True) for o in p["opts"]] + [(o, False) for o in p["secondary"]]:
            (short if len(opt) == 2 and opt[1] != "-" else long)[opt] = (p, primary)
    return long, short


def _option(
    tables: tuple[dict[str, Any], dict[str, Any]], args: list[str], raw: dict[str, Any], seen: set[str]
) -> None:
    """Consume the option at ``args[0]`` (and its value) into *raw*, as click's ``_process_opts``."""
    long, short = tables
    arg = args.pop(0)
    name, eq, attached = arg.partition("=")
    if name in long:
        p, primary = long[name]
    elif not eq and arg in short:
        p, primary = short[arg]
    else:
        raise _NotCertain  # unknown, clustered or attached short options
    if p["flag"]:
        if eq:
            raise _NotCertain  # "option does not take a value"
        seen.add(f"{p['name']}:{primary}")
        if f"{p['name']}:{not primary}" in seen:
            raise _NotCertain  # --x --no-x: the grammar's error, from typer's path
        raw[p["name"]] = p["flag_value"] if primary else not p["flag_value"]
        return
    if eq:
        value = attached
    elif args:
        value = args.pop(0)  # click takes the next word whatever it looks like (--now -2h)
    else:
        raise _NotCertain  # "requires an argument"
    if p["multiple"]:
        raw.setdefault(p["name"], []).append(value)
    else:
        raw[p["name"]] = value


def _values(params: list[dict[str, Any]], raw: dict[str, Any]) -> dict[str, Any]:
    """Every parameter's value as click hands it on: the converted word(s), or the default."""
    values: dict[str, Any] = {}
    for p in params:
        name = p["name"]
        if name in raw:
            got = raw[name]
            if p["flag"]:
                values[name] = got
            elif p["multiple"] or p["nargs"] == -1:
                values[name] = tuple(_convert(p, v) for v in got)
            else:
                values[name] = _convert(p, got)
        elif p["required"]:
            raise _NotCertain  # "missing argument/option"
        else:
            values[name] = _default(p)
    return values


def _parse(params: list[dict[str, Any]], args: list[str]) -> tuple[dict[str, Any], set[str]]:
    """A command's argv, as click's parser reads it (``_process_args_for_options``, then
    ``_unpack_args`` for the arguments), for the subset taken with certainty: the values typer passes,
    and the names given on the command line."""
    tables = _tables(params)
    raw: dict[str, Any] = {}
    seen: set[str] = set()
    positional: list[str] = []
    rest = list(args)
    while rest:
        if rest[0] == "--":
            positional += rest[1:]
            break
        if rest[0][:1] == "-" and len(rest[0]) > 1:
            _option(tables, rest, raw, seen)
        else:
            positional.append(rest.pop(0))
    # arguments: each takes one word, a repeatable one (nargs -1) what the others leave
    argspecs = [p for p in params if p["kind"] == "argument"]
    star = [i for i, p in enumerate(argspecs) if p["nargs"] == -1]
    if len(star) > 1 or any(p["nargs"] not in (1, -1) for p in argspecs):
        raise _NotCertain
    if star:
        before, after = argspecs[: star[0]], argspecs[star[0] + 1 :]
        if len(positional) < len(before) + len(after):
            raise _NotCertain
        cut = len(positional) - len(after)
        raw.update({p["name"]: w for p, w in zip(before, positional, strict=False)})
        raw.update({p["name"]: w for p, w in zip(after, positional[cut:], strict=True)})
        if positional[len(before) : cut]:
            raw[argspecs[star[0]]["name"]] = positional[len(before) : cut]
    else:
        if len(positional) > len(argspecs):
            raise _NotCertain  # "unexpected extra argument"
        raw.update({p["name"]: w for p, w in zip(argspecs, positional, strict=False)})
    return _values(params, raw), set(raw)


def _spec() -> Any:
    """The generated tables when they are as fresh as the sources, else None."""
    from cacheinspect.cli import _helpcheck

    try:
        from cacheinspect.cli import _fastspec
    except ImportError:  # not generated (yet): typer parses
        return None
    return _fastspec if _helpcheck.current_sources() == _fastspec.SOURCES else None


def plan(args: list[str]) -> Callable[[], int] | None:
    """The run of *args* without typer, or None when typer must parse them (see the module docstring)."""
    if os.environ.get("CACHEINSPECT_FASTPATH") == "0" or os.environ.get("_CACHEINSPECT_COMPLETE"):
        return None
    spec = _spec()
    if spec is None:
        return None
    try:
        return _plan(spec, args)
    except _NotCertain:
        return None


def _plan(spec: Any, args: list[str]) -> Callable[[], int]:
    if any(a in ("-h", "--help", "--version") for a in args[: args.index("--") if "--" in args else None]):
        raise _NotCertain
    # the root's options, before the command (a group's parsing stops at its first argument)
    rest = list(args)
    raw: dict[str, Any] = {}
    tables = _tables(spec.ROOT)
    while rest and rest[0][:1] == "-" and len(rest[0]) > 1:
        if rest[0] == "--":
            raise _NotCertain
        _option(tables, rest, raw, set())
    root = _values(spec.ROOT, raw)
    i = len(args) - len(rest)
    path: list[str] = []
    while i < len(args) and " ".join([*path, args[i]]) in spec.GROUPS:
        path.append(args[i])
        i += 1
    if i >= len(args) or args[i][:1] == "-":
        raise _NotCertain  # a group alone (its help), or an option where a command name goes
    key = " ".join([*path, args[i]])
    cmd = spec.command(key)
    if cmd is None or not cmd["fast"]:
        raise _NotCertain
    values, given = _parse(cmd["params"], args[i + 1 :])
    import importlib

    from cacheinspect.cli import _fastdecl

    rec = _fastdecl.Typer()
    importlib.import_module(cmd["module"]).register(rec)
    func = rec.functions().get((tuple(cmd["group"]), cmd["function"]))
    if func is None:  # declared on a real typer app (a module importing typer itself): typer's
        raise _NotCertain
    return lambda: _run(cmd, root, values, given, func)


def _run(
    cmd: dict[str, Any],
    root: dict[str, Any],
    values: dict[str, Any],
    given: set[str],
    func: Callable[..., Any],
) -> int:
    from cacheinspect.cli import _fastdecl
    from cacheinspect.cli._grammar import STATE, run_grammar

    # the root callback (cli.build_app's _root)
    STATE.quiet = STATE.quiet or bool(root.get("quiet"))
    STATE.verbose = STATE.verbose or bool(root.get("verbose"))
    STATE.color = root.get("color") or "auto"
    injected_names = {p["name"] for p in cmd["params"] if p["injected"]}
    injected = {k: values.pop(k) for k in list(values) if k in injected_names}
    flags = {p["name"]: p["flag_text"] for p in cmd["params"]}

    def given_fn(name: str) -> bool:  # click: in ctx.params and from the command line
        return name in given and name in values

    def flag_fn(name: str) -> str:
        return flags.get(name) or "--" + name.replace("_", "-")

    specs = {p["name"]: p for p in cmd["params"]}

    def body() -> Any:
        return func(**{k: _typed(specs[k], v) for k, v in values.items()})

    try:
        rv = run_grammar(cmd["name"], cmd["path"], values, injected, given_fn, flag_fn, body)
    except _fastdecl.Exit as e:
        return e.exit_code
    except Exception as e:  # typer's own Exit, from a module that imports typer itself: its code
        if type(e).__name__ == "Exit" and type(e).__module__.startswith("typer"):
            return int(getattr(e, "exit_code", 0) or 0)
        raise
    except EOFError:  # as typer's main: a blank line, then "interrupted" (cli.main's Abort)
        sys.stderr.write("\n")
        sys.stderr.write("interrupted\n")
        return 130
    except KeyboardInterrupt:  # typer's main turns it into Exit(130), silently
        return 130
    except OSError as e:
        import errno

        if e.errno != errno.EPIPE:
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)  # typer's main on EPIPE inside a command: exit 1,
        os.dup2(devnull, sys.stdout.fileno())  # and no second error when stdout is flushed at exit
        raise SystemExit(1) from e
    return rv if isinstance(rv, int) else 0
