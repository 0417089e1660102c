"""BuildKit's prune filters: containerd's ``filters`` syntax matched against a prune candidate.

``PruneInfo.Filter`` is a list of strings; ``filters.ParseAll`` ORs the list items and ANDs the
comma-separated selectors inside one item (containerd ``filters/parser.go``). A selector is ``field``
(present), ``field==value``, ``field!=value`` or ``field~=regexp``; an empty item matches everything.
``!=`` is true when the field is absent; ``~=`` matches the regexp against the value ("" when absent).
The regexp is Go's (``regexp.Compile``), so it runs on RE2 here too (``google-re2``): the same syntax is
accepted and refused, and matching is linear, where Python's backtracking ``re`` lets a short hostile
filter such as ``id~=(a*)*b`` run for minutes against one long description.

What a candidate exposes is ``adaptUsageInfo`` (moby/buildkit ``cache/manager.go``) applied to the
``UsageInfo`` the prune loop builds, which is *not* the one ``du`` prints: it carries id, mutable, type
and shared only (plus description since v0.14), so ``parents`` never matches, ``inuse`` never matches (a
candidate has no references by definition) and ``description`` never matched before v0.14. docker's
``parent`` key is not a field at all.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from cacheinspect._re2 import LARGE, Re2Error, compile_go
from cacheinspect.errors import UsageError
from cacheinspect.gc.records import CacheRecord

__all__ = ["FilterItem", "Selector", "matches", "parse_filter_item", "parse_filters"]

_OPS = ("==", "!=", "~=")
_MUTABLE_TYPES = ("source.local", "source.git.checkout", "exec.cachemount")


@dataclass(frozen=True, slots=True)
class Selector:
    """``field``, ``field==value``, ``field!=value`` or ``field~=regexp``."""

    field: str  # first component of the field path
    op: str  # "" (present), "==", "!=", "~="
    value: str = ""

    def text(self) -> str:
        return self.field + self.op + self.value


@dataclass(frozen=True, slots=True)
class FilterItem:
    """One list item: an AND of selectors (empty: matches everything)."""

    selectors: tuple[Selector, ...]
    raw: str

    def match(self, r: CacheRecord, *, description: bool) -> bool:
        return all(_sel_match(s, r, description) for s in self.selectors)


def _split_top(s: str) -> list[str]:
    parts, cur, quote = [], [], ""
    for ch in s:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
        elif ch in '"/`' and cur and "".join(cur).endswith(_OPS):
            quote = ch
            cur.append(ch)
        elif ch == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_filter_item(item: str) -> FilterItem:
    """One ``PruneInfo.Filter`` string; raises UsageError like ``failed to parse prune filters``."""
    if item.strip() == "":
        return FilterItem((), item)
    sels = []
    for part in _split_top(item):
        p = part.strip()
        if not p:
            raise UsageError(f"invalid prune filter {item!r}: empty selector")
        op_at = min((p.find(o), o) for o in _OPS if o in p) if any(o in p for o in _OPS) else None
        if op_at is None:
            field, op, value = p, "", ""
        else:
            idx, op = op_at
            field, value = p[:idx].strip(), p[idx + 2 :].strip()
            if not value:  # containerd parser.go value(): "expected value or quoted"
                raise UsageError(f"invalid prune filter {item!r}: expected a value after {op}")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in '"/`':
                value = value[1:-1]
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$", field):
            raise UsageError(f"invalid prune filter {item!r}: bad field name {field!r}")
        if op == "~=":
            try:
                _regexp(value)
            except Re2Error as e:
                raise UsageError(f"invalid prune filter {item!r}: bad regexp: {e}") from None
        sels.append(Selector(field.split(".")[0], op, value))
    return FilterItem(tuple(sels), item)


def parse_filters(items: list[str]) -> tuple[FilterItem, ...]:
    return tuple(parse_filter_item(i) for i in items)


def _field(r: CacheRecord, field: str, description: bool) -> tuple[str, bool]:
    if field == "id":
        return r.id, bool(r.id)
    if field == "type":
        return r.type, bool(r.type)
    if field == "shared":
        return "", r.shared
    if field == "private":
        return "", not r.shared
    if field in ("mutable", "immutable"):
        # the Engine API does not report Mutable: contexts, git checkouts and cache mounts are the
        # mutable records (as `docker buildx du --verbose` shows); layers are immutable
        mutable = r.mutable if r.mutable is not None else r.type in _MUTABLE_TYPES
        return "", mutable if field == "mutable" else not mutable
    if field == "description" and description:
        return r.description, bool(r.description)
    # parents, inuse (and description before v0.14): the prune loop's UsageInfo leaves them empty
    return "", False


def _sel_match(s: Selector, r: CacheRecord, description: bool) -> bool:
    value, present = _field(r, s.field, description)
    if s.op == "":
        return present
    if s.op == "==":
        return present and value == s.value
    if s.op == "!=":
        return value != s.value
    return _regexp(s.value).search(_valid_utf8(value)) is not None


@functools.lru_cache(maxsize=256)
def _regexp(pattern: str) -> Any:
    """The filter's regexp compiled once by RE2 (Go's syntax and leftmost-first semantics)."""
    return compile_go(_valid_utf8(pattern), max_mem=LARGE)  # RE2's default 8 MiB refuses long patterns


def _valid_utf8(text: str) -> str:
    """*text* with lone surrogates (undecodable bytes kept by the readers) as U+FFFD, as Go reads them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def matches(items: tuple[FilterItem, ...], r: CacheRecord, *, description: bool = True) -> bool:
    """OR over items (an empty list matches everything, ``filters.ParseAll`` with no arguments)."""
    if not items:
        return True
    return any(i.match(r, description=description) for i in items)
