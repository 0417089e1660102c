"""Sizes, durations and timestamps spelled the way the Go tools that write them spell them.

Every front end parses sizes with a different function, and the difference is bytes the prune keeps:

- ``docker builder prune --keep-storage``, buildx's ``--keep-storage/--reserved-space/...``, daemon.json
  ``keepStorage``/``defaultKeepStorage`` and buildkitd.toml sizes use go-units ``RAMInBytes``: binary
  multipliers, ``10MB`` is 10 MiB (docker/go-units ``size.go``).
- ``buildctl prune --keep-storage 10`` is a float number of **decimal** megabytes (``* 1e6``,
  moby/buildkit ``cmd/buildctl/prune.go``).
- durations are Go ``time.ParseDuration`` (``48h``, ``1h30m``, ``500ms``; no ``d`` unit).
- timestamps keep nanoseconds: Docker prints ``2026-12-01T09:17:15.103638201Z``; Python's ``datetime``
  stops at microseconds, which would turn distinct ``lastUsedAt`` values into ties, so times are
  integers of nanoseconds since the epoch here.
"""

from __future__ import annotations

import calendar
import re
import time

from cacheinspect.errors import UsageError

__all__ = [
    "format_bytes",
    "format_ns",
    "human_size",
    "parse_go_duration",
    "parse_ram_in_bytes",
    "parse_rfc3339_ns",
    "parse_time_arg",
]

NS = 1_000_000_000
#: Go's int64: every size, duration and UnixNano time the Go tools read or write fits in it; a value past
#: it is refused there (json: "cannot unmarshal number ... into int64", ParseFloat/ParseDuration: out of
#: range), so it is bad input here too, never an OverflowError.
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)


def check_int64(v: int, what: str) -> int:
    """``v`` when it fits Go's int64, else a UsageError naming ``what``."""
    if not INT64_MIN <= v <= INT64_MAX:
        raise UsageError(f"invalid {what}: {str(v)[:24]}… is out of range (Go int64)")
    return v


_RAM_RE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def parse_ram_in_bytes(text: str, *, what: str = "size") -> int:
    """go-units ``RAMInBytes``: ``"512MB"`` -> 536870912; a bare number is bytes; truncates fractions."""
    m = _RAM_RE.match(text.strip())
    if not m:
        raise UsageError(f"invalid {what} {text!r}: expected a size such as 512MB, 10GB or 1073741824")
    num = float(m.group(1)) if m.group(1).count(".") <= 1 else None
    if num is None:
        raise UsageError(f"invalid {what} {text[:60]!r}")
    mult = _BINARY[m.group(2).lower()] if m.group(2) else 1
    if not num * mult < 2.0**63:  # ParseFloat's +Inf (ErrRange), or past int64
        raise UsageError(f"invalid {what} {text[:40]!r}…: out of range")
    return int(num * mult)


def human_size(text: str) -> int:
    """Inverse of go-units ``HumanSize``/``HumanSizeWithPrecision`` (decimal, ``"8.19kB"``): approximate."""
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([kKMGTP]?)B?\s*$", text)
    if not m:
        raise ValueError(f"not a size: {text!r}")
    mult = _DECIMAL[m.group(2).lower()] if m.group(2) else 1
    v = float(m.group(1)) * mult
    if not v < 2.0**63:
        raise ValueError(f"size out of range: {text[:40]!r}")
    return round(v)


_DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DUR_UNIT = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": NS,
    "m": 60 * NS,
    "h": 3600 * NS,
}


def parse_go_duration(text: str, *, what: str = "duration") -> int:
    """Go ``time.ParseDuration`` to nanoseconds (``"48h"``, ``"1h30m"``, ``"0"``); raises UsageError."""
    s = text.strip()
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    pos, total = 0, 0
    for m in _DUR_RE.finditer(s):
        if m.start() != pos:
            break
        whole, _, frac = m.group(1).partition(".")
        unit = _DUR_UNIT[m.group(2)]
        if len(whole) > 20:  # past int64 nanoseconds whatever the unit: Go says "invalid duration"
            total = INT64_MAX + 1
            break
        total += int(whole or "0") * unit + (int(frac[:18].ljust(18, "0")) * unit // 10**18 if frac else 0)
        pos = m.end()
    if total > INT64_MAX:
        raise UsageError(f"invalid {what} {text[:40]!r}: out of range (Go durations stop at about 292 years)")
    if pos != len(s) or not s:
        raise UsageError(f"invalid {what} {text[:60]!r}: expected a Go duration such as 48h, 90m or 30s")
    return sign * total


_RFC_RE = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?\s*"
    r"(Z|[+-]\d\d:?\d\d)?(?:\s+(?:UTC|[A-Z]{2,5}))?(?:\s+m=[+-][\d.]+)?$"
)


