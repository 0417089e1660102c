"""Go ``encoding/json`` semantics for the structs BuildKit's importer unmarshals (pure).

BuildKit (built with Go 1.21/1.22 for v0.13) reads manifests, cache configs and image configs with
``json.Unmarshal``. Where msgspec and Go disagree, what BuildKit *would* see is what matters for a gate:

* keys match struct fields exactly first, then case-insensitively (Go's fold: ASCII case plus
  ``unicode.ToUpper(unicode.ToLower(r))``, so ``ſ`` folds to ``S`` and the Kelvin sign to ``K``);
  unknown keys are ignored;
* a duplicate key decodes *again into the same field*: scalars last-wins, structs and maps merge, a
  slice keeps its elements and decodes the new array element-wise into them (``decode.go`` ``array``);
* ``null`` into a scalar or a non-pointer struct leaves it unchanged; into a slice, map or pointer, nil;
* ``int``/``int64`` take integer literals in int64 range only (no ``1.0``, no ``1e3``);
* ``time.Time`` takes a JSON string holding strict RFC 3339 (Go 1.20+ ``parseStrictRFC3339``; the raw
  bytes between the quotes, escapes are not decoded), or ``null``;
* ``[]byte`` is base64 ``StdEncoding``: padding required, nothing after it;
* invalid UTF-8 and lone surrogate escapes inside strings become U+FFFD; ``NaN`` is not JSON.

:func:`loads` parses with the standard library, keeping every key/value pair of every object in order
(duplicates included); :func:`build` maps such a tree onto a :data:`Schema` with the rules above and
returns plain dicts/lists keyed by the canonical field names, ready for ``msgspec.convert``. This is the
exact (slower) path; :mod:`cacheinspect.cache.config` has a fast path that is only taken when it is
provably equivalent. Nesting deeper than Python's recursion limit (about 1,000; Go allows 10,000) is
refused as malformed content: a stated difference, never a pass.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, Union

import msgspec

from cacheinspect._lazyre import lazy
from cacheinspect.errors import MalformedContentError

__all__ = [
    "ANY",
    "BOOL",
    "BYTES",
    "INT",
    "STR",
    "SURROGATE_ESCAPE",
    "TIME",
    "GoDecodeError",
    "ListOf",
    "MapOf",
    "Obj",
    "Ptr",
    "Schema",
    "StructOf",
    "all_go_times_ok",
    "b64decode_std",
    "build",
    "clean",
    "fold",
    "go_time_ok",
    "loads",
    "mark_escaped_times",
]

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


class GoDecodeError(MalformedContentError):
    """What Go's ``json.Unmarshal`` would return an error for (BuildKit then drops the whole source)."""


class Obj(list[tuple[str, Any]]):
    """A JSON object as its ordered (key, value) pairs, duplicates kept."""


class _Scalar(msgspec.Struct, frozen=True):
    kind: str  # int | str | bool | time | bytes | any


INT, STR, BOOL, TIME, BYTES, ANY = (_Scalar(k) for k in ("int", "str", "bool", "time", "bytes", "any"))


class ListOf(msgspec.Struct, frozen=True):
    """A Go slice ``[]T``."""

    elem: Schema


class MapOf(msgspec.Struct, frozen=True):
    """``map[string]T``."""

    elem: Schema


class Ptr(msgspec.Struct, frozen=True):
    """A pointer to a struct: ``null`` sets it nil (a plain struct field ignores ``null``)."""

    elem: StructOf


class StructOf(msgspec.Struct, frozen=True, dict=True):
    """Go field name (the json tag) -> schema. Only these keys are read; the rest are ignored."""

    fields: dict[str, Schema]

    def __post_init__(self) -> None:
        # frozen: the fold table goes into the instance dict directly (the one attribute that is not a field)
        self.__dict__["_folded"] = {fold(k): k for k in self.fields}

    def field_for(self, key: str) -> str | None:
        if key in self.fields:
            return key
        folded: dict[str, str] = self._folded  # type: ignore[attr-defined]
        return folded.get(fold(key))


Schema = Union[_Scalar, ListOf, MapOf, Ptr, StructOf]  # noqa: UP007 (a runtime alias)


def fold(s: str) -> str:
    """Go's ``foldName``: ASCII upper-cased, other runes ``ToUpper(ToLower(r))``."""
    if s.isascii():
        return s.upper()
    return "".join(c.upper() if c.isascii() else _fold_rune(c) for c in s)


