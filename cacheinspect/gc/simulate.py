"""What a prune or a GC policy deletes: BuildKit's ``cacheManager.Prune`` as a pure function.

``simulate(records, policy, now_ns=..., semantics=..., disk=...)`` replays moby/buildkit
``cache/manager.go`` (``Prune`` -> ``prune``/``pruneOnce`` per rule, in order):

- a candidate is a record nothing references (no live child, not in use), not ``internal``/``frontend``
  /shared unless ``all``, not used after ``now - keepDuration`` (a never-used record is not protected),
  and matched by the filter (:mod:`cacheinspect.gc.filters`);
- with no size target every candidate goes, pass after pass, until a pass finds none (deleting a child
  makes its parent a candidate of the next pass);
- with a size target (``keepBytes``; since v0.17 ``calculateKeepBytes`` of reserved/maxUsed/minFree and
  the disk's free space) the total is the sum of non-shared sizes at the start of the rule, and while it is
  >= the target one record is deleted at a time: the lowest ``lastUsedIndex/max + usageCountIndex/max``
  (``sortDeleteRecords``: dense ranks of lastUsedAt and usage count over the current candidates,
  recomputed after every deletion; 0-based before v0.22, where an all-zero rank gives 0/0 = NaN and every
  candidate ties; 1-based since).

BuildKit's order between equal scores is whatever an unstable sort makes of Go's random map order, so a
tie is reported (``ties``) and resolved here by record id, never silently.

The daemon re-sorts all candidates for every deletion (O(n log n) each, O(n^2 log n) for a prune that
deletes most of n records). Here the minimum is found on the Pareto frontier of (lastUsed, usage count):
a score increases with either rank, so only a candidate that no other beats on both can be lowest, and
per distinct usage count only its least recently used candidate can be on the frontier. With a Fenwick
tree for the lastUsed dense ranks (a usage count's rank is its position among the counts present) one
deletion costs O(U log n), U the number of distinct usage counts among the candidates (a few dozen in real
caches), giving the same deletions, in the same order, as the daemon. Distinct exact scores differ by at
least 1/(A*B) (A, B the rank maxima), far above float64 rounding, so only exactly-equal scores can tie, and
the comparison of those is done in float64 as Go does it.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cacheinspect.errors import UsageError
from cacheinspect.gc.filters import FilterItem, matches, parse_filters
from cacheinspect.gc.policy import Disk, Policy, PruneRule
from cacheinspect.gc.records import CacheRecord
from cacheinspect.gc.versions import Semantics

__all__ = ["SCHEMA", "Deletion", "RuleResult", "SimulationResult", "keep_bytes_for", "simulate"]

SCHEMA = "cacheinspect.gc-simulate/v1"


@dataclass(frozen=True, slots=True)
class Deletion:
    """One record a rule deletes, and why it went when it did."""

    id: str
    type: str
    size: int
    reason: str


@dataclass(frozen=True, slots=True)
class RuleResult:
    """What one rule did: its deletions in order, bytes freed, the size target and why it stopped."""

    rule: str  # "rule 1: type==exec.cachemount keep-duration=48h keep=512MB"
    deleted: tuple[Deletion, ...]
    bytes: int
    keep_bytes: int  # 0: no size target
    total_before: int
    stopped: str  # why the rule stopped


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """The whole run: rules in order, every deletion, what stays and why, and the ties met."""

    buildkit_version: str
    rules: tuple[RuleResult, ...]
    deleted: tuple[str, ...]
    kept: tuple[tuple[str, str], ...]
    ties: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]
    source: str = ""

    def to_json(self) -> dict[str, object]:
        """The ``cacheinspect.gc-simulate/v1`` document (fields are only ever added)."""
        return {
            "schema": SCHEMA,
            "buildkit_version": self.buildkit_version,
            "rules": [
                {
                    "rule": r.rule,
                    "deleted": [
                        {"id": d.id, "type": d.type, "size": d.size, "reason": d.reason} for d in r.deleted
                    ],
                    "bytes": r.bytes,
                    "keep_bytes": r.keep_bytes,
                    "total_before": r.total_before,
                    "stopped": r.stopped,
                }
                for r in self.rules
            ],
            "deleted": list(self.deleted),
            "kept": [{"id": i, "why": w} for i, w in self.kept],
            "ties": [list(t) for t in self.ties],
            "bytes": sum(r.bytes for r in self.rules),
            "notes": list(self.notes),
        }


def keep_bytes_for(rule: PruneRule, total: int, sem: Semantics, disk_free: int | None) -> int:
    """The size target: ``keepBytes`` before v0.17, else ``calculateKeepBytes`` (cache/manager.go)."""
    if sem.space_model == "keepbytes":
        return rule.reserved_space  # maxUsed/minFree are unknown protobuf fields to these daemons
    if not (rule.max_used_space or rule.reserved_space or rule.min_free_space):
        return 0
    keep = rule.max_used_space
    if rule.min_free_space:
        if disk_free is None:
            raise UsageError(
                "a minFreeSpace target depends on the disk", hint="give --disk-size and --disk-free"
            )
        excess = rule.min_free_space - disk_free
        if excess > 0:
            keep = total - excess if keep == 0 else min(keep, total - excess)
        elif keep == 0 and sem.space_model == "v0.21":
            keep = total  # v0.21+: minFreeSpace alone and already met: nothing to do
    return max(keep, rule.reserved_space)


def describe_rule(i: int, rule: PruneRule) -> str:
    parts = [f"rule {i + 1}" + (f" ({rule.origin})" if rule.origin else "") + ":"]
    flt = [f for f in rule.filters if f]
    parts.append("filter " + " OR ".join(repr(f) for f in flt) if flt else "all records")
    if rule.all:
        parts.append("all")
    if rule.keep_duration_ns:
        parts.append(f"unused for {rule.keep_duration_ns / 3.6e12:g}h")
    for name, v in (
        ("reserved", rule.reserved_space),
        ("max-used", rule.max_used_space),
        ("min-free", rule.min_free_space),
    ):
        if v:
            parts.append(f"{name} {v} B")
    return " ".join(parts)


class _Fenwick:
    __slots__ = ("n", "t")

    def __init__(self, n: int) -> None:
        self.n = n
        self.t = [0] * (n + 1)

    def add(self, i: int, d: int) -> None:
        i += 1
        while i <= self.n:
            self.t[i] += d
            i += i & -i

    def prefix(self, i: int) -> int:
        """Sum of positions 0..i."""
        i += 1
        s = 0
        while i > 0:
            s += self.t[i]
            i -= i & -i
        return s


class _State:
    """The records still alive, with children counts: what ``len(cr.refs) == 0`` sees."""

    def __init__(self, records: Sequence[CacheRecord]) -> None:
        self.by_id = {r.id: r for r in records}
        self.alive = set(self.by_id)
        self.kids = dict.fromkeys(self.by_id, 0)
        for r in records:
            for p in r.parents:
                if p in self.kids:
                    self.kids[p] += 1

    def total(self) -> int:
        return sum(self.by_id[i].size for i in self.alive if not self.by_id[i].shared)

    def delete(self, rid: str) -> list[str]:
        """Remove a record; return parents that became unreferenced."""
        self.alive.discard(rid)
        freed = []
        for p in self.by_id[rid].parents:
            if p in self.kids:
                self.kids[p] -= 1
                if self.kids[p] == 0 and p in self.alive:
                    freed.append(p)
        return freed


def _why_not(
    r: CacheRecord,
    st: _State,
    rule: PruneRule,
    items: tuple[FilterItem, ...],
    cutoff: int | None,
    sem: Semantics,
) -> str:
    if r.in_use:
        return "in use"
    if st.kids[r.id] > 0:
        return "parent of kept records"
    if not rule.all:
        if r.type in ("internal", "frontend"):
            return f"{r.type} record (only with --all)"
        if r.shared:
            return "shared with an image (only with --all)"
    if cutoff is not None and r.last_used_ns is not None and r.last_used_ns > cutoff:
        return "too recent (used within keepDuration)"
    if not matches(items, r, description=sem.description_filter):
        return "filter does not match"
    return ""


def _eligible(
    r: CacheRecord,
    st: _State,
    rule: PruneRule,
    items: tuple[FilterItem, ...],
    cutoff: int | None,
    sem: Semantics,
) -> bool:
    return not _why_not(r, st, rule, items, cutoff, sem)


class _Ranker:
    """Candidates with dense ranks of lastUsedAt and usage count, and the lowest score on demand."""

    def __init__(self, all_records: Iterable[CacheRecord], base: int) -> None:
        recs = list(all_records)
        self.base = base
        self.lu_vals = sorted({r.last_used_ns for r in recs if r.last_used_ns is not None})
        self.lu_index = {v: i for i, v in enumerate(self.lu_vals)}
        self.uc_vals = sorted({r.usage_count for r in recs if r.usage_count != 0})
        self.uc_index = {v: i for i, v in enumerate(self.uc_vals)}
        self.lu_count = [0] * len(self.lu_vals)
        self.uc_count = [0] * len(self.uc_vals)
        self.lu_tree = _Fenwick(len(self.lu_vals))
        self.lu_distinct = 0  # distinct non-nil lastUsed among candidates
        self.uc_distinct = 0  # distinct non-zero usage counts among candidates
        self.present_uc: list[int] = []  # sorted usage counts with candidates (0 included)
        self.uc_members: dict[int, int] = {}
        self.heaps: dict[int, list[tuple[int, str]]] = {}
        self.by_key: dict[tuple[int, int], set[str]] = {}
        self.members: dict[str, tuple[int, int]] = {}

    def _lu_key(self, r: CacheRecord) -> int:
        return -1 if r.last_used_ns is None else self.lu_index[r.last_used_ns]

    def add(self, r: CacheRecord) -> None:
        k = (self._lu_key(r), r.usage_count)
        self.members[r.id] = k
        self.by_key.setdefault(k, set()).add(r.id)
        lk, uc = k
        if lk >= 0:
            self.lu_count[lk] += 1
            if self.lu_count[lk] == 1:
                self.lu_tree.add(lk, 1)
                self.lu_distinct += 1
        if uc != 0:
            ui = self.uc_index[uc]
            self.uc_count[ui] += 1
            if self.uc_count[ui] == 1:
                self.uc_distinct += 1
        n = self.uc_members.get(uc, 0)
        if n == 0:
            insort(self.present_uc, uc)
        self.uc_members[uc] = n + 1
        heapq.heappush(self.heaps.setdefault(uc, []), (lk, r.id))

    def remove(self, rid: str) -> None:
        lk, uc = self.members.pop(rid)
        s = self.by_key[(lk, uc)]
        s.discard(rid)
        if not s:
            del self.by_key[(lk, uc)]
        if lk >= 0:
            self.lu_count[lk] -= 1
            if self.lu_count[lk] == 0:
                self.lu_tree.add(lk, -1)
                self.lu_distinct -= 1
        if uc != 0:
            ui = self.uc_index[uc]
            self.uc_count[ui] -= 1
            if self.uc_count[ui] == 0:
                self.uc_distinct -= 1
        self.uc_members[uc] -= 1
        if self.uc_members[uc] == 0:
            del self.uc_members[uc]
            del self.present_uc[bisect_left(self.present_uc, uc)]

    def __len__(self) -> int:
        return len(self.members)

    def lowest(self) -> tuple[list[str], float]:
        """The candidates with the lowest score (more than one: a tie), and that score."""
        base = self.base
        big_a = self.lu_distinct + base
        big_b = self.uc_distinct + base
        if big_a == 0 or big_b == 0:
            # v0.13-v0.21: maxIndex 0 makes every score 0/0 = NaN: the order is arbitrary
            return sorted(self.members), math.nan
        best: list[tuple[int, int]] = []
        best_score = math.inf
        frontier_lu = math.inf
        # present_uc is sorted: a usage count's dense rank is its position (0 has rank 0 itself)
        zero = 1 if self.present_uc and self.present_uc[0] == 0 else 0
        for pos, uc in enumerate(self.present_uc):
            h = self.heaps[uc]
            while h and self.members.get(h[0][1]) != (h[0][0], uc):
                heapq.heappop(h)
            lk = h[0][0]
            if lk >= frontier_lu:
                continue
            frontier_lu = lk
            a = (self.lu_tree.prefix(lk) if lk >= 0 else 0) + base
            b = (pos + 1 - zero if uc != 0 else 0) + base
            score = a / big_a + b / big_b  # float64, as Go computes it
            if score < best_score:
                best, best_score = [(lk, uc)], score
            elif score == best_score:
                best.append((lk, uc))
            if lk == -1:
                break
        ids = sorted(i for k in best for i in self.by_key[k])
        return ids, best_score


def simulate(
    records: Sequence[CacheRecord],
    policy: Policy,
    *,
    now_ns: int,
    semantics: Semantics,
    disk: Disk | None = None,
) -> SimulationResult:
    """Run ``policy``'s rules in order over ``records`` as BuildKit ``semantics`` would."""
    st = _State(records)
    notes: list[str] = list(policy.notes)
    if policy.kind == "gc" and not policy.enabled:
        notes.append("GC is disabled by this configuration: nothing is ever deleted by GC")
    if any(r.approximate for r in records):
        notes.append(
            "sizes/times come from a human-readable dump and are rounded: near-ties may be misordered"
        )
    results: list[RuleResult] = []
    deleted_all: list[str] = []
    ties: list[tuple[str, ...]] = []
    freed_total = 0
    rules = policy.rules if policy.enabled else ()
    last_state: list[tuple[PruneRule, tuple[FilterItem, ...], int | None, set[str]]] = []
    for ri, rule in enumerate(rules):
        items = parse_filters(list(rule.filters))
        cutoff = now_ns - rule.keep_duration_ns if rule.keep_duration_ns else None
        total = st.total()
        disk_free = disk.free + freed_total if disk is not None else None
        keep = keep_bytes_for(rule, total, semantics, disk_free)
        if semantics.space_model == "keepbytes" and (rule.max_used_space or rule.min_free_space):
            notes.append(
                f"rule {ri + 1}: maxUsedSpace/minFreeSpace need BuildKit v0.17+; {semantics.buildkit_text} ignores them"
            )
        dels: list[Deletion] = []
        stopped = ""
        at_stop: set[str] = set()
        if keep == 0:
            wave = sorted(i for i in st.alive if _eligible(st.by_id[i], st, rule, items, cutoff, semantics))
            passno = 1
            while wave:
                nxt: list[str] = []
                for rid in wave:
                    r = st.by_id[rid]
                    dels.append(
                        Deletion(
                            rid,
                            r.type,
                            r.size,
                            "matches, no size target" + (f" (pass {passno})" if passno > 1 else ""),
                        )
                    )
                    for p in st.delete(rid):
                        if _eligible(st.by_id[p], st, rule, items, cutoff, semantics):
                            nxt.append(p)
                wave = sorted(nxt)
                passno += 1
            stopped = "no candidates left"
        else:
            ranker = _Ranker((st.by_id[i] for i in st.alive), semantics.rank_base)
            for i in st.alive:
                r = st.by_id[i]
                if _eligible(r, st, rule, items, cutoff, semantics):
                    ranker.add(r)
            current_tie: set[str] = set()
            while True:
                if total < keep:
                    stopped = f"total {total} B is under the target {keep} B"
                    at_stop = set(ranker.members)
                    break
                if not len(ranker):
                    stopped = f"no candidates left (total {total} B, target {keep} B)"
                    break
                lowest, score = ranker.lowest()
                if len(lowest) > 1:
                    group = set(lowest)
                    if not group <= current_tie:
                        ties.append(tuple(lowest))
                        current_tie = group
                rid = lowest[0]
                r = st.by_id[rid]
                ranker.remove(rid)
                reason = f"total {total} B >= target {keep} B; lowest score {score:.6g}"
                if len(lowest) > 1:
                    reason += f" (tied with {len(lowest) - 1} other{'s' if len(lowest) > 2 else ''})"
                dels.append(Deletion(rid, r.type, r.size, reason))
                total -= r.size  # BuildKit subtracts every released size, shared or not
                for p in st.delete(rid):
                    pr = st.by_id[p]
                    if _eligible(pr, st, rule, items, cutoff, semantics):
                        ranker.add(pr)
        freed = sum(d.size for d in dels)
        freed_total += freed
        deleted_all.extend(d.id for d in dels)
        results.append(
            RuleResult(describe_rule(ri, rule), tuple(dels), freed, keep, st.total() + freed, stopped)
        )
        last_state.append((rule, items, cutoff, at_stop))

    kept: list[tuple[str, str]] = []
    for rid in sorted(st.alive, key=lambda i: (st.by_id[i].created_ns or 0, i)):
        r = st.by_id[rid]
        if r.in_use:
            kept.append((rid, "in use"))
            continue
        if st.kids[rid] > 0:
            kept.append((rid, "parent of kept records"))
            continue
        whys = []
        for ri, (rule, items, cutoff, at_stop) in enumerate(last_state):
            w = "under the size target" if rid in at_stop else _why_not(r, st, rule, items, cutoff, semantics)
            w = w or "under the size target"
            whys.append(w if len(last_state) == 1 else f"rule {ri + 1}: {w}")
        kept.append((rid, "; ".join(whys) if whys else ("GC disabled" if policy.kind == "gc" else "no rule")))
    return SimulationResult(
        semantics.buildkit_text,
        tuple(results),
        tuple(deleted_all),
        tuple(kept),
        tuple(ties),
        tuple(notes),
        policy.source,
    )
