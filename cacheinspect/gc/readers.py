"""Readers of the record dumps users already have; each returns ``list[CacheRecord]``.

Recognised (``read_dump`` picks by content, never by file name):

- Engine API ``GET /system/df?type=build-cache`` JSON (``{"BuildCache": [...]}``) or its ``BuildCache``
  array. moby's ``BuildCache.Parents`` has the JSON tag ``" Parents"`` (leading space, moby
  ``api/types/build/cache.go``, every release since v23); both that and ``"Parents"`` are read, and the
  deprecated single ``"Parent"``.
- ``buildctl du --format '{{json .}}'``: the template runs on ``[]*client.UsageInfo``
  (moby/buildkit ``cmd/buildctl/diskusage.go``), so one JSON array with the lower-case tags of
  ``client/diskusage.go`` (``id``, ``inUse``, ``lastUsedAt``, ``recordType``...). One object per line
  (``buildctl prune --format '{{json .}}'``) is read too.
- ``docker system df -v --format json``: docker/cli ``formatter/buildcache.go`` strings: ``Size`` is
  ``HumanSizeWithPrecision(size, 3)`` (rounded: records are marked ``approximate``), times are Go
  ``time.String()``, ``ID`` ends in ``*`` when in use, ``Parent`` joins parents with ``", "``.
- ``docker buildx du --verbose`` text: ``Key:\\tvalue`` blocks separated by blank lines (docker/buildx
  ``commands/diskusage.go``); ``Last used`` is relative ("2 hours ago") and is resolved against ``now``.

A malformed dump raises :class:`~cacheinspect.errors.MalformedContentError` naming the line or the JSON
path of the bad field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from cacheinspect.errors import MalformedContentError
from cacheinspect.gc.records import CacheRecord, new_record, paused_gc
from cacheinspect.gc.units import INT64_MAX, INT64_MIN, NS, _minute, human_size, parse_rfc3339_ns

__all__ = ["MAX_DEPTH", "max_nesting", "parse_engine_records", "read_dump"]


def read_dump(data: bytes | str, *, source: str = "dump", now_ns: int | None = None) -> list[CacheRecord]:
    """Records from any supported dump; ``now_ns`` resolves relative times of ``buildx du`` text."""
    with paused_gc():
        return _read_dump(data, source, now_ns)


def _read_dump(data: bytes | str, source: str, now_ns: int | None) -> list[CacheRecord]:
    if isinstance(data, bytes) and data.lstrip()[:1] in (b"[", b"{"):
        fast = _engine_fast(data)  # before decoding the whole dump to text: the fast path needs none
        if fast is not None:
            return fast
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    stripped = text.lstrip()
    if not stripped:
        raise MalformedContentError(f"{source}: empty file, no build-cache records")
    if stripped[0] in "[{":
        try:
            doc: Any = _loads(text, source)
        except json.JSONDecodeError as e:
            lines = [ln for ln in text.splitlines() if ln.strip()]
            if len(lines) > 1 and all(ln.lstrip().startswith("{") for ln in lines) and _is_json(lines[0]):
                return _json_lines(lines, source)
            raise MalformedContentError(f"{source}: line {e.lineno} column {e.colno}: {e.msg}") from None
        return _from_json(doc, source)
    return _buildx_text(text, source, now_ns)


def parse_engine_records(doc: Any, *, source: str = "GET /system/df") -> list[CacheRecord]:
    """The Engine API answer (``{"BuildCache": [...]}``) or its array."""
    return _from_json(doc, source)


#: Deeper than any dump's real shape (an object in an array in an object); Go's decoder stops at 10,000.
MAX_DEPTH = 64


def _loads(text: str, source: str) -> Any:
    """``json.loads`` that turns what Go's decoder would refuse into a one-line error, never a crash:
    nesting deeper than the interpreter's recursion limit (the C decoder raises RecursionError cleanly;
    no pre-pass over a large dump) and integers past Python's digit limit (ValueError, not
    JSONDecodeError). JSONDecodeError passes through (line/column)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise MalformedContentError(f"{source}: JSON nested too deeply to be a build-cache dump") from None
    except ValueError as e:
        raise MalformedContentError(f"{source}: not a build-cache dump: {str(e)[:100]}") from None


