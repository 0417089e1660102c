"""The simulator as it was before this round's speed-ups (main at 49e332e), kept for the differential test
(tests/gc/test_simulate_differential.py): the faster one must give the same result on every input.

Original module docstring:

What a prune or a GC policy deletes: BuildKit's ``cacheManager.Prune`` as a pure function.


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
deletes most of n records). Here the minimum is found on the Pareto staircase of (lastUsed, usage
count): a score increases with either rank, so only a candidate that no other beats on both can be
lowest, and per distinct usage count only its least recently used candidate can be on it. A min-segment
tree over usage counts walks the staircase (:class:`_MinTree`), Fenwick trees give the dense ranks
(:class:`_DenseRank`), and the walk stops once a usage rank alone puts every later point above the best
score: one deletion costs O(S log n), S the staircase size (at most the distinct usage counts among the
candidates, a few dozen in real caches; 1 when usage counts rise with lastUsed, where a scan over every
count present would be O(n) per deletion), giving the same deletions, in the same order, as the daemon.
Distinct exact scores differ by at least 1/(A*B) (A, B the rank maxima), far above float64 rounding, so
only exactly-equal scores can tie, and
the comparison of those is done in float64 as Go does it.

After a daemon restart, deleting a record counts as a use of its parent. ``cacheManager.init`` loads
every record of the metadata DB through ``getRecord`` -> ``parentsOf`` (cache/manager.go, v0.13.2 lines
316-330 and 513-548; v0.25.2 lines 326-340 and 523-558), which takes each parent with
``cm.get(ctx, parentID, nil, append(opts, NoUpdateLastUsed))``: the option slice is passed as ONE
variadic element (no ``...``), so ``get``'s ``o == NoUpdateLastUsed`` test never matches and the parent
ref is made with ``triggerLastUsed = true`` (manager.go v0.13.2 353-380). Refs taken while the daemon runs
(``New``: ``cm.Get(..., NoUpdateLastUsed, ...)``; merge/diff inputs: ``append(...)...``; ``clone()``) do
not trigger. When the prune removes such a loaded child, ``cacheRecord.remove`` -> ``parentRefs.release``
-> ``immutableRef.release`` (refs.go v0.13.2 143-170, 441-474, 1361-1390; v0.25.2 1435-1460) calls
``updateLastUsed`` (usage count + 1, lastUsedAt = now; metadata.go ``updateLastUsed``) unless another
ref of that parent still triggers, i.e. when its last loaded child goes. The parent then becomes a
candidate as the most recently used record (and too recent for any keepDuration). ``simulate`` models
it for the ids in ``loaded``; ``loaded=None`` (not known whether or when the daemon restarted) runs both
extremes and reports the records whose fate differs as ``uncertain``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from cacheinspect.errors import UsageError
from cacheinspect.gc.filters import FilterItem, matches, parse_filters
from cacheinspect.gc.policy import Disk, Policy, PruneRule
from cacheinspect.gc.records import CacheRecord
from cacheinspect.gc.units import format_bytes, format_duration, format_pair
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
    uncertain: tuple[str, ...] = ()

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
            "uncertain": list(self.uncertain),
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
        parts.append(f"unused for {format_duration(rule.keep_duration_ns)}")
    for name, v in (
        ("reserved", rule.reserved_space),
        ("max-used", rule.max_used_space),
        ("min-free", rule.min_free_space),
    ):
        if v:
            parts.append(f"{name} {format_bytes(v)}")
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


class _DenseRank:
    """Which of a fixed, sorted set of values are present (with multiplicity), and a value's dense rank.

    ``rank(k)`` is the number of distinct present values <= value k: ``sortDeleteRecords``'s index
    before its base is added. Index 0 may be a value that ranks 0 itself (usage count 0): pass
    ``zero_first``. The rank is cached per index and brought up to date from the log of presence changes
    since it was computed: the staircase points are re-evaluated after every deletion and only one or two
    values change in between, so a look at one or two log entries replaces most O(log n) Fenwick walks.
    """

    __slots__ = ("cache", "count", "distinct", "log", "tree", "zero_first")

    def __init__(self, n: int, *, zero_first: bool = False) -> None:
        self.count = [0] * n
        self.tree = _Fenwick(n)
        self.distinct = 0  # distinct present values (not counting a zero_first index 0)
        self.log: list[int] = []  # k when index k became present, ~k when it went
        self.cache: dict[int, tuple[int, int]] = {}  # index -> (rank, len(log) when computed)
        self.zero_first = zero_first

    def add(self, k: int) -> None:
        self.count[k] += 1
        if self.count[k] == 1 and not (k == 0 and self.zero_first):
            self.tree.add(k, 1)
            self.distinct += 1
            self.log.append(k)

    def build(self) -> None:
        """Present (and ``distinct``) every index whose ``count`` was set directly, in one O(n) pass;
        only before any :meth:`add`/:meth:`remove` (the log stays empty: nothing is cached yet)."""
        t, n = self.tree.t, self.tree.n
        distinct = 0
        for k, c in enumerate(self.count):
            if c and not (k == 0 and self.zero_first):
                t[k + 1] += 1
                distinct += 1
        for i in range(1, n + 1):
            j = i + (i & -i)
            if j <= n:
                t[j] += t[i]
        self.distinct = distinct

    def remove(self, k: int) -> None:
        self.count[k] -= 1
        if self.count[k] == 0 and not (k == 0 and self.zero_first):
            self.tree.add(k, -1)
            self.distinct -= 1
            self.log.append(~k)

    def rank(self, k: int) -> int:
        log = self.log
        n = len(log)
        hit = self.cache.get(k)
        if hit is not None:
            rank, at = hit
            if at == n:
                return rank  # nothing changed since: no new cache entry either
            if n - at <= 8:
                for x in log[at:]:
                    if x >= 0:
                        if x <= k:
                            rank += 1
                    elif ~x <= k:
                        rank -= 1
            else:
                rank = self.tree.prefix(k)
        else:
            rank = self.tree.prefix(k)
        self.cache[k] = (rank, n)
        return rank


class _State:
    """The records still alive, with children counts: what ``len(cr.refs) == 0`` sees.

    ``trig[p]`` counts the alive children of ``p`` that were loaded from the metadata DB (their parent
    ref triggers a lastUsed update on release); when it drops to 0 the parent is bumped.
    """

    def __init__(self, records: Sequence[CacheRecord], loaded: Collection[str], bump_from: int) -> None:
        self.by_id = {r.id: r for r in records}
        self.alive = set(self.by_id)
        self.kids = dict.fromkeys(self.by_id, 0)
        self.loaded = loaded
        self.trig: dict[str, int] = {}
        self.bump_at = bump_from  # lastUsed of the next bump: after every recorded use
        self.bumped: set[str] = set()
        for r in records:
            loaded_child = r.id in loaded
            for p in r.parents:
                if p in self.kids:
                    self.kids[p] += 1
                    if loaded_child:
                        self.trig[p] = self.trig.get(p, 0) + 1

    def total(self) -> int:
        return sum(self.by_id[i].size for i in self.alive if not self.by_id[i].shared)

    def delete(self, rid: str) -> list[str]:
        """Remove a record; return parents that became unreferenced (bumped first, see the module doc)."""
        self.alive.discard(rid)
        loaded = rid in self.loaded
        freed = []
        for p in self.by_id[rid].parents:
            if p in self.kids:
                self.kids[p] -= 1
                if loaded and self.trig.get(p, 0) > 0:
                    self.trig[p] -= 1
                    if self.trig[p] == 0 and p in self.alive:
                        old = self.by_id[p]
                        self.by_id[p] = replace(
                            old, last_used_ns=self.bump_at, usage_count=old.usage_count + 1
                        )
                        self.bump_at += 1
                        self.bumped.add(p)
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
        if r.id in st.bumped:
            return "too recent: deleting its child (loaded at daemon start) counted as a use"
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


_EMPTY = 1 << 62  # a usage count with no candidate: above every lastUsed key (-1 is "never used")


class _MinTree:
    """Minimum lastUsed key per usage count, and the next usage count whose minimum is under a bound.

    Walking ``first_below`` from the lowest usage count with a falling bound visits exactly the Pareto
    staircase of (lastUsed, usage count): O(S log U) for S staircase points, however many usage counts
    have candidates (the old scan over every count was O(U) per deletion: O(n^2) when counts are distinct).
    """

    __slots__ = ("size", "t")

    def __init__(self, n: int) -> None:
        size = 1
        while size < n:
            size <<= 1
        self.size = size
        self.t = [_EMPTY] * (2 * size)

    def set(self, i: int, v: int) -> None:
        t = self.t
        i += self.size
        t[i] = v
        i >>= 1
        while i:
            a, b = t[2 * i], t[2 * i + 1]
            m = a if a < b else b
            if t[i] == m:
                break  # ancestors hold the minimum of unchanged children
            t[i] = m
            i >>= 1

    def leaf(self, i: int) -> int:
        return self.t[i + self.size]

    def first_below(self, pos: int, bound: int) -> int:
        """The smallest position >= pos whose value is < bound, or -1."""
        t, size = self.t, self.size
        if pos >= size:
            return -1
        i = pos + size
        while t[i] >= bound:
            while i & 1:  # a right child: its parent's right part is done, climb
                i >>= 1
            if i == 0:
                return -1
            i += 1
        while i < size:
            i <<= 1
            if t[i] >= bound:
                i += 1
        return i - size


_ALL = frozenset({(-2, -2)})  # tie episode over every candidate (the NaN scores of v0.13-v0.21)


class _Ranker:
    """Candidates with dense ranks of lastUsedAt and usage count, and the lowest score on demand.

    Keys are (lastUsed index, usage-count index) into the values present when the rule starts (records
    only ever leave, and the parents that join were present). Per key a heap of ids (the tie-break: the
    smallest id), per usage count a lazy heap of lastUsed keys feeding :class:`_MinTree`, and a
    :class:`_DenseRank` per axis for the ranks. One deletion costs O(S log n), S the size of the
    (lastUsed, usage count) Pareto staircase among the candidates (at most the number of distinct usage
    counts; a handful in real caches).

    Ties are tracked as episodes: consecutive deletions whose lowest scores come from the same set of keys
    (every candidate while all scores are NaN). An episode lists the ids tied at its first step and the
    ids that joined those keys before a later step of it, so each is reported once, not once per step.
    """

    def __init__(
        self,
        all_records: Iterable[CacheRecord],
        base: int,
        bump_lu: Iterable[int] = (),
        bump_uc: Iterable[int] = (),
    ) -> None:
        """``bump_lu``/``bump_uc``: lastUsed values and usage counts a restart bump may still give."""
        recs = list(all_records)
        self.base = base
        lu_vals = sorted({r.last_used_ns for r in recs if r.last_used_ns is not None} | set(bump_lu))
        self.lu_index = {v: i for i, v in enumerate(lu_vals)}
        uc_vals = sorted({r.usage_count for r in recs} | {0} | set(bump_uc))
        self.uc_index = {v: i for i, v in enumerate(uc_vals)}  # index 0 is usage count 0 (rank 0)
        self.lu = _DenseRank(len(lu_vals))  # non-nil lastUsed values of the candidates
        self.uc = _DenseRank(len(uc_vals), zero_first=True)  # their usage counts
        self.by_uc: list[list[int]] = [[] for _ in uc_vals]  # lazy heaps of lastUsed keys
        self.mins = _MinTree(len(uc_vals))
        self.ids: dict[tuple[int, int], list[str]] = {}  # key -> heap of ids
        self.members: dict[str, tuple[int, int]] = {}
        self.all_ids: list[str] = []  # lazy heap of every candidate id (tie-break when all scores NaN)
        self.episodes: list[list[str]] = []
        self._ep_keys: frozenset[tuple[int, int]] | None = None
        self._ep_pending: list[str] = []

    def add(self, r: CacheRecord) -> None:
        lk = -1 if r.last_used_ns is None else self.lu_index[r.last_used_ns]
        uk = self.uc_index[r.usage_count]
        key = (lk, uk)
        self.members[r.id] = key
        heapq.heappush(self.all_ids, r.id)
        heap = self.ids.get(key)
        if heap is None:
            self.ids[key] = [r.id]
            heapq.heappush(self.by_uc[uk], lk)
            if lk < self.mins.leaf(uk):
                self.mins.set(uk, lk)
        else:
            heapq.heappush(heap, r.id)
        if lk >= 0:
            self.lu.add(lk)
        self.uc.add(uk)
        ep = self._ep_keys
        if ep is not None and (ep is _ALL or key in ep):
            self._ep_pending.append(r.id)

    def add_many(self, recs: list[CacheRecord]) -> None:
        """:meth:`add` of every initial candidate at once, before any :meth:`take`: the same structures
        built in linear time (heapify, a Fenwick tree built in one pass) instead of one push each."""
        if self.members or self._ep_keys is not None:
            for r in recs:
                self.add(r)
            return
        lu_index, uc_index, ids, members = self.lu_index, self.uc_index, self.ids, self.members
        lu_count, uc_count = self.lu.count, self.uc.count
        for r in recs:
            lk = -1 if r.last_used_ns is None else lu_index[r.last_used_ns]
            uk = uc_index[r.usage_count]
            key = (lk, uk)
            members[r.id] = key
            lst = ids.get(key)
            if lst is None:
                ids[key] = [r.id]
            else:
                lst.append(r.id)
            if lk >= 0:
                lu_count[lk] += 1
            uc_count[uk] += 1
        self.all_ids = list(members)
        heapq.heapify(self.all_ids)
        for (lk, uk), lst in ids.items():
            heapq.heapify(lst)
            self.by_uc[uk].append(lk)
        mins = self.mins
        for uk, h in enumerate(self.by_uc):
            if h:
                heapq.heapify(h)
                mins.set(uk, h[0])
        self.lu.build()
        self.uc.build()

    def _remove(self, rid: str) -> None:
        """Remove ``rid``, which is the smallest id of its key (the only ids ``take`` removes)."""
        lk, uk = key = self.members.pop(rid)
        heap = self.ids[key]
        heapq.heappop(heap)
        if not heap:
            del self.ids[key]
            h = self.by_uc[uk]
            while h and (h[0], uk) not in self.ids:
                heapq.heappop(h)
            self.mins.set(uk, h[0] if h else _EMPTY)
        if lk >= 0:
            self.lu.remove(lk)
        self.uc.remove(uk)

    def __len__(self) -> int:
        return len(self.members)

    def take(self) -> tuple[str, float, int]:
        """Remove and return the candidate BuildKit deletes next: (id, its score, how many it ties with).

        Among equal scores the smallest id is taken here; the group is recorded in ``episodes``.
        """
        base = self.base
        big_a = self.lu.distinct + base
        big_b = self.uc.distinct + base
        if big_a == 0 or big_b == 0:
            # v0.13-v0.21: maxIndex 0 makes every score 0/0 = NaN: the order is arbitrary
            h = self.all_ids
            while h[0] not in self.members:
                heapq.heappop(h)
            rid = h[0]
            n_tied = len(self.members) - 1
            self._episode(_ALL if n_tied else None)
            self._remove(rid)
            return rid, math.nan, n_tied
        best: list[tuple[int, int]] = []
        best_score = math.inf
        bound = _EMPTY
        pos = 0
        mins, lu, uc = self.mins, self.lu, self.uc
        leaves, size = mins.t, mins.size
        while bound >= 0:  # nothing is below "never used"
            uk = mins.first_below(pos, bound)
            if uk < 0:
                break
            b = (uc.rank(uk) if uk else 0) + base
            if base / big_a + b / big_b > best_score:
                # later staircase points have larger usage ranks and a lastUsed rank >= base: none can
                # reach the best score (float rounding is monotone, so this holds for Go's floats too)
                break
            lk = leaves[uk + size]
            a = (lu.rank(lk) if lk >= 0 else 0) + base
            score = a / big_a + b / big_b  # float64, as Go computes it
            if score < best_score:
                best, best_score = [(lk, uk)], score
            elif score == best_score:
                best.append((lk, uk))
            bound, pos = lk, uk + 1
        if len(best) == 1:
            key = best[0]
            heap = self.ids[key]
            rid, n_tied = heap[0], len(heap) - 1
        else:
            key = min(best, key=lambda k: self.ids[k][0])
            rid = self.ids[key][0]
            n_tied = sum(len(self.ids[k]) for k in best) - 1
        self._episode(frozenset(best) if n_tied else None)
        self._remove(rid)
        return rid, best_score, n_tied

    def _episode(self, keys: frozenset[tuple[int, int]] | None) -> None:
        """Extend the current tie episode while the tied keys stay within (or join) it; else start one."""
        ep = self._ep_keys
        if keys is None:
            self._ep_keys = None
        elif ep is not None and (keys is ep or (ep is not _ALL and keys is not _ALL and keys & ep)):
            fresh = sorted(i for k in keys - ep for i in self.ids[k]) if keys is not ep else []
            self.episodes[-1].extend(self._ep_pending)
            self.episodes[-1].extend(fresh)
            if fresh or not keys <= ep:
                self._ep_keys = ep | keys
        else:
            if keys is _ALL:
                ids = sorted(self.members)
            else:
                ids = sorted(i for k in keys for i in self.ids[k])
            self.episodes.append(ids)
            self._ep_keys = keys
        self._ep_pending = []


def simulate(
    records: Sequence[CacheRecord],
    policy: Policy,
    *,
    now_ns: int,
    semantics: Semantics,
    disk: Disk | None = None,
    loaded: Collection[str] | None = frozenset(),
) -> SimulationResult:
    """Run ``policy``'s rules in order over ``records`` as BuildKit ``semantics`` would.

    ``loaded``: ids of records the daemon loaded from its metadata DB at its last start (created before
    it started); empty when it has not restarted since they were made. ``None``: unknown; the result
    is the no-restart one, and ``uncertain`` lists the records a restart would decide otherwise.
    """
    if loaded is not None:
        return _simulate(records, policy, now_ns, semantics, disk, loaded)
    first = _simulate(records, policy, now_ns, semantics, disk, frozenset())
    ids = {r.id for r in records}
    by_id = {r.id: r for r in records}
    if not any(p in ids for d in first.deleted for p in by_id[d].parents):
        return first  # no deletion released a parent: a restart bumps nothing, same run
    other = _simulate(records, policy, now_ns, semantics, disk, ids)
    differ = tuple(sorted(set(first.deleted) ^ set(other.deleted)))
    notes = list(first.notes)
    if differ:
        notes.append(
            f"if the daemon restarted after these records were made, {len(differ)} record(s) would be "
            "decided otherwise (deleting a record loaded at start counts as a use of its parent): see "
            "'uncertain'; give --daemon-started to decide"
        )
    elif first.deleted != other.deleted:
        notes.append(
            "a daemon restart since these records were made would change the deletion order, not the set"
        )
    return replace(first, notes=tuple(notes), uncertain=differ)


def _simulate(
    records: Sequence[CacheRecord],
    policy: Policy,
    now_ns: int,
    semantics: Semantics,
    disk: Disk | None,
    loaded: Collection[str],
) -> SimulationResult:
    bump_from = max([now_ns, *(r.last_used_ns for r in records if r.last_used_ns is not None)]) + 1
    st = _State(records, loaded, bump_from)
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
        if any(not it.selectors for it in items):
            items = ()  # an empty item matches every record, so the OR does: skip matching per record
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
            pending = [p for p, n in st.trig.items() if n > 0 and p in st.alive]
            ranker = _Ranker(
                (st.by_id[i] for i in st.alive),
                semantics.rank_base,
                range(st.bump_at, st.bump_at + len(pending)),
                {st.by_id[p].usage_count + 1 for p in pending},
            )
            by_id, kids = st.by_id, st.kids
            ranker.add_many(
                [
                    r
                    for r in map(by_id.__getitem__, st.alive)
                    if not r.in_use and not kids[r.id] and _eligible(r, st, rule, items, cutoff, semantics)
                ]
            )
            while True:
                if total < keep:
                    t, k = format_pair(total, keep)
                    stopped = f"total {t} is under the target {k}"
                    at_stop = set(ranker.members)
                    break
                if not len(ranker):
                    t, k = format_pair(total, keep)
                    stopped = f"no candidates left (total {t}, target {k})"
                    break
                rid, score, n_tied = ranker.take()
                r = st.by_id[rid]
                t, k = format_pair(total, keep)
                reason = f"total {t} >= target {k}; lowest score {score:.6g}"
                if n_tied:
                    reason += f" (tied with {n_tied} other{'s' if n_tied > 1 else ''})"
                dels.append(Deletion(rid, r.type, r.size, reason))
                total -= r.size  # BuildKit subtracts every released size, shared or not
                for p in st.delete(rid):
                    pr = st.by_id[p]
                    if _eligible(pr, st, rule, items, cutoff, semantics):
                        ranker.add(pr)
            ties.extend(tuple(e) for e in ranker.episodes)
        freed = sum(d.size for d in dels)
        freed_total += freed
        deleted_all.extend(d.id for d in dels)
        results.append(
            RuleResult(describe_rule(ri, rule), tuple(dels), freed, keep, st.total() + freed, stopped)
        )
        last_state.append((rule, items, cutoff, at_stop))
    if st.bumped:
        notes.append(
            f"{len(st.bumped)} parent record(s) counted as used when their child, loaded at daemon start, "
            "was deleted (usage count + 1, last used = now)"
        )

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
