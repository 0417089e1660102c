"""The ranking of ``sortDeleteRecords`` kept up to date across deletions: the data structures of a size-target prune.

:class:`Ranker` holds the candidates of one rule and gives the one BuildKit deletes next (the lowest
``lastUsedIndex/max + usageCountIndex/max``) without re-sorting them: the minimum is on the Pareto
staircase of (lastUsed, usage count), walked with :class:`MinTree`; dense ranks come from
:class:`DenseRank` (a :class:`Presence` count with a cache brought up to date from a log of presence changes).
See :mod:`cacheinspect.gc.simulate` for why this equals the daemon's order, ties included.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable
from operator import attrgetter

from cacheinspect.gc.records import CacheRecord

_ID, _LAST_USED, _USAGE = attrgetter("id"), attrgetter("last_used_ns"), attrgetter("usage_count")

__all__ = ["ALL", "EMPTY", "DenseRank", "MinTree", "Presence", "Ranker"]


_BITS = bytes.maketrans(b"\x00\x01", b"01")


class Presence:
    """Which positions of a fixed range are present, and how many are at or below a position.

    Positions in blocks of 4096 bits (a Python int each), a count per block and per group of 64 blocks: a
    change flips one bit and adjusts two counts; a count sums at most 64 group counts and 64 block counts
    and pops the bits below in one block, all in C. (The Fenwick tree it replaced took ~log2(n) Python
    steps for either; a prune changes one or two positions and counts about one per deletion.)
    """

    __slots__ = ("blocks", "counts", "groups")

    def __init__(self, n: int) -> None:
        nb = (n >> 12) + 1
        self.blocks = [0] * nb
        self.counts = [0] * nb
        self.groups = [0] * ((nb >> 6) + 1)

    def copy(self) -> Presence:
        p = Presence.__new__(Presence)
        p.blocks, p.counts, p.groups = self.blocks.copy(), self.counts.copy(), self.groups.copy()
        return p

    def set_all(self, present: bytearray) -> None:
        """Every position at once (``present``: a 0/1 byte per position)."""
        bits = present.translate(_BITS)
        blocks, counts, groups = self.blocks, self.counts, self.groups
        for b in range(len(blocks)):
            chunk = bits[b << 12 : (b + 1) << 12]
            blocks[b] = int(chunk[::-1], 2) if chunk else 0  # base 2: linear time
            counts[b] = c = chunk.count(49)
            groups[b >> 6] += c

    def add(self, i: int, d: int) -> None:
        """Position ``i`` comes (``d`` = 1) or goes (``d`` = -1)."""
        b = i >> 12
        self.blocks[b] ^= 1 << (i & 4095)
        self.counts[b] += d
        self.groups[b >> 6] += d

    def prefix(self, i: int) -> int:
        """Present positions among 0..i."""
        b = i >> 12
        g = b >> 6
        return (
            sum(self.groups[:g])
            + sum(self.counts[g << 6 : b])
            + (self.blocks[b] & ((2 << (i & 4095)) - 1)).bit_count()
        )


class DenseRank:
    """Which of a fixed, sorted set of values are present (with multiplicity), and a value's dense rank.

    ``rank(k)`` is the number of distinct present values <= value k: ``sortDeleteRecords``'s index
    before its base is added. Index 0 may be a value that ranks 0 itself (usage count 0): pass
    ``zero_first``. The rank is cached per index and brought up to date from the log of presence changes
    since it was computed: the staircase points are re-evaluated after every deletion and only one or two
    values change in between, so a look at one or two log entries replaces most counts over the blocks.
    """

    __slots__ = ("cache", "count", "distinct", "log", "tree", "zero_first")

    def __init__(self, n: int, *, zero_first: bool = False) -> None:
        self.count = [0] * n
        self.tree = Presence(n)
        self.distinct = 0  # distinct present values (not counting a zero_first index 0)
        self.log: list[int] = []  # k when index k became present, ~k when it went
        self.cache: dict[int, tuple[int, int]] = {}  # index -> (rank, len(log) when computed)
        self.zero_first = zero_first

    def copy(self) -> DenseRank:
        d = DenseRank.__new__(DenseRank)
        d.count, d.tree, d.distinct = self.count.copy(), self.tree.copy(), self.distinct
        d.log, d.cache, d.zero_first = self.log.copy(), self.cache.copy(), self.zero_first
        return d

    def add(self, k: int) -> None:
        self.count[k] += 1
        if self.count[k] == 1 and not (k == 0 and self.zero_first):
            self.tree.add(k, 1)
            self.distinct += 1
            self.log.append(k)

    def build(self) -> None:
        """Present (and ``distinct``) every index whose ``count`` was set directly, in one O(n) pass;
        only before any :meth:`add`/:meth:`remove` (the log stays empty: nothing is cached yet)."""
        present = bytearray(map(bool, self.count))
        if self.zero_first and present:
            present[0] = 0
        self.tree.set_all(present)
        self.distinct = present.count(1)

    def remove(self, k: int) -> None:
        self.count[k] -= 1
        if self.count[k] == 0 and not (k == 0 and self.zero_first):
            self.remove_last(k)

    def remove_last(self, k: int) -> None:
        """The last record of value ``k`` went (its count just reached 0): ``k`` is no longer present."""
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


EMPTY = 1 << 62  # a usage count with no candidate: above every lastUsed key (-1 is "never used")
LEAVES_ONLY = 64  # up to this many usage-count slots a scan of the leaves beats the tree walk


class MinTree:
    """Minimum lastUsed key per usage count, and the next usage count whose minimum is under a bound.

    Walking ``first_below`` from the lowest usage count with a falling bound visits exactly the Pareto
    staircase of (lastUsed, usage count): O(S log U) for S staircase points, however many usage counts
    have candidates (the old scan over every count was O(U) per deletion: O(n^2) when counts are distinct).

    ``leaves_only`` (at most :data:`LEAVES_ONLY` usage counts): only the leaves are kept, for a scan of
    them (in :meth:`Ranker.take`); ``first_below`` is then not available.
    """

    __slots__ = ("leaves_only", "size", "t")

    def __init__(self, n: int) -> None:
        size = 1
        while size < n:
            size <<= 1
        self.size = size
        self.leaves_only = size <= LEAVES_ONLY
        # leaves only: a sentinel after the last leaf ends a scan (every bound it is compared with is >= -1)
        self.t = [EMPTY] * (2 * size) + ([-2] if self.leaves_only else [])

    def copy(self) -> MinTree:
        m = MinTree.__new__(MinTree)
        m.size, m.t, m.leaves_only = self.size, self.t.copy(), self.leaves_only
        return m

    def set(self, i: int, v: int) -> None:
        t = self.t
        i += self.size
        t[i] = v
        if self.leaves_only:
            return
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
        assert not self.leaves_only
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


ALL = frozenset({(-2, -2)})  # tie episode over every candidate (the NaN scores of v0.13-v0.21)


class Ranker:
    """Candidates with dense ranks of lastUsedAt and usage count, and the lowest score on demand.

    Keys are (lastUsed index, usage-count index) into the values present when the rule starts (records
    only ever leave, and the parents that join were present). Per key a heap of ids (the tie-break: the
    smallest id), per usage count a lazy heap of lastUsed keys feeding :class:`MinTree`, and a
    :class:`DenseRank` per axis for the ranks. One deletion costs O(S log n), S the size of the
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
        recs = all_records if isinstance(all_records, list) else list(all_records)
        self.base = base
        lu_set = set(map(attrgetter("last_used_ns"), recs))
        lu_set.discard(None)
        lu_vals: list[int] = sorted(lu_set)
        self._bump_from = 1 << 100  # lastUsed values from here on are bumps, indexed after the others
        self._n_real = n_lu = len(lu_vals)
        if isinstance(bump_lu, range) and bump_lu.step == 1 and (not lu_vals or lu_vals[-1] < bump_lu.start):
            if bump_lu:  # bumps come after every use: their index is n_real + (value - start)
                self._bump_from = bump_lu.start
                n_lu += len(bump_lu)
        else:
            lu_vals = sorted(lu_set.union(bump_lu))
            self._n_real = n_lu = len(lu_vals)
        self.lu_index: dict[int | None, int] = dict(zip(lu_vals, range(len(lu_vals)), strict=True))
        uc_vals = sorted(set(map(attrgetter("usage_count"), recs)).union((0,), bump_uc))
        self.uc_index = dict(
            zip(uc_vals, range(len(uc_vals)), strict=True)
        )  # index 0 is usage count 0 (rank 0)
        self.lu = DenseRank(n_lu)  # non-nil lastUsed values of the candidates
        self.uc = DenseRank(len(uc_vals), zero_first=True)  # their usage counts
        self.by_uc: list[list[int]] = [[] for _ in uc_vals]  # lazy heaps of lastUsed keys
        self.mins = MinTree(len(uc_vals))
        self.ids: dict[tuple[int, int], list[str]] = {}  # key -> heap of ids
        self.n = 0  # candidates
        # id -> key of every candidate, kept only once the NaN order needs it (see _members)
        self.members: dict[str, tuple[int, int]] | None = None
        # lazy heap of every candidate id (the tie-break when all scores are NaN), made when first needed
        self.all_ids: list[str] | None = None
        self.episodes: list[list[str]] = []
        self._ucr: list[int] = []  # rank per usage-count index (a few dozen counts), see take
        self._ucr_at = -1  # len(self.uc.log) when _ucr was built
        self._ucp: list[float] = []  # _ucr[k] / B: the usage part of the score per count
        # per usage count (see take): the lastUsed key of its last rank, that rank (base added)
        # and len(self.lu.log) when it was right
        self._pt_lk = [-2] * len(uc_vals)
        self._pt_a = [0] * len(uc_vals)
        self._pt_at = [0] * len(uc_vals)
        self._fresh: list[int] = []  # usage counts whose rank the last walk brought up to date
        self._ep_keys: frozenset[tuple[int, int]] | None = None
        self._ep_pending: list[str] = []

    def add(self, r: CacheRecord) -> None:
        v = r.last_used_ns
        if v is None:
            lk = -1
        elif v >= self._bump_from:
            lk = self._n_real + (v - self._bump_from)
        else:
            lk = self.lu_index[v]
        uk = self.uc_index[r.usage_count]
        key = (lk, uk)
        rid = r.id
        self.n += 1
        if self.members is not None:
            self.members[rid] = key
        if self.all_ids is not None:
            heapq.heappush(self.all_ids, rid)
        heap = self.ids.get(key)
        if heap is None:
            self.ids[key] = [rid]
            heapq.heappush(self.by_uc[uk], lk)
            mins = self.mins
            if lk < mins.t[mins.size + uk]:
                mins.set(uk, lk)
        else:
            heapq.heappush(heap, rid)
        if lk >= 0:
            lu = self.lu
            cnt = lu.count
            cnt[lk] += 1
            if cnt[lk] == 1:  # lu.add(lk) -> Presence.add(lk, 1), inlined
                tree = lu.tree
                b = lk >> 12
                tree.blocks[b] ^= 1 << (lk & 4095)
                tree.counts[b] += 1
                tree.groups[b >> 6] += 1
                lu.distinct += 1
                lu.log.append(lk)
            if self._fresh and cnt[lk] == 1:  # lk came: the ranks the last walk used, kept up to date
                n_lu = len(lu.log)
                pt_lk, pt_a, pt_at = self._pt_lk, self._pt_a, self._pt_at
                for u in self._fresh:
                    if pt_at[u] == n_lu - 1:
                        if pt_lk[u] >= lk:
                            pt_a[u] += 1
                        pt_at[u] = n_lu
        uc = self.uc
        if uc.count[uk]:
            uc.count[uk] += 1  # uc.add(uk) when the count is present already (nothing else changes)
        else:
            uc.add(uk)
        ep = self._ep_keys
        if ep is not None and (ep is ALL or key in ep):
            self._ep_pending.append(rid)

    def add_many(self, recs: list[CacheRecord]) -> None:
        """:meth:`add` of every initial candidate at once, before any :meth:`take`: the same structures
        built in linear time (heapify, presence counted in one pass) instead of one push each."""
        if self.n or self._ep_keys is not None:
            for r in recs:
                self.add(r)
            return
        by_uc = self.by_uc
        lu_index = self.lu_index
        lu_index[None] = -1  # never used (add() looks up only values; the key None is never asked there)
        lks = list(map(lu_index.__getitem__, map(_LAST_USED, recs)))
        uks = list(map(self.uc_index.__getitem__, map(_USAGE, recs)))
        keys = list(zip(lks, uks, strict=True))
        rids = list(map(_ID, recs))
        self.n = len(rids)
        ids = dict(zip(keys, [[rid] for rid in rids], strict=True))
        if len(ids) != len(rids):  # keys shared by several candidates: gather them
            ids = {}
            for rid, key in zip(rids, keys, strict=True):
                lst = ids.get(key)
                if lst is None:
                    ids[key] = [rid]
                else:
                    lst.append(rid)
            for lst in ids.values():
                if len(lst) > 1:
                    heapq.heapify(lst)
        self.ids = ids
        for lk, uk in ids:
            by_uc[uk].append(lk)
        lu_count, uc_count = self.lu.count, self.uc.count
        for k, c in Counter(lks).items():
            if k >= 0:
                lu_count[k] = c
        for k, c in Counter(uks).items():
            uc_count[k] = c
        mins = self.mins
        for uk, h in enumerate(by_uc):
            if h:
                heapq.heapify(h)
                mins.set(uk, h[0])
        self.lu.build()
        self.uc.build()

    def copy(self) -> Ranker:
        """An independent copy (the value indexes are shared: they are never changed): the second run of
        an unknown daemon start begins its first rule from the same candidates as the first run."""
        r = Ranker.__new__(Ranker)
        r.base, r.lu_index, r.uc_index = self.base, self.lu_index, self.uc_index
        r._bump_from, r._n_real = self._bump_from, self._n_real
        r.lu, r.uc, r.mins = self.lu.copy(), self.uc.copy(), self.mins.copy()
        r.by_uc = [h.copy() for h in self.by_uc]
        r.ids = {k: v.copy() for k, v in self.ids.items()}
        r.n, r.members = self.n, None if self.members is None else self.members.copy()
        r.all_ids = None if self.all_ids is None else self.all_ids.copy()
        r.episodes = [e.copy() for e in self.episodes]
        r._ucr, r._ucr_at, r._ucp = self._ucr, self._ucr_at, self._ucp  # rebuilt, never changed in place
        r._pt_lk, r._pt_a, r._pt_at = self._pt_lk.copy(), self._pt_a.copy(), self._pt_at.copy()
        r._fresh = self._fresh.copy()
        r._ep_keys, r._ep_pending = self._ep_keys, self._ep_pending.copy()
        return r

    def _remove(self, rid: str) -> None:
        """Remove ``rid``, which is the smallest id of its key (the only ids ``take`` removes)."""
        lk, uk = key = self._members().pop(rid)
        self.n -= 1
        heap = self.ids[key]
        heapq.heappop(heap)
        if not heap:
            del self.ids[key]
            h = self.by_uc[uk]
            while h and (h[0], uk) not in self.ids:
                heapq.heappop(h)
            self.mins.set(uk, h[0] if h else EMPTY)
        if lk >= 0:
            self.lu.remove(lk)
        self.uc.remove(uk)

    def __len__(self) -> int:
        return self.n

    def _members(self) -> dict[str, tuple[int, int]]:
        """Every candidate's key by id, made from ``ids`` when first needed (the NaN order), then kept."""
        if self.members is None:
            self.members = {i: k for k, v in self.ids.items() for i in v}
        return self.members

    def remaining(self) -> set[str]:
        """The ids of the candidates left."""
        return {i for v in self.ids.values() for i in v}

    def take(self) -> tuple[str, float, int]:
        """Remove and return the candidate BuildKit deletes next: (id, its score, how many it ties with).

        Among equal scores the smallest id is taken here; the group is recorded in ``episodes``.
        """
        base = self.base
        big_a = self.lu.distinct + base
        big_b = self.uc.distinct + base
        if big_a == 0 or big_b == 0:
            # v0.13-v0.21: maxIndex 0 makes every score 0/0 = NaN: the order is arbitrary
            members = self._members()
            h = self.all_ids
            if h is None:
                h = self.all_ids = list(members)
                heapq.heapify(h)
            while h[0] not in members:
                heapq.heappop(h)
            rid = h[0]
            n_tied = self.n - 1
            self._episode(ALL if n_tied else None)
            self._remove(rid)
            return rid, math.nan, n_tied
        lu, uc = self.lu, self.uc
        if self.mins.leaves_only:
            # _walk_tree for a few dozen usage counts, inlined (once per deletion): a scan of the MinTree
            # leaves. The lastUsed rank of each count's least recently used candidate is kept per count with the length
            # of the presence log when it was right; one presence change moves a rank by at most 1, so a few
            # changes are replayed, and after ``d`` changes the exact score scaled by ``A*B`` (the integer
            # ``a*B + b*A``; distinct exact scores keep their order in float64, see the module doc of
            # :mod:`cacheinspect.gc.simulate`) is at least ``(a-d)*B + b*A``: a point whose bound is above the
            # best score found so far cannot be lowest or tie and is not evaluated. Same visits, same scores
            # for every point that can be lowest, same ties as the tree walk.
            base = self.base
            lu, uc = self.lu, self.uc
            n_uc = len(uc.log)
            if self._ucr_at != n_uc:
                # every usage count's rank (base added) and score part, rebuilt when a count comes or goes
                # (rarely: a few dozen counts); rank 0 for index 0, the count 0 (see DenseRank zero_first)
                self._ucr = [uc.rank(k) + base for k in range(len(uc.count))]
                self._ucp = [b / big_b for b in self._ucr]
                self._ucr_at = n_uc
            ucr, ucp, pt_lk, pt_a, pt_at = self._ucr, self._ucp, self._pt_lk, self._pt_a, self._pt_at
            t, size = self.mins.t, self.mins.size
            end = 2 * size  # t[end] is the sentinel
            lu_log = lu.log
            n_lu = len(lu_log)
            prefix = lu.tree.prefix
            a_min = base / big_a
            best: list[tuple[int, int]] = []
            best_score = math.inf
            best_s = EMPTY * EMPTY  # the best score scaled by A*B; above every scaled one until found
            bound = EMPTY
            i = size
            self._fresh = fresh = []
            while True:
                # first leaf from i whose minimum lastUsed key is < bound (see MinTree.first_below)
                while t[i] >= bound:
                    i += 1
                if i == end:
                    break
                uk = i - size
                bp = ucp[uk]
                if a_min + bp > best_score:
                    # later staircase points have larger usage ranks and a lastUsed rank >= base: none can
                    # reach the best score (float rounding is monotone, so this holds for Go's floats too)
                    break
                lk = t[i]
                if pt_lk[uk] == lk:  # (pt_lk is never -1)
                    a = pt_a[uk]
                    at = pt_at[uk]
                    if at != n_lu:
                        d = n_lu - at
                        if (a - d) * big_b + ucr[uk] * big_a > best_s:
                            bound = lk  # above the best score: cannot be lowest, not on the way to it
                            i += 1
                            continue
                        if d <= 8:  # DenseRank.rank's update from the log
                            for x in lu_log[at:]:
                                if x >= 0:
                                    if x <= lk:
                                        a += 1
                                elif ~x <= lk:
                                    a -= 1
                        else:
                            a = prefix(lk) + base
                        pt_a[uk], pt_at[uk] = a, n_lu
                elif lk >= 0:
                    a = prefix(lk) + base
                    pt_lk[uk], pt_a[uk], pt_at[uk] = lk, a, n_lu
                else:  # never used: rank base, and nothing is below it (the last staircase point)
                    score = a_min + bp  # base / A + b / B, float64 as Go computes it
                    if score < best_score:
                        best, best_score = [(lk, uk)], score
                    elif score == best_score:
                        best.append((lk, uk))
                    break
                fresh.append(uk)
                score = a / big_a + bp  # float64, as Go computes it
                if score < best_score:
                    best, best_score, best_s = [(lk, uk)], score, a * big_b + ucr[uk] * big_a
                elif score == best_score:
                    best.append((lk, uk))
                bound = lk
                i += 1
        else:
            best, best_score = self._walk_tree(big_a, big_b)
        if len(best) == 1:
            key = best[0]
            key_ids = self.ids[key]
            rid, n_tied = key_ids[0], len(key_ids) - 1
        else:
            key = min(best, key=lambda k: self.ids[k][0])
            key_ids = self.ids[key]
            rid = key_ids[0]
            n_tied = sum(len(self.ids[k]) for k in best) - 1
        if n_tied or self._ep_keys is not None:
            self._episode(frozenset(best) if n_tied else None)
        # self._remove(rid), inlined (once per deletion)
        ids = self.ids
        self.n -= 1
        if self.members is not None:
            del self.members[rid]
        lk, uk = key
        if lk >= 0:
            cnt = lu.count
            cnt[lk] -= 1
            if not cnt[lk]:  # lu.remove(lk) -> remove_last -> Presence.add(lk, -1), inlined
                tree = lu.tree
                b = lk >> 12
                tree.blocks[b] ^= 1 << (lk & 4095)
                tree.counts[b] -= 1
                tree.groups[b >> 6] -= 1
                lu.distinct -= 1
                lu.log.append(~lk)
                n_lu = len(lu.log)
                pt_lk, pt_a, pt_at = self._pt_lk, self._pt_a, self._pt_at
                for u in self._fresh:  # the ranks the walk used, kept up to date (its log replay)
                    if pt_at[u] == n_lu - 1:
                        if pt_lk[u] >= lk:
                            pt_a[u] -= 1
                        pt_at[u] = n_lu
        cnt = uc.count
        cnt[uk] -= 1
        if not cnt[uk] and uk:  # uc.remove(uk) inlined; index 0 (usage count 0) has no rank
            uc.remove_last(uk)
        if len(key_ids) > 1:
            heapq.heappop(key_ids)
            return rid, best_score, n_tied
        del ids[key]
        lu_keys = self.by_uc[uk]
        heapq.heappop(lu_keys)  # lk: the top (the leaf the walk read is the top of its heap)
        while lu_keys and (lu_keys[0], uk) not in ids:  # keys _remove left behind
            heapq.heappop(lu_keys)
        v = lu_keys[0] if lu_keys else EMPTY
        mins = self.mins
        if not mins.leaves_only:
            mins.set(uk, v)
            return rid, best_score, n_tied
        mins.t[mins.size + uk] = v  # MinTree.set, inlined
        pt_lk, pt_a, pt_at = self._pt_lk, self._pt_a, self._pt_at
        n_lu = len(lu.log)
        if 0 <= lk < v < EMPTY and lk >> 12 == v >> 12 and pt_lk[uk] == lk and pt_at[uk] == n_lu:
            # the count's next key: its rank from the one just taken (walked, so up to date) and the
            # present keys in between, when they share a block of the presence bits (the usual case)
            lo = lk + 1
            between = (lu.tree.blocks[lo >> 12] >> (lo & 4095)) & ((1 << (v - lk)) - 1)
            pt_a[uk] += between.bit_count()
            pt_lk[uk] = v
        return rid, best_score, n_tied

    def _walk_tree(self, big_a: int, big_b: int) -> tuple[list[tuple[int, int]], float]:
        """The lowest score and the staircase points that have it, for many usage counts."""
        # The staircase walk of :meth:`MinTree.first_below` and the cached ranks of
        # :meth:`DenseRank.rank`, inlined: this loop runs once per deletion, visiting a few points each,
        # and the calls were most of its cost. Same arithmetic, same order of visits.
        base = self.base
        best: list[tuple[int, int]] = []
        best_score = math.inf
        bound = EMPTY
        pos = 0
        lu, uc = self.lu, self.uc
        t, size = self.mins.t, self.mins.size
        lu_cache, uc_cache, lu_log = lu.cache, uc.cache, lu.log
        n_lu, n_uc = len(lu_log), len(uc.log)
        while bound >= 0:  # nothing is below "never used"
            # first position >= pos whose minimum lastUsed key is < bound (see MinTree.first_below)
            if pos >= size:
                break
            i = pos + size
            while t[i] >= bound:
                while i & 1:  # a right child: its parent's right part is done, climb
                    i >>= 1
                if i == 0:
                    break
                i += 1
            if i == 0:
                break
            while i < size:
                i <<= 1
                if t[i] >= bound:
                    i += 1
            uk = i - size
            if uk:
                hit = uc_cache.get(uk)
                b = (hit[0] if hit is not None and hit[1] == n_uc else uc.rank(uk)) + base
            else:
                b = base
            if base / big_a + b / big_b > best_score:
                # later staircase points have larger usage ranks and a lastUsed rank >= base: none can
                # reach the best score (float rounding is monotone, so this holds for Go's floats too)
                break
            lk = t[i]
            if lk >= 0:
                hit = lu_cache.get(lk)
                if hit is None:
                    a = lu.rank(lk) + base
                else:
                    a, at = hit
                    if at != n_lu:  # DenseRank.rank's update from the log, inlined
                        if n_lu - at <= 8:
                            for x in lu_log[at:]:
                                if x >= 0:
                                    if x <= lk:
                                        a += 1
                                elif ~x <= lk:
                                    a -= 1
                        else:
                            a = lu.tree.prefix(lk)
                        lu_cache[lk] = (a, n_lu)
                    a += base
            else:
                a = base
            score = a / big_a + b / big_b  # float64, as Go computes it
            if score < best_score:
                best, best_score = [(lk, uk)], score
            elif score == best_score:
                best.append((lk, uk))
            bound, pos = lk, uk + 1
        return best, best_score

    def _episode(self, keys: frozenset[tuple[int, int]] | None) -> None:
        """Extend the current tie episode while the tied keys stay within (or join) it; else start one."""
        ep = self._ep_keys
        if keys is None:
            self._ep_keys = None
        elif ep is not None and (keys is ep or (ep is not ALL and keys is not ALL and keys & ep)):
            fresh = sorted(i for k in keys - ep for i in self.ids[k]) if keys is not ep else []
            self.episodes[-1].extend(self._ep_pending)
            self.episodes[-1].extend(fresh)
            if fresh or not keys <= ep:
                self._ep_keys = ep | keys
        else:
            if keys is ALL:
                ids = sorted(self._members())
            else:
                ids = sorted(i for k in keys for i in self.ids[k])
            self.episodes.append(ids)
            self._ep_keys = keys
        self._ep_pending = []
