"""``RUN --mount=…`` parsed exactly as BuildKit's ``frontend/dockerfile/instructions/commands_runmount.go``,
with the defaults of ``dockerfile2llb/convert_runmount.go``, ``convert_secrets.go`` and ``convert_ssh.go``.

The value is one CSV record (``tonistiigi/go-csvvalue``: fields split on ``,``, a field may be wholly
double-quoted with ``""`` for a quote, a quote inside an unquoted field is an error). Keys are
case-insensitive; ``target|dst|destination``, ``source|src``, ``ro|readonly``, ``rw|readwrite`` are
synonyms; ``ro``/``rw``/``required`` may stand alone. Every value is expanded with the stage's ARG/ENV
(``RunCommand.Expand`` → ``setMountState``), except ``from``, which may not contain a variable at all.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping

from cacheinspect._lazyre import lazy
from cacheinspect.dockerfile._lex import Lexer, LexError
from cacheinspect.dockerfile.model import DockerfileError, Mount
from cacheinspect.dockerfile.suggest import suggest

__all__ = ["csv_fields", "go_path_clean", "parse_mount", "precheck_mount", "ram_in_bytes"]

_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_SHARING = ("shared", "private", "locked")
_ALL_KEYS = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
]


class _MountError(ValueError):
    pass


def go_path_clean(p: str) -> str:
    """Go's ``path.Clean`` (``posixpath.normpath`` keeps a leading ``//``, Go does not)."""
    if p == "":
        return "."
    out = posixpath.normpath(p)
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def csv_fields(line: str) -> list[str]:
    """``csvvalue.Fields`` with the default parser (comma, no lazy quotes, no trimming); raises
    ``ValueError`` with BuildKit's "failed to parse csv mounts: …" text."""
    if line.endswith("\r\n"):
        line = line[:-2]
    elif line.endswith("\n"):
        line = line[:-1]
    if line == "":
        raise _MountError("failed to parse csv mounts: EOF")
    data = line.encode("utf-8", "surrogateescape")
    fields: list[bytes] = []
    pos = 0
    rest = data

    def perr(at: int, what: str) -> _MountError:
        return _MountError(f"failed to parse csv mounts: parse error on line 1, column {at + 1}: {what}")

    while True:
        if not rest or rest[:1] != b'"':
            i = rest.find(b",")
            field = rest if i < 0 else rest[:i]
            j = field.find(b'"')
            if j >= 0:
                raise perr(pos + j, 'bare " in non-quoted-field')
            fields.append(field)
            if i >= 0:
                rest = rest[i + 1 :]
                pos += i + 1
                continue
            break
        rest = rest[1:]
        pos += 1
        half_open = False
        while True:
            i = rest.find(b'"')
            if i < 0:
                raise perr(pos, 'extraneous or missing " in quoted-field')
            if not half_open:
                fields.append(rest[:i])
            else:
                fields[-1] += rest[:i]
            half_open = False
            rest = rest[i + 1 :]
            pos += i + 1
            if rest[:1] == b'"':
                fields[-1] += b'"'
                rest = rest[1:]
                pos += 1
                half_open = True
                continue
            if rest[:1] == b",":
                rest = rest[1:]
                pos += 1
                break
            if not rest:
                return [f.decode("utf-8", "surrogateescape") for f in fields]
            raise perr(pos - 1, 'extraneous or missing " in quoted-field')
        continue
    return [f.decode("utf-8", "surrogateescape") for f in fields]


def _parse_bool(v: str) -> bool | None:
    """``strconv.ParseBool``."""
    if v in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if v in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _parse_uint(v: str, base: int) -> int | None:
    """``strconv.ParseUint(v, base, 32)``: digits only, no sign, no prefix, < 2**32."""
    digits = "01234567" if base == 8 else "0123456789"
    if v == "" or any(c not in digits for c in v):
        return None
    n = int(v, base)
    return n if n < 2**32 else None


_RAM = lazy(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?\Z")


def ram_in_bytes(v: str) -> int | None:
    """``docker/go-units.RAMInBytes``: binary (1024) multipliers, optional ``i``/``b`` suffix."""
    m = _RAM.match(v)
    if m is None:
        return None
    num = m.group(1)
    if num.count(".") > 1:
        return None
    size = float(num)
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}[
        (m.group(2) or "").lower()
    ]
    return int(size * mult)


def _suggest(value: str, options: list[str]) -> str:
    return suggest(value, options)


