"""Per-instruction checks of BuildKit's ``frontend/dockerfile/instructions/parse.go`` and ``bflag.go``.

The line parser accepts anything; this layer rejects what ``instructions.Parse`` rejects — unknown
instructions, unknown or duplicate flags, flags without a value, wrong argument counts, bad stage
names, a heredoc as COPY destination, an instruction before the first FROM — with BuildKit's message
text, and returns the typed flag values for :mod:`cacheinspect.dockerfile.resolve`.
"""

from __future__ import annotations

import re

import msgspec

from cacheinspect._lazyre import lazy
from cacheinspect.dockerfile.model import DockerfileError, Node
from cacheinspect.dockerfile.parser import KNOWN_INSTRUCTIONS, parse_heredoc_word
from cacheinspect.dockerfile.suggest import suggest

__all__ = ["FLAG_SPECS", "Parsed", "check_nodes", "parse_instruction"]

_BOOL, _STRING, _STRINGS = "bool", "string", "strings"

#: Flags each instruction accepts (``req.flags.AddXXX`` calls in ``instructions/parse.go`` and the RUN
#: pre-hooks in ``commands_runmount.go``, ``commands_runnetwork.go``, ``commands_runsecurity.go``,
#: ``commands_rundevice.go``). Instructions not listed accept none, except ARG and STOPSIGNAL (and
#: ``HEALTHCHECK NONE``) whose parsers never call ``flags.Parse()``, so BuildKit ignores their flags.
FLAG_SPECS: dict[str, dict[str, str]] = {
    "ADD": {
        "chown": _STRING,
        "chmod": _STRING,
        "link": _BOOL,
        "keep-git-dir": _BOOL,
        "checksum": _STRING,
        "unpack": _BOOL,
        "exclude": _STRINGS,
    },
    "COPY": {
        "chown": _STRING,
        "from": _STRING,
        "chmod": _STRING,
        "link": _BOOL,
        "exclude": _STRINGS,
        "parents": _BOOL,
    },
    "FROM": {"platform": _STRING},
    "RUN": {"mount": _STRINGS, "network": _STRING, "security": _STRING, "device": _STRINGS},
    "HEALTHCHECK": {
        "interval": _STRING,
        "timeout": _STRING,
        "start-period": _STRING,
        "start-interval": _STRING,
        "retries": _STRING,
    },
}
#: Flags the v0.13 line (Docker 26's embedded frontend) does not know: ``--parents``/``--exclude``
#: and ``RUN --security`` were behind the ``labs`` build tags, ``--unpack``/``--device`` came later.
_NOT_IN_V013 = {"ADD": ("unpack", "exclude"), "COPY": ("parents", "exclude"), "RUN": ("security", "device")}


def flag_spec(keyword: str, dialect: str = "latest") -> dict[str, str]:
    """The flags ``keyword`` accepts in ``dialect`` (empty: none)."""
    spec = dict(FLAG_SPECS.get(keyword, {}))
    if dialect == "v0.13":
        for name in _NOT_IN_V013.get(keyword, ()):
            spec.pop(name, None)
    return spec


_VALID_STAGE_NAME = lazy(r"[a-z][a-z0-9\-_.]*\Z")
_NETWORKS = ("default", "none", "host")
_SECURITY = ("sandbox", "insecure")


class Parsed(msgspec.Struct):
    """The typed view of one node: flag values (defaults applied) and the keyword's own fields."""

    node: Node
    strings: dict[str, str] = msgspec.field(default_factory=dict)
    bools: dict[str, bool] = msgspec.field(default_factory=dict)
    lists: dict[str, list[str]] = msgspec.field(default_factory=dict)
    used: set[str] = msgspec.field(default_factory=set)
    stage_name: str = ""


def _parse_flags(filename: str, p: Parsed, spec: dict[str, str], dialect: str = "latest") -> None:
    """``BFlags.Parse``: validate the node's flags against ``spec`` and fill ``p``."""
    for name, kind in spec.items():
        if kind == _BOOL:
            p.bools[name] = False
        elif kind == _STRING:
            p.strings[name] = ""
        else:
            p.lists[name] = []
    for fl in p.node.flags:
        raw = fl.raw
        if raw == "--":
            return
        name = fl.name
        # master names the flag "--name" in its messages, v0.13 said just "name"
        flag_name = name if dialect == "v0.13" else "--" + name
        if name not in spec:
            raise _err(
                filename,
                p.node,
                f"unknown flag: {flag_name}{suggest(name, sorted(spec))}",
                fl.line,
                fl.column,
            )
        kind = spec[name]
        if name in p.used and kind != _STRINGS:
            raise _err(filename, p.node, f"duplicate flag specified: {flag_name}", fl.line, fl.column)
        p.used.add(name)
        if kind == _BOOL:
            if fl.value is not None and fl.value == "":
                raise _err(filename, p.node, f"missing a value on flag: {flag_name}", fl.line, fl.column)
            v = (fl.value or "").lower()
            if v in ("true", ""):
                p.bools[name] = True
            elif v == "false":
                p.bools[name] = False
            else:
                raise _err(
                    filename,
                    p.node,
                    f"expecting boolean value for flag {flag_name}, not: {fl.value}",
                    fl.line,
                    fl.column,
                )
        elif kind == _STRING:
            if fl.value is None:
                raise _err(filename, p.node, f"missing a value on flag: {flag_name}", fl.line, fl.column)
            p.strings[name] = fl.value
        else:
            if fl.value is None:
                raise _err(filename, p.node, f"missing a value on flag: {flag_name}", fl.line, fl.column)
            p.lists[name].append(fl.value)