def _fold_rune(c: str) -> str:
    low = c.lower()
    up = low.upper() if len(low) == 1 else c
    return up if len(up) == 1 else c


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_SURROGATE = lazy("[\ud800-\udfff]")
#: A ``\\uD800``-``\\uDFFF`` escape: msgspec keeps a lone one as a surrogate, Go makes it U+FFFD.
SURROGATE_ESCAPE = lazy(rb"\\u[dD][89a-fA-F]")


def loads(data: bytes, *, what: str) -> Any:
    """Parse *data* keeping duplicate keys (objects become :class:`Obj`); Go's UTF-8 rules applied."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")  # Go: each invalid byte sequence becomes U+FFFD
    try:
        return json.loads(text, object_pairs_hook=Obj, parse_constant=_reject_constant)
    except RecursionError:
        raise MalformedContentError(f"{what} is nested too deeply to decode") from None
    except ValueError as e:
        raise MalformedContentError(f"{what} is not JSON: {e}") from None


#: Go 1.20+ ``time.Time.UnmarshalJSON`` accepts exactly this shape (``parseRFC3339``), ranges checked below.
_RFC3339 = lazy(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))", re.ASCII
)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def go_time_ok(s: str) -> bool:
    """Would Go's strict RFC 3339 parser (``time.Time.UnmarshalJSON``, Go 1.20+) accept *s*?"""
    m = _RFC3339.fullmatch(s)
    if m is None:
        return False
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    if not 1 <= mo <= 12 or h > 23 or mi > 59 or sec > 59:
        return False
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not 1 <= d <= (29 if mo == 2 and leap else _DAYS[mo - 1]):
        return False
    return m.group(7) is None or (int(m.group(7)) <= 23 and int(m.group(8)) <= 59)


_STRING_LIT = lazy(rb'"(?:[^"\\]|\\.)*"', re.S)
_COLON = lazy(rb"\s*:\s*")
#: Prefix given to a time literal that held an escape (a NUL never starts a real time).
ESCAPED_MARK = "\x00escaped:"


def mark_escaped_times(data: bytes, keys: frozenset[str]) -> bytes:
    """Mark string values of the (folded) *keys* whose literal holds a backslash escape.

    ``time.Time.UnmarshalJSON`` parses the raw bytes between the quotes (escapes are not decoded), so
    any escape fails there; the parsed tree cannot tell. String literals are the only place quotes
    occur, so scanning them left to right pairs each key with its value exactly. The mark makes the
    value fail :func:`go_time_ok`; fields that are not times strip it (:data:`ESCAPED_MARK`).
    """
    if b"\\" not in data:
        return data
    out: list[bytes] = []
    pos = 0
    lits = list(_STRING_LIT.finditer(data))
    for i in range(len(lits) - 1):
        m, nxt = lits[i], lits[i + 1]
        colon = _COLON.match(data, m.end())
        if colon is None or colon.end() != nxt.start() or b"\\" not in nxt.group():
            continue
        try:
            key = json.loads(m.group().decode("utf-8", "replace"))
        except ValueError:
            continue
        if isinstance(key, str) and fold(key) in keys:
            out += [data[pos : nxt.start()], b'"\\u0000escaped:', nxt.group()[1:]]
            pos = nxt.end()
    out.append(data[pos:])
    return b"".join(out)


