"""A literal transcription of moby/buildkit ``cache/manager.go`` prune for a size target (tests only).

It re-sorts every candidate for every deletion exactly as ``sortDeleteRecords`` does (O(n^2 log n)),
so the fast simulator can be checked against it. Go's unstable sort over random map order makes the
order of equal scores arbitrary: ``step`` returns the whole group of lowest scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cacheinspect.gc.records import CacheRecord


@dataclass
class _D:
    r: CacheRecord
    lu_idx: float = 0.0
    uc_idx: float = 0.0


def sort_delete_records(cands: list[CacheRecord], one_based: bool) -> list[tuple[float, CacheRecord]]:
    """``sortDeleteRecords``: (score, record) ascending; NaN scores kept as NaN."""
    ds = [_D(r) for r in cands]
    # sort by lastUsedAt, nil first
    ds.sort(key=lambda d: (-1 if d.r.last_used_ns is None else 0, d.r.last_used_ns or 0))
    max_lu = 1.0 if one_based else 0.0
    val = None
    for d in ds:
        if d.r.last_used_ns is not None and (val is None or d.r.last_used_ns > val):
            val = d.r.last_used_ns
            max_lu += 1
        d.lu_idx = max_lu
    ds.sort(key=lambda d: d.r.usage_count)
    max_uc = 1.0 if one_based else 0.0
    count = 0
    for d in ds:
        if d.r.usage_count != count:
            count = d.r.usage_count
            max_uc += 1
        d.uc_idx = max_uc

    def div(a: float, b: float) -> float:
        return math.nan if b == 0 else a / b  # Go: 0.0/0.0 is NaN

    scored = [(div(d.lu_idx, max_lu) + div(d.uc_idx, max_uc), d.r) for d in ds]
    if any(math.isnan(s) for s, _ in scored):
        return scored
    return sorted(scored, key=lambda x: x[0])


def prune_with_target(
    records: list[CacheRecord], keep: int, *, one_based: bool, candidate
) -> tuple[list[str], list[list[str]]]:
    """Deleted ids in order and the tie groups met (ties broken by id, as the simulator does)."""
    alive = {r.id: r for r in records}
    total = sum(r.size for r in records if not r.shared)
    order: list[str] = []
    ties: list[list[str]] = []
    while total >= keep:
        kids = {p for r in alive.values() for p in r.parents}
        cands = [r for r in alive.values() if r.id not in kids and candidate(r)]
        if not cands:
            break
        scored = sort_delete_records(cands, one_based)
        if any(math.isnan(s) for s, _ in scored):
            low = sorted(r.id for _, r in scored)
        else:
            best = scored[0][0]
            low = sorted(r.id for s, r in scored if s == best)
        if len(low) > 1:
            ties.append(low)
        rid = low[0]
        order.append(rid)
        total -= alive[rid].size
        del alive[rid]
    return order, ties