def _parse(value: str, expander: Callable[[str], str] | None) -> Mount:
    """``parseMount``; with ``expander=None`` only the checks BuildKit runs at parse time."""
    fields = csv_fields(value)
    m = Mount(type="bind", sharing="", readonly=True, raw=value)
    ro_auto = True
    for fld in fields:
        key, eq, val = fld.partition("=")
        key = key.lower()
        if not eq:
            if expander is None:
                continue
            if key in ("readonly", "ro"):
                m.readonly = True
                ro_auto = False
                continue
            if key in ("readwrite", "rw"):
                m.readonly = False
                ro_auto = False
                continue
            if key == "required":
                if m.type in ("secret", "ssh"):
                    m.required = True
                    continue
                raise _MountError(f"unexpected key '{key}' for mount type '{m.type}'")
            raise _MountError(f"invalid field '{fld}' must be a key=value pair")
        if expander is not None:
            val = expander(val)
        elif key == "from":
            idx = val.find("$")
            if idx != -1 and idx != len(val) - 1:
                raise _MountError(f"'{key}' doesn't support variable expansion, define alias stage instead")
        else:
            continue
        if key == "type":
            t = val.lower()
            if t not in _TYPES:
                raise _MountError(f'unsupported mount type "{val}"{_suggest(val, list(_TYPES))}')
            m.type = t
        elif key == "from":
            m.from_ = val
        elif key in ("source", "src"):
            m.source = val
        elif key in ("target", "dst", "destination"):
            m.target = val
        elif key in ("readonly", "ro"):
            b = _parse_bool(val)
            if b is None:
                raise _MountError(f"invalid value for {key}: {val}")
            m.readonly = b
            ro_auto = False
        elif key in ("readwrite", "rw"):
            b = _parse_bool(val)
            if b is None:
                raise _MountError(f"invalid value for {key}: {val}")
            m.readonly = not b
            ro_auto = False
        elif key == "required":
            if m.type not in ("secret", "ssh"):
                raise _MountError(f"unexpected key '{key}' for mount type '{m.type}'")
            b = _parse_bool(val)
            if b is None:
                raise _MountError(f"invalid value for {key}: {val}")
            m.required = b
        elif key == "size":
            if m.type != "tmpfs":
                raise _MountError(f"unexpected key '{key}' for mount type '{m.type}'")
            size = ram_in_bytes(val)
            if size is None:
                raise _MountError(f"invalid value for {key}: {val}")
            m.size = size
        elif key == "id":
            m.id = val
        elif key == "sharing":
            s = val.lower()
            if s not in _SHARING:
                raise _MountError(f'unsupported sharing value "{val}"{_suggest(val, list(_SHARING))}')
            m.sharing = s
        elif key in ("mode", "uid", "gid"):
            n = _parse_uint(val, 8 if key == "mode" else 10)
            if n is None:
                raise _MountError(f"invalid value {val} for {key}")
            setattr(m, key, n)
        elif key == "env":
            m.env = val
        else:
            raise _MountError(f"unexpected key '{key}' in '{fld}'{_suggest(key, _ALL_KEYS)}")
    if m.type not in ("secret", "ssh", "cache"):
        for attr in ("mode", "uid", "gid"):
            if getattr(m, attr) is not None:
                raise _MountError(f'{attr} not allowed for "{m.type}" type mounts')
    if ro_auto:
        m.readonly = m.type not in ("cache", "tmpfs")
    if m.type == "secret":
        if m.from_:
            raise _MountError("secret mount should not have a from")
        if m.sharing:
            raise _MountError("secret mount should not define sharing")
        if not m.source and not m.target and not m.id:
            raise _MountError("invalid secret mount. one of source, target required")
        if m.source and m.id:
            raise _MountError("both source and id can't be set")
    if m.sharing and m.type != "cache":
        raise _MountError(f"invalid cache sharing set for {m.type} mount")
    return m


def precheck_mount(value: str, *, filename: str = "Dockerfile", line: int = 0, column: int = 0) -> None:
    """The parse-time pass (``runMountPostHook`` with no expander): CSV syntax and ``from=$X``."""
    try:
        _parse(value, None)
    except _MountError as e:
        raise DockerfileError(str(e), file=filename, line=line, column=column) from None


def parse_mount(
    value: str,
    *,
    workdir: str = "/",
    line: int = 0,
    column: int = 0,
    filename: str = "Dockerfile",
    env: Mapping[str, str] | None = None,
    escape: str = "\\",
    ssh_index: int = 0,
    dialect: str = "latest",
    workdir_known: bool = True,
) -> Mount:
    """Parse one ``--mount`` value as BuildKit does when it dispatches the RUN.

    ``env`` is the stage's ARG/ENV in effect (values are expanded with it; ``None`` = no variables);
    ``workdir`` resolves a relative target; with ``workdir_known=False`` (the WORKDIR comes from a
    base image this front end cannot see) a relative target that lands on ``/`` is not an error,
    since BuildKit would join it to the image's WORKDIR. The defaults applied afterwards are BuildKit's: cache
    ``id`` = ``path.Clean(target)`` (the target as written, before WORKDIR is joined), ``sharing``
    ``shared``; secret id = source, else id, else ``basename(target)``, target
    ``/run/secrets/<id>`` unless ``env=`` is given; ssh id ``default``.
    """
    lex = Lexer(escape, dialect=dialect)
    variables: Mapping[str, str] = env if env is not None else {}

    def expander(word: str) -> str:
        return lex.process_word(word, variables).result

    try:
        m = _parse(value, expander)
        m.line, m.column = line, column
        if m.type == "secret":
            sid = m.source or m.id
            if not sid:
                sid = posixpath.basename(m.target)
            m.id = sid
            if m.env is None and not m.target:
                m.target = "/run/secrets/" + posixpath.basename(sid)
            return m
        if m.type == "ssh":
            if m.source:
                raise _MountError("ssh does not support source")
            m.id = m.id or "default"
            m.target = m.target or f"/run/buildkit/ssh_agent.{ssh_index}"
            return m
        if m.type == "cache":
            m.sharing = m.sharing or "shared"
            if not m.id:
                m.id = go_path_clean(m.target)
        target = m.target
        if not go_path_clean(target).startswith("/"):
            target = go_path_clean(posixpath.join("/", workdir, target))
        else:
            target = go_path_clean(target)
        if target == "/" and (workdir_known or go_path_clean(m.target).startswith("/")):
            raise _MountError(f'invalid mount target "{target}"')
        m.target = target
        if not m.sharing:
            m.sharing = "shared"
        return m
    except (_MountError, LexError) as e:
        raise DockerfileError(str(e), file=filename, line=line, column=column) from None