_TIME_LEX = (
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
_TIMES_LEX = lazy(rf"(?:{_TIME_LEX}\n)*{_TIME_LEX}", re.ASCII)
_LATE_DAY = lazy(r"^\d{4}-\d\d-(?:29|30|31)", re.ASCII | re.M)


def all_go_times_ok(times: Iterable[str]) -> bool:
    """:func:`go_time_ok` for many strings at once: one regex pass over all of them (the lexical ranges),
    then the exact check only for days 29-31 (month lengths, leap years). 1,000 times in ~0.1 ms."""
    ts = [t for t in times]
    if not ts:
        return True
    if any("\n" in t for t in ts):
        return False
    joined = "\n".join(ts)
    if _TIMES_LEX.fullmatch(joined) is None:
        return False
    return all(
        go_time_ok(m.string[m.start() : m.start() + 40].split("\n", 1)[0]) for m in _LATE_DAY.finditer(joined)
    )


_B64 = lazy(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)


def b64decode_std(s: str) -> bytes:
    """Go's ``base64.StdEncoding.DecodeString`` (what ``[]byte`` fields use): strict, padded.

    Go ignores ``\\r`` and ``\\n`` anywhere in the input; everything else must be the standard alphabet,
    length a multiple of 4, at most two ``=`` and only at the end, no non-zero trailing bits.
    """
    t = s.replace("\r", "").replace("\n", "")
    if len(t) % 4 or _B64.fullmatch(t) is None:
        raise ValueError("illegal base64 data")
    try:
        out = base64.b64decode(t, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("illegal base64 data") from None
    # Non-zero trailing bits are accepted, as by Go's StdEncoding (only Encoding.Strict() refuses them).
    return out


def clean(s: str) -> str:
    """Lone surrogates (from ``\\ud800`` escapes) become U+FFFD, as Go decodes them."""
    return _SURROGATE.sub("\ufffd", s) if not s.isascii() else s


def _type_name(v: Any) -> str:
    if isinstance(v, Obj):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return "string"


def build(
    value: Any, schema: Schema, *, path: str = "$", time_check: Callable[[str], bool] = go_time_ok
) -> Any:
    """Map a :func:`loads` tree onto *schema* the way Go's ``json.Unmarshal`` would; None means "nil".

    Raises :class:`GoDecodeError` where Go returns an error (type mismatch, int range, bad time, bad base64).
    """
    return _into(None, value, schema, path, time_check)


def _err(path: str, msg: str) -> GoDecodeError:
    return GoDecodeError(f"Go's encoding/json rejects it at {path}: {msg}")


def _into(cur: Any, v: Any, s: Schema, path: str, tc: Callable[[str], bool]) -> Any:
    if isinstance(s, _Scalar):
        if v is None:
            return cur  # null into a scalar: unchanged
        k = s.kind
        if k == "any":  # a field BuildKit does not read: too deep to copy is simply left out
            try:
                return _plain(v)
            except RecursionError:
                return None
        if k == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise _err(path, f"cannot unmarshal {_type_name(v)} into an integer")
            if not INT64_MIN <= v <= INT64_MAX:
                raise _err(path, f"number {v} overflows int64")
            return v
        if k == "bool":
            if not isinstance(v, bool):
                raise _err(path, f"cannot unmarshal {_type_name(v)} into a bool")
            return v
        if not isinstance(v, str):
            raise _err(path, f"cannot unmarshal {_type_name(v)} into a string")
        v = clean(v)
        if k == "time" and not tc(v):
            raise _err(path, f"{v[:60]!r} is not an RFC 3339 time")
        if k == "bytes":
            try:
                b64decode_std(v)
            except ValueError:
                raise _err(path, "illegal base64 data") from None
        return v
    if isinstance(s, ListOf):
        if v is None:
            return None
        if not isinstance(v, list) or isinstance(v, Obj):
            raise _err(path, f"cannot unmarshal {_type_name(v)} into an array")
        old = cur if isinstance(cur, list) else []
        return [
            _into(old[i] if i < len(old) else _zero(s.elem), e, s.elem, f"{path}[{i}]", tc)
            for i, e in enumerate(v)
        ]
    if isinstance(s, MapOf):
        if v is None:
            return None
        if not isinstance(v, Obj):
            raise _err(path, f"cannot unmarshal {_type_name(v)} into an object")
        out = dict(cur) if isinstance(cur, dict) else {}
        for key, e in v:
            key = clean(key)
            out[key] = _into(_zero(s.elem), e, s.elem, f"{path}.{key}", tc)
            if out[key] is None and isinstance(s.elem, _Scalar) and s.elem.kind == "str":
                out[key] = ""
        return out
    if isinstance(s, Ptr):
        if v is None:
            return None
        return _into(cur, v, s.elem, path, tc)
    # StructOf
    if v is None:
        return cur
    if not isinstance(v, Obj):
        raise _err(path, f"cannot unmarshal {_type_name(v)} into an object")
    out = dict(cur) if isinstance(cur, dict) else {}
    for key, e in v:
        name = s.field_for(key)
        if name is None:
            continue
        res = _into(out.get(name), e, s.fields[name], f"{path}.{name}", tc)
        if res is None:
            out.pop(name, None)
        else:
            out[name] = res
    return out


def _zero(s: Schema) -> Any:
    if isinstance(s, StructOf):
        return {}
    if isinstance(s, _Scalar):
        return {"int": 0, "str": "", "bool": False}.get(s.kind)
    return None


def _plain(v: Any) -> Any:
    """A generic ``interface{}`` value: objects become dicts (last key wins), strings cleaned."""
    if isinstance(v, Obj):
        return {clean(k): _plain(x) for k, x in v}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, str):
        return clean(v)
    return v