_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def max_nesting(text: str) -> int:
    """The deepest bracket nesting outside strings (JSON, or TOML's arrays and inline tables), in one
    linear pass that stops early past :data:`MAX_DEPTH`."""
    depth = best = 0
    for m in _TOKENS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > best:
                best = depth
                if best > MAX_DEPTH:
                    return best
        elif c in "]}":
            depth -= 1
    return best


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def _json_lines(lines: list[str], source: str) -> list[CacheRecord]:
    out: list[CacheRecord] = []
    for n, ln in enumerate(lines, 1):
        try:
            obj = _loads(ln, f"{source}: line {n}")
        except json.JSONDecodeError as e:
            raise MalformedContentError(f"{source}: line {n} column {e.colno}: {e.msg}") from None
        out.extend(_from_json(obj if isinstance(obj, list) else [obj], f"{source}: line {n}"))
    return out


def _from_json(doc: Any, source: str) -> list[CacheRecord]:
    path = "$"
    items: Any = doc
    if isinstance(doc, dict):
        if "BuildCache" in doc:
            items, path = doc["BuildCache"], "$.BuildCache"
            if items is None:
                return []
        elif any(k in doc for k in ("ID", "id")):
            items = [doc]
        else:
            raise MalformedContentError(f"{source}: $: no BuildCache array and not a build-cache record")
    if not isinstance(items, list):
        raise MalformedContentError(f"{source}: {path}: expected an array of build-cache records")
    out = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise MalformedContentError(f"{source}: {where}: expected an object")
        if "CacheType" in item:
            out.append(_cli_df_record(item, source, where))
        elif "id" in item and "ID" not in item:
            out.append(_buildctl_record(item, source, where))
        else:
            out.append(_engine_record(item, source, where))
    return out


class _Fields:
    """Typed access to one JSON object that names the JSON path of a bad field."""

    def __init__(self, obj: dict[str, Any], source: str, where: str) -> None:
        self.obj, self.source, self.where = obj, source, where

    def fail(self, key: str, msg: str) -> MalformedContentError:
        return MalformedContentError(f"{self.source}: {self.where}.{key.strip() or repr(key)}: {msg}")

    def str_(self, key: str, *, required: bool = False) -> str:
        v = self.obj.get(key)
        if v is None:
            if required:
                raise self.fail(key, "missing")
            return ""
        if not isinstance(v, str):
            raise self.fail(key, f"expected a string, got {type(v).__name__}")
        return v

    def int_(self, key: str) -> int:
        v = self.obj.get(key, 0)
        if v is None:
            return 0
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, str) and re.fullmatch(r"\s*-?[0-9]{1,19}\s*", v):
                v = int(v)
            else:
                raise self.fail(key, f"expected an integer, got {json.dumps(v)[:40]}")
        if not INT64_MIN <= v <= INT64_MAX:
            raise self.fail(key, f"integer {str(v)[:24]}… is out of range (Go int64)")
        return v

    def bool_(self, key: str) -> bool:
        v = self.obj.get(key, False)
        if v is None:
            return False
        if isinstance(v, bool):
            return v
        if v in ("true", "false"):
            return bool(v == "true")
        raise self.fail(key, f"expected a boolean, got {json.dumps(v)[:40]}")

    def time_(self, key: str) -> int | None:
        v = self.obj.get(key)
        if v is None or v == "":
            return None
        if not isinstance(v, str):
            raise self.fail(key, "expected an RFC 3339 timestamp string")
        try:
            ns = parse_rfc3339_ns(v)
        except ValueError:
            raise self.fail(key, f"not a timestamp: {v[:40]!r}") from None
        # Go's zero time.Time marshals as 0001-01-01T00:00:00Z: "never" for a LastUsedAt pointer.
        return None if v.startswith("0001-01-01") else ns

    def list_(self, *keys: str) -> tuple[str, ...]:
        for key in keys:
            v = self.obj.get(key)
            if v is None:
                continue
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise self.fail(key, "expected an array of record ids")
            return tuple(x for x in v if x)
        return ()


_ENGINE_KEYS = frozenset(
    {"ID", "Type", "Size", " Parents", "Parents", "Parent", "Description", "InUse", "Shared", "CreatedAt",
     "LastUsedAt", "UsageCount"}
)  # fmt: skip


def _fast_time(v: Any) -> int | bool | None:
    """A well-formed Engine API time (or None/""/zero time -> None); False: take the checked path."""
    if v is None or v == "":
        return None
    if type(v) is not str:
        return False
    if v.startswith("0001-01-01"):
        return None
    try:
        return parse_rfc3339_ns(v)
    except ValueError:
        return False


