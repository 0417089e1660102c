"""The one record type every reader produces: a build-cache record as BuildKit's ``DiskUsage`` reports it.

Fields follow moby/buildkit ``client/diskusage.go`` ``UsageInfo`` (and the Engine API's ``BuildCache``,
moby ``api/types/build/cache.go``). Times are integers of nanoseconds since the epoch (see
:mod:`cacheinspect.gc.units`); ``last_used_ns`` is ``None`` for a record never used, which BuildKit's
prune treats as the oldest possible and never protects by ``keepDuration``.

``in_use`` and ``shared`` mean what ``DiskUsage`` means by them (``cache/manager.go``): ``in_use`` is
"referenced by something other than its children", ``shared`` is "its layers are referenced by an image",
marked on the record and all its parents (``markShared``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any

__all__ = ["RECORD_TYPES", "CacheRecord", "RecordSet", "new_record", "paused_gc"]

#: moby/buildkit client/diskusage.go UsageRecordType values
RECORD_TYPES = (
    "internal",
    "frontend",
    "source.local",
    "source.git.checkout",
    "exec.cachemount",
    "regular",
)


@dataclass(frozen=True, slots=True)
class CacheRecord:
    """One build-cache record. ``approximate`` is set by readers of human-readable dumps (rounded sizes)."""

    id: str
    type: str = "regular"
    size: int = 0
    parents: tuple[str, ...] = ()
    description: str = ""
    in_use: bool = False
    shared: bool = False
    mutable: bool | None = None
    created_ns: int | None = None
    last_used_ns: int | None = None
    usage_count: int = 0
    approximate: bool = False


#: CacheRecord's slots without the frozen check, only to build records (see new_record)
_Builder: Any = make_dataclass(
    "_CacheRecordBuilder",
    [(f.name, f.type, field(default=f.default)) for f in fields(CacheRecord)],
    slots=True,
)


def new_record(*values: Any) -> CacheRecord:
    """``CacheRecord(*values)`` (positional, in field order) in a fifth of the time, for readers of large
    dumps: a frozen dataclass sets each of its 12 fields through ``object.__setattr__``, a plain one
    stores them. The record is made as the plain twin with the same slots and then re-classed, so it is
    an ordinary frozen ``CacheRecord`` (equal, hashable, immutable)."""
    r = _Builder(*values)
    r.__class__ = CacheRecord
    return r  # type: ignore[no-any-return]


class RecordSet:
    """Records by id with the parent -> children index the tree view and the simulator need.

    Parents that are not in the dump (a filtered ``buildctl du``) are kept as dangling ids: a child still
    holds its parent, so the parent could never be a prune candidate anyway.
    """

    def __init__(self, records: Iterable[CacheRecord]) -> None:
        self.records: dict[str, CacheRecord] = {}
        for r in records:
            self.records[r.id] = r
        self.children: dict[str, list[str]] = {rid: [] for rid in self.records}
        for r in self.records.values():
            for p in r.parents:
                if p in self.children:
                    self.children[p].append(r.id)

    def __len__(self) -> int:
        return len(self.records)

    def roots(self) -> list[CacheRecord]:
        """Records with no parent in the set, oldest first (then id), for a stable tree."""
        out = [r for r in self.records.values() if not any(p in self.records for p in r.parents)]
        return sorted(out, key=_order)

    def kids(self, rid: str) -> list[CacheRecord]:
        return sorted((self.records[c] for c in self.children.get(rid, ())), key=_order)

    def total_size(self, *, include_shared: bool = False) -> int:
        """BuildKit's ``totalSize`` for a size target: the sum over non-shared records (``pruneOnce``)."""
        return sum(r.size for r in self.records.values() if include_shared or not r.shared)

    def reclaimable(self) -> int:
        """What ``docker system df`` calls reclaimable: records neither in use nor shared."""
        return sum(r.size for r in self.records.values() if not r.in_use and not r.shared)


def _order(r: CacheRecord) -> tuple[int, str]:
    return (r.created_ns if r.created_ns is not None else -1, r.id)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a dump is read, simulated or rendered.

    Those steps allocate hundreds of thousands of records, tuples and dicts, none of them in a reference
    cycle, so reference counting frees all of it; the collector would only traverse the growing heap
    again and again (a quarter of reading a 100,000-record dump, a seventh of simulating it). It is
    restored on the way out, as it was.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