_MINUTES: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM" -> its seconds since the epoch (validated once)
_MINUTE_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def _minute(prefix: str) -> int | None:
    base = _MINUTES.get(prefix)
    if base is None:
        if not _MINUTE_RE.fullmatch(prefix):
            return None
        y, mo, d, h, mi = (
            int(prefix[:4]),
            int(prefix[5:7]),
            int(prefix[8:10]),
            int(prefix[11:13]),
            int(prefix[14:16]),
        )
        if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59):
            return None
        if len(_MINUTES) > 1 << 20:
            _MINUTES.clear()
        base = _MINUTES[prefix] = calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0))
    return base


def parse_rfc3339_ns(text: str) -> int:
    """RFC 3339 with nanoseconds, or Go's ``time.String()`` (``2026-12-01 09:17:14.57 +0000 UTC``)."""
    # the fast path: what the Engine API writes ("2026-12-01T09:17:15.103638201Z"), one dict look-up
    # per minute prefix instead of a regex and timegm per value (two per record of a 1M-record dump)
    if len(text) >= 20 and text[-1] == "Z" and text[16] == ":":
        tail = text[17:-1]
        if (
            tail.isascii()
            and tail[:2].isdigit()
            and (len(tail) == 2 or (tail[2] == "." and 3 < len(tail) <= 12 and tail[3:].isdigit()))
        ):
            base = _minute(text[:16])
            sec = int(tail[:2])
            if base is not None and sec <= 60:
                return (base + sec) * NS + (int(tail[3:].ljust(9, "0")) if len(tail) > 2 else 0)
    m = _RFC_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a timestamp: {text!r}")
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60):
        raise ValueError(f"not a timestamp: {text[:60]!r}")
    frac = int((m.group(7) or "").ljust(9, "0"))
    secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    tz = m.group(8)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        secs -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return secs * NS + frac


def parse_time_arg(text: str, *, now_ns: int) -> int:
    """``--now``: an RFC 3339 time, ``@UNIX`` seconds, or a Go duration offset (``+72h``, ``-1h``) from now."""
    t = text.strip()
    if t.startswith("@"):
        try:
            v = float(t[1:]) * NS
        except ValueError:
            raise UsageError(f"invalid --now {text[:60]!r}") from None
        if not abs(v) < 2.0**63:
            raise UsageError(f"invalid --now {text[:40]!r}: out of range")
        return round(v)
    try:
        return parse_rfc3339_ns(t)
    except ValueError:
        pass
    try:
        return now_ns + parse_go_duration(t, what="--now offset")
    except UsageError:
        raise UsageError(
            f"invalid --now {text!r}: expected RFC 3339 (2026-12-01T10:00:00Z), @UNIXSECONDS or an offset (+72h)"
        ) from None


def format_bytes(n: int) -> str:
    """Decimal, like docker's HumanSize, but always with the exact byte count for small values."""
    if n < 1000:
        return f"{n}B"
    v = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        v /= 1000
        if v < 1000 or unit == "PB":
            return f"{v:.3g}{unit}" if v < 100 else f"{v:.0f}{unit}"
    return f"{n}B"  # pragma: no cover


def format_pair(a: int, b: int) -> tuple[str, str]:
    """Two sizes compared in one sentence: :func:`format_bytes` each, with the exact byte counts when
    the rounded forms would read the same (``512kB >= 512kB`` says nothing)."""
    x, y = format_bytes(a), format_bytes(b)
    if x == y and a != b:
        return f"{x} ({a} bytes)", f"{y} ({b} bytes)"
    return x, y


def format_duration(ns: int) -> str:
    """A duration the way docker's flags are written (``48h``, ``1m``, ``1h30m``, ``500ms``): never a
    fraction of an hour such as ``0.0166667h``."""
    if ns <= 0:
        return "0s"
    if ns % NS:
        ms = ns / 1e6
        return f"{ms:g}ms" if ns < NS else f"{ns / NS:g}s"
    secs = ns // NS
    h, rest = divmod(secs, 3600)
    m, sec = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (sec, "s")) if v) or "0s"


def format_ns(ns: int | None) -> str:
    """UTC RFC 3339 with as many fractional digits as needed (nanoseconds kept)."""
    if ns is None:
        return "-"
    secs, frac = divmod(ns, NS)
    try:
        base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    except (OverflowError, OSError, ValueError):
        return f"@{ns}ns"  # outside the calendar the C library can print
    if frac:
        return f"{base}.{str(frac).rjust(9, '0').rstrip('0')}Z"
    return f"{base}Z"