def _engine_record(obj: dict[str, Any], source: str, where: str) -> CacheRecord:
    """One Engine API ``BuildCache`` item: a fast path for the well-typed shape dockerd writes; anything
    else goes through :class:`_Fields`, which names the bad field."""
    g = obj.get
    rid, typ, size, uc = g("ID"), g("Type"), g("Size", 0), g("UsageCount", 0)
    ps = g(" Parents")
    if ps is None:
        ps = g("Parents")
    desc, in_use, shared = g("Description"), g("InUse", False), g("Shared", False)
    created, last = _fast_time(g("CreatedAt")), _fast_time(g("LastUsedAt"))
    if (
        type(rid) is str
        and rid
        and (typ is None or type(typ) is str)
        and type(size) is int
        and INT64_MIN <= size <= INT64_MAX
        and type(uc) is int
        and INT64_MIN <= uc <= INT64_MAX
        and (ps is None or (type(ps) is list and all(type(x) is str for x in ps)))
        and (desc is None or type(desc) is str)
        and type(in_use) is bool
        and type(shared) is bool
        and created is not False
        and last is not False
        and g("Parent") is None
    ):
        return CacheRecord(
            id=rid,
            type=typ or "regular",
            size=size,
            parents=tuple(x for x in ps if x) if ps else (),
            description=desc or "",
            in_use=in_use,
            shared=shared,
            created_ns=created,
            last_used_ns=last,
            usage_count=uc,
        )
    return _engine_record_checked(obj, source, where)


_DECODERS: list[Any] = []


def _decoders() -> tuple[Any, Any]:
    """msgspec decoders of the Engine API shapes (``{"BuildCache": [...]}`` and the bare array), built on
    first use: msgspec is imported only for a dump (start-up of other commands)."""
    if not _DECODERS:
        from typing import Annotated

        import msgspec

        I64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
        Opt = msgspec.Raw | msgspec.UnsetType

        # defstruct: real type objects (this module's annotations are strings, unresolvable in a function)
        item = msgspec.defstruct(
            "EngineItem",
            [
                ("ID", str),
                ("Type", str | None, None),
                ("Size", I64, 0),
                ("SParents", list[str] | None, msgspec.field(default=None, name=" Parents")),
                ("Parents", list[str] | None, None),
                ("Description", str | None, None),
                ("InUse", bool, False),
                ("Shared", bool, False),
                ("CreatedAt", str | None, None),
                ("LastUsedAt", str | None, None),
                ("UsageCount", I64, 0),
                ("Parent", Opt, msgspec.UNSET),
                ("CacheType", Opt, msgspec.UNSET),
            ],
        )
        doc = msgspec.defstruct("EngineDoc", [("BuildCache", list[item] | None)])  # type: ignore[valid-type]
        _DECODERS.extend((msgspec.json.Decoder(doc), msgspec.json.Decoder(list[item])))  # type: ignore[valid-type]
    return _DECODERS[0], _DECODERS[1]


def _ns(v: str | None) -> int | bool | None:
    """:func:`_fast_time` of one value, with the shape dockerd writes (``2026-12-01T09:39:19.504977276Z``,
    30 ASCII characters) done inline: the day from a table of validated days (a dump spans a few hundred
    days, where a table of minutes missed on most records of a large dump), hours, minutes, seconds and
    nanoseconds as checked digits; the same value :func:`~cacheinspect.gc.units.parse_rfc3339_ns` gives
    (``timegm`` is linear in the hour and minute). Anything else: _fast_time."""
    if (
        v is not None
        and 21 < (n := len(v)) <= 30
        and v[-1] == "Z"
        and v[19] == "."
        and v[16] == ":"
        and v[13] == ":"
        and v[10] == "T"
        and v.isascii()
    ):
        day = _DAYS.get(v[:10])
        if day is None:
            day = _day(v[:10])
        hm = _HM.get(v[11:16])
        if hm is None:
            hm = _hm(v[11:16])
        ss = _SS.get(v[17:19])
        frac = v[20:-1]
        if day is not None and hm is not None and ss is not None and frac.isdigit():
            # Go's RFC3339Nano drops trailing zeros: 1 to 9 fractional digits
            return (day + hm + ss) * NS + int(frac) * _SCALE[n]
    return _fast_time(v)


_HM: dict[str, int] = {}  # "HH:MM" -> seconds into the day (validated once; at most 1,440 keys)
_SS: dict[str, int] = {f"{s:02d}": s for s in range(61)}  # "SS" -> seconds (a leap second is 60)


def _hm(text: str) -> int | None:
    """A time of day ``HH:MM`` (ASCII digits, hours <= 23, minutes <= 59) as seconds."""
    hh, mm = text[0:2], text[3:5]
    if not (hh.isdigit() and mm.isdigit()):
        return None
    h, mi = int(hh), int(mm)
    if h > 23 or mi > 59:
        return None
    _HM[text] = h * 3600 + mi * 60
    return _HM[text]