def _err(filename: str, node: Node, message: str, line: int = 0, column: int = 0) -> DockerfileError:
    return DockerfileError(message, file=filename, line=line or node.line, column=column or node.column)


def _kvps(filename: str, node: Node, name: str) -> None:
    if not node.args:
        raise _err(filename, node, f"{name} requires at least one argument")
    for j in range(0, len(node.args), 3):
        if node.args[j] == "":
            raise _err(filename, node, f"{name} names can not be blank")


def parse_instruction(node: Node, filename: str = "Dockerfile", dialect: str = "latest") -> Parsed:
    """``instructions.ParseInstruction`` for one node: raise what BuildKit raises, else the flags."""
    kw = node.keyword
    p = Parsed(node)
    args = node.args
    if kw.lower() not in KNOWN_INSTRUCTIONS:
        raise _err(
            filename,
            node,
            f"unknown instruction: {node.raw_keyword}{suggest(node.raw_keyword, [k.upper() for k in KNOWN_INSTRUCTIONS], False)}",
        )
    if kw == "ENV":
        _parse_flags(filename, p, {}, dialect)
        _kvps(filename, node, "ENV")
    elif kw == "MAINTAINER":
        if len(args) != 1:
            raise _err(filename, node, "MAINTAINER requires exactly one argument")
        _parse_flags(filename, p, {}, dialect)
    elif kw == "LABEL":
        _parse_flags(filename, p, {}, dialect)
        _kvps(filename, node, "LABEL")
    elif kw in ("ADD", "COPY"):
        if len(args) < 2:
            raise _err(
                filename,
                node,
                f"{kw} requires at least two arguments, but only one was provided. Destination could not be determined",
            )
        _parse_flags(filename, p, flag_spec(kw, dialect), dialect)
        if parse_heredoc_word(args[-1], dialect) is not None:
            raise _err(filename, node, f"{kw} cannot accept a heredoc as a destination")
    elif kw == "FROM":
        if len(args) == 3 and args[1].lower() == "as":
            name = args[2].lower()
            if not _VALID_STAGE_NAME.match(name):
                raise _err(
                    filename,
                    node,
                    f'invalid name for build stage: "{args[2]}", name can\'t start with a number or contain symbols',
                )
            p.stage_name = name
        elif len(args) != 1:
            raise _err(filename, node, "FROM requires either one or three arguments")
        _parse_flags(filename, p, flag_spec("FROM", dialect), dialect)
    elif kw == "ONBUILD":
        if not args:
            raise _err(filename, node, "ONBUILD requires at least one argument")
        _parse_flags(filename, p, {}, dialect)
        trigger = args[0].strip().upper()
        if trigger == "ONBUILD":
            raise _err(filename, node, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("MAINTAINER", "FROM"):
            raise _err(filename, node, f"{trigger} isn't allowed as an ONBUILD trigger")
    elif kw == "WORKDIR":
        if len(args) != 1:
            raise _err(filename, node, "WORKDIR requires exactly one argument")
        _parse_flags(filename, p, {}, dialect)
    elif kw == "RUN":
        _parse_flags(filename, p, flag_spec("RUN", dialect), dialect)
        if "network" not in p.used:
            p.strings["network"] = "default"
        if not p.strings.get("security"):
            p.strings["security"] = "sandbox"
        # mounts are parsed without an expander at this stage (runMountPostHook)
        from cacheinspect.dockerfile.mount import precheck_mount

        for fl in node.flags:
            if fl.name == "mount" and fl.value is not None:
                precheck_mount(fl.value, filename=filename, line=fl.line, column=fl.column)
        if p.strings["network"] not in _NETWORKS:
            raise _err(filename, node, f'invalid network mode "{p.strings["network"]}"')
        if p.strings["security"] not in _SECURITY:
            raise _err(filename, node, f'security "{p.strings["security"]}" is not valid')
    elif kw in ("CMD", "ENTRYPOINT"):
        _parse_flags(filename, p, {}, dialect)
    elif kw == "HEALTHCHECK":
        if not args:
            raise _err(filename, node, "HEALTHCHECK requires at least one argument")
        typ = args[0].upper()
        rest = args[1:]
        if typ == "NONE":
            if rest:
                raise _err(filename, node, "HEALTHCHECK NONE takes no arguments")
        else:
            _parse_flags(filename, p, flag_spec("HEALTHCHECK", dialect), dialect)
            if typ != "CMD":
                raise _err(filename, node, f'Unknown type "{typ}" in HEALTHCHECK (try CMD)')
            if not rest:
                raise _err(filename, node, "Missing command after HEALTHCHECK CMD")
            for name in ("interval", "timeout", "start-period", "start-interval"):
                _check_duration(filename, node, name, p.strings[name])
            r = p.strings["retries"]
            if r:
                if not re.fullmatch(r"[+-]?[0-9]+", r) or not -(2**31) <= int(r) < 2**31:
                    raise _err(filename, node, f'strconv.ParseInt: parsing "{r}": invalid syntax')
                if int(r) < 0:
                    raise _err(filename, node, f"--retries cannot be negative ({int(r)})")
    elif kw == "EXPOSE":
        if not args:
            raise _err(filename, node, "EXPOSE requires at least one argument")
        _parse_flags(filename, p, {}, dialect)
    elif kw == "USER":
        if len(args) != 1:
            raise _err(filename, node, "USER requires exactly one argument")
        _parse_flags(filename, p, {}, dialect)
    elif kw == "VOLUME":
        if not args:
            raise _err(filename, node, "VOLUME requires at least one argument")
        _parse_flags(filename, p, {}, dialect)
        for v in args:
            if v.strip() == "":
                raise _err(filename, node, "VOLUME specified can not be an empty string")
    elif kw == "STOPSIGNAL":
        if len(args) != 1:
            raise _err(filename, node, "STOPSIGNAL requires exactly one argument")
    elif kw == "ARG":
        if not args:
            raise _err(filename, node, "ARG requires at least one argument")
        for a in args:
            if "=" in a and a.split("=", 1)[0] == "":
                raise _err(filename, node, "ARG names can not be blank")
    elif kw == "SHELL":
        _parse_flags(filename, p, {}, dialect)
        if not args:
            raise _err(filename, node, "SHELL requires at least one argument")
        if not node.json_form:
            raise _err(filename, node, "SHELL requires the arguments to be in JSON form")
    return p


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration_seconds(value: str) -> float:
    """Go's ``time.ParseDuration`` (same error texts), in seconds."""
    from cacheinspect.dockerfile._lex import go_quote

    q = go_quote(value)
    s = value
    neg = False
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0.0
    if s == "":
        raise ValueError(f"time: invalid duration {q}")
    total = 0.0
    while s:
        if not (s[0] == "." or s[0].isdigit()):
            raise ValueError(f"time: invalid duration {q}")
        i = 0
        while i < len(s) and s[i].isdigit():
            i += 1
        pre = i > 0
        whole = s[:i]
        s = s[i:]
        frac = ""
        post = False
        if s[:1] == ".":
            s = s[1:]
            j = 0
            while j < len(s) and s[j].isdigit():
                j += 1
            post = j > 0
            frac = s[:j]
            s = s[j:]
        if not pre and not post:
            raise ValueError(f"time: invalid duration {q}")
        k = 0
        while k < len(s) and s[k] != "." and not s[k].isdigit():
            k += 1
        unit = s[:k]
        s = s[k:]
        if unit == "":
            raise ValueError(f"time: missing unit in duration {q}")
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {q}")
        total += float(f"{whole or '0'}.{frac or '0'}") * _UNITS[unit]
    return -total if neg else total


def _check_duration(filename: str, node: Node, name: str, value: str) -> None:
    """``parseOptInterval``: a non-zero duration must be at least 1ms."""
    if value == "":
        return
    try:
        total = _duration_seconds(value)
    except ValueError as e:
        raise _err(filename, node, str(e)) from None
    if total != 0 and total < 1e-3:
        raise _err(filename, node, f'Interval "{name}" cannot be less than 1ms')


def check_nodes(nodes: list[Node], filename: str, dialect: str = "latest") -> list[Parsed]:
    """``instructions.Parse``: every node checked; nothing but ARG before the first FROM."""
    out: list[Parsed] = []
    seen_from = False
    for node in nodes:
        p = parse_instruction(node, filename, dialect)
        if node.keyword == "FROM":
            seen_from = True
        elif not seen_from and node.keyword != "ARG":
            raise DockerfileError("no build stage in current context", file=filename, line=node.line)
        out.append(p)
    return out