#: string length -> nanoseconds per unit of the fraction
_SCALE: dict[int, int] = {n: 10 ** (30 - n) for n in range(22, 31)}


_DAYS: dict[str, int] = {}  # "YYYY-MM-DD" -> its seconds since the epoch (validated once)


def _day(text: str) -> int | None:
    """A day prefix validated as :func:`~cacheinspect.gc.units._minute` validates a minute."""
    if text == "0001-01-01":
        return None  # Go's zero time: "never" (_fast_time), not a day
    try:
        base = _minute(text + "T00:00")
    except ValueError:  # year 0: outside timegm's calendar (the general parser decides)
        return None
    if base is not None:
        if len(_DAYS) > 1 << 16:
            _DAYS.clear()
        _DAYS[text] = base
    return base


def _engine_fast(data: bytes) -> list[CacheRecord] | None:
    """The Engine API dump decoded by msgspec straight into typed items (the decode the JSON floor does,
    with the type and int64 checks of :func:`_engine_record` done in C). ``None`` for anything else or
    anything off the well-typed shape (another dump format, a wrong type, a bad timestamp, a ``Parent``,
    invalid UTF-8, deep nesting...): the general reader then decides, and names the bad field, exactly
    as before, so this path changes no result and no error."""
    doc_dec, list_dec = _decoders()
    head = data.lstrip()[:1]
    try:
        if head == b"{":
            doc = doc_dec.decode(data)
            items = doc.BuildCache
            if items is None:
                return None
        elif head == b"[":
            items = list_dec.decode(data)
        else:
            return None
    except Exception:  # any refusal (type, range, depth, encoding): the checked reader decides
        return None
    from msgspec import UNSET

    out: list[CacheRecord] = []
    append = out.append
    for it in items:
        ps = it.SParents if it.SParents is not None else it.Parents
        c_at, l_at = it.CreatedAt, it.LastUsedAt
        created = _ns(c_at)
        last = created if l_at == c_at else _ns(l_at)  # a record not used since it was made: one parse
        if (
            created is False
            or last is False
            or not it.ID
            or it.CacheType is not UNSET
            or (it.Parent is not UNSET and bytes(it.Parent) != b"null")
        ):
            return None
        append(
            new_record(
                it.ID,
                it.Type or "regular",
                it.Size,
                tuple(filter(None, ps)) if ps else (),
                it.Description or "",
                it.InUse,
                it.Shared,
                None,
                created,
                last,
                it.UsageCount,
            )
        )
    return out


def _engine_record_checked(obj: dict[str, Any], source: str, where: str) -> CacheRecord:
    f = _Fields(obj, source, where)
    parents = f.list_(" Parents", "Parents")
    if not parents and f.str_("Parent"):
        parents = (f.str_("Parent"),)
    return CacheRecord(
        id=f.str_("ID", required=True),
        type=f.str_("Type") or "regular",
        size=f.int_("Size"),
        parents=parents,
        description=f.str_("Description"),
        in_use=f.bool_("InUse"),
        shared=f.bool_("Shared"),
        created_ns=f.time_("CreatedAt"),
        last_used_ns=f.time_("LastUsedAt"),
        usage_count=f.int_("UsageCount"),
    )


def _buildctl_record(obj: dict[str, Any], source: str, where: str) -> CacheRecord:
    f = _Fields(obj, source, where)
    return CacheRecord(
        id=f.str_("id", required=True),
        type=f.str_("recordType") or "regular",
        size=f.int_("size"),
        parents=f.list_("parents"),
        description=f.str_("description"),
        in_use=f.bool_("inUse"),
        shared=f.bool_("shared"),
        mutable=f.bool_("mutable") if "mutable" in obj else None,
        created_ns=f.time_("createdAt"),
        last_used_ns=f.time_("lastUsedAt"),
        usage_count=f.int_("usageCount"),
    )


def _cli_df_record(obj: dict[str, Any], source: str, where: str) -> CacheRecord:
    f = _Fields(obj, source, where)
    rid = f.str_("ID", required=True)
    in_use = f.bool_("InUse") or rid.endswith("*")
    size_text = f.str_("Size")
    try:
        size = human_size(size_text) if size_text else 0
    except ValueError:
        raise f.fail("Size", f"not a size: {size_text!r}") from None
    parent = f.str_("Parent")
    return CacheRecord(
        id=rid.rstrip("*"),
        type=f.str_("CacheType") or "regular",
        size=size,
        parents=tuple(p.strip() for p in parent.split(",") if p.strip()),
        description=f.str_("Description"),
        in_use=in_use,
        shared=f.bool_("Shared"),
        created_ns=f.time_("CreatedAt"),
        last_used_ns=f.time_("LastUsedAt"),
        usage_count=f.int_("UsageCount"),
        approximate=True,
    )


# -- docker buildx du --verbose -------------------------------------------------------------------------
_KV = re.compile(r"^([A-Za-z][A-Za-z ]*?):\s*(.*)$")
_AGO = re.compile(r"^(?:about\s+)?(an?|\d+)\s+(second|minute|hour|day|week|month|year)s?\s+ago$", re.I)
_AGO_UNIT = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400}
_AGO_UNIT["year"] = 365 * 86400


def _relative(text: str, now_ns: int | None, fail: Callable[[str], MalformedContentError]) -> int | None:
    t = text.strip()
    if not t:
        return None
    try:
        return parse_rfc3339_ns(t)
    except ValueError:
        pass
    if now_ns is None:
        raise fail(f"relative time {t!r} needs a reference time (--now)")
    low = t.lower()
    if low in ("less than a second ago", "now"):
        return now_ns
    m = _AGO.match(t)
    if not m:
        raise fail(f"not a time: {t!r}")
    if len(m.group(1)) > 12:  # go-units HumanDuration never prints more than a few digits
        raise fail(f"not a time: {t[:40]!r}…")
    n = 1 if m.group(1).lower() in ("a", "an") else int(m.group(1))
    return now_ns - n * _AGO_UNIT[m.group(2).lower()] * NS


def _buildx_text(text: str, source: str, now_ns: int | None) -> list[CacheRecord]:
    out: list[CacheRecord] = []
    block: dict[str, str] = {}
    parents: list[str] = []
    start = 0
    in_parents = False

    def flush(lineno: int) -> None:
        nonlocal block, parents
        if not block and not parents:
            return

        def fail(msg: str) -> MalformedContentError:
            return MalformedContentError(f"{source}: record starting at line {start}: {msg}")

        if "ID" not in block:
            if set(block) <= {"Shared", "Private", "Reclaimable", "Total"}:
                block, parents = {}, []
                return  # the summary after the last record
            raise fail("no ID line")
        size = 0
        if block.get("Size"):
            try:
                size = human_size(block["Size"])
            except ValueError:
                raise fail(f"Size: not a size: {block['Size']!r}") from None
        uc_text = (block.get("Usage count", "0") or "0").strip()
        if not re.fullmatch(r"[0-9]{1,18}", uc_text):
            raise fail(f"Usage count: not an integer: {uc_text[:40]!r}")
        usage = int(uc_text)
        ps = list(parents)
        for key in ("Parent", "Parents"):
            if block.get(key):
                ps.extend(p.strip() for p in re.split(r"[;,]", block[key]) if p.strip())
        rec = CacheRecord(
            id=block["ID"].rstrip("*"),
            type=block.get("Type") or "regular",
            size=size,
            parents=tuple(ps),
            description=block.get("Description", ""),
            in_use=block.get("Reclaimable", "true") == "false" or block["ID"].endswith("*"),
            shared=block.get("Shared", "false") == "true",
            mutable=(block["Mutable"] == "true") if "Mutable" in block else None,
            created_ns=_relative(block.get("Created at", ""), now_ns, fail),
            last_used_ns=_relative(block.get("Last used", ""), now_ns, fail),
            usage_count=usage,
            approximate=True,
        )
        out.append(rec)
        block, parents = {}, []

    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip():
            flush(n)
            in_parents = False
            continue
        if in_parents and line.lstrip().startswith("- "):
            parents.append(line.lstrip()[2:].strip())
            continue
        m = _KV.match(line)
        if not m:
            if line.startswith(("Reclaimable:", "Total:")) or re.match(r"^ID\s+RECLAIMABLE", line):
                continue
            raise MalformedContentError(
                f"{source}: line {n}: expected 'Key: value' of `docker buildx du --verbose`, got {line[:60]!r}"
            )
        key, value = m.group(1).strip(), m.group(2).strip()
        if not block and not parents:
            start = n
        if key == "Parents" and not value:
            in_parents = True
            continue
        in_parents = False
        block[key] = value
    flush(len(text.splitlines()) + 1)
    if not out:
        raise MalformedContentError(f"{source}: no build-cache records found")
    return out
