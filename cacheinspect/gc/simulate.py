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
deletes most of n records). Here the minimum is found on the Pareto staircase of (lastUsed, usage
count): a score increases with either rank, so only a candidate that no other beats on both can be
lowest, and per distinct usage count only its least recently used candidate can be on it. A min-segment
tree over usage counts walks the staircase (:class:`~cacheinspect.gc.ranking.MinTree`; a scan of its
leaves for a few dozen counts), presence bits counted in blocks give the dense ranks
(:class:`~cacheinspect.gc.ranking.DenseRank`, :class:`~cacheinspect.gc.ranking.Presence`; per usage
count the rank of its oldest candidate is kept up to date across deletions), and the walk stops once a
usage rank alone puts every later point above the best score: one deletion costs O(S log n), S the
staircase size (at most the
distinct usage counts among the candidates, a few dozen in real caches; 1 when usage counts rise with
lastUsed, where a scan over every count present would be O(n) per deletion), giving the same deletions,
in the same order, as the daemon. Distinct exact scores differ by at least 1/(A*B) (A, B the rank
maxima), far above float64 rounding, so only exactly-equal scores can tie, and
the comparison of those is done in float64 as Go does it. (The same gap lets the walk skip a point whose
integer score ``a*B + b*A``, bounded from a rank a few presence changes old, is above the best found.)

With the daemon's start unknown (``loaded=None``) both runs start from the same state: the second copies
the first's state and its first rule's ranking as built before any deletion, and keeps only its order.

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

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields, make_dataclass, replace
from itertools import chain, filterfalse
from operator import attrgetter
from typing import Any

from cacheinspect.errors import UsageError
from cacheinspect.gc.filters import FilterItem, matches, parse_filters
from cacheinspect.gc.policy import Disk, Policy, PruneRule
from cacheinspect.gc.ranking import Ranker
from cacheinspect.gc.records import CacheRecord, new_record, paused_gc
from cacheinspect.gc.units import format_bytes, format_duration, format_pair
from cacheinspect.gc.versions import Semantics

__all__ = ["SCHEMA", "Deletion", "RuleResult", "SimulationResult", "keep_bytes_for", "simulate"]

SCHEMA = "cacheinspect.gc-simulate/v1"
_ID, _PARENTS, _SHARED, _SIZE = (
    attrgetter("id"),
    attrgetter("parents"),
    attrgetter("shared"),
    attrgetter("size"),
)
_CREATED, _CREATED_ID = attrgetter("created_ns"), attrgetter("created_ns", "id")


@dataclass(frozen=True, slots=True)
class Deletion:
    """One record a rule deletes, and why it went when it did."""

    id: str
    type: str
    size: int
    reason: str


#: Deletion's slots without the frozen check, only to build deletions (see new_deletion)
_DeletionBuilder: Any = make_dataclass(
    "_DeletionBuilder", [(f.name, f.type) for f in fields(Deletion)], slots=True
)


def new_deletion(rid: str, typ: str, size: int, reason: str) -> Deletion:
    """``Deletion(...)`` in about half the time (one per deletion of a large prune), made as
    :func:`~cacheinspect.gc.records.new_record` makes records: a plain twin, re-classed."""
    d = _DeletionBuilder(rid, typ, size, reason)
    d.__class__ = Deletion
    return d  # type: ignore[no-any-return]


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

    def to_json(self, *, deletions_as_objects: bool = False) -> dict[str, object]:
        """The ``cacheinspect.gc-simulate/v1`` document (fields are only ever added).

        ``deletions_as_objects``: each deletion left as its :class:`Deletion` (fields in the same order as
        the object's keys), for an encoder that writes dataclasses (msgspec): the same JSON, without a
        dict per deletion."""
        return {
            "schema": SCHEMA,
            "buildkit_version": self.buildkit_version,
            "rules": [
                {
                    "rule": r.rule,
                    "deleted": list(r.deleted)
                    if deletions_as_objects
                    else [
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


class _State:
    """The records still alive, with children counts: what ``len(cr.refs) == 0`` sees.

    ``trig[p]`` counts the alive children of ``p`` that were loaded from the metadata DB (their parent
    ref triggers a lastUsed update on release); when it drops to 0 the parent is bumped.
    """

    def __init__(self, records: Sequence[CacheRecord], loaded: Collection[str], bump_from: int) -> None:
        self.by_id = dict(zip(map(_ID, records), records, strict=True))
        self.alive = set(self.by_id)
        self.kids = dict.fromkeys(self.by_id, 0)
        self.loaded = loaded
        self.trig: dict[str, int] = {}
        self.bump_at = bump_from  # lastUsed of the next bump: after every recorded use
        self.bumped: set[str] = set()
        self.all_loaded = False  # see restarted
        kids = self.kids
        for p in chain.from_iterable(map(_PARENTS, records)):
            if p in kids:
                kids[p] += 1
        if loaded:
            trig = self.trig
            for r in records:
                if r.id in loaded:
                    for p in r.parents:
                        if p in kids:
                            trig[p] = trig.get(p, 0) + 1

        self.unshared: int = sum(map(_SIZE, filterfalse(_SHARED, self.by_id.values())))

    def restarted(self, loaded: Collection[str]) -> _State:
        """A copy of this state, taken before any deletion, in which every record was loaded at daemon
        start (``loaded`` holds every id): the same counts, each parent's trigger count its children's."""
        st = _State.__new__(_State)
        st.by_id, st.alive, st.kids = self.by_id.copy(), self.alive.copy(), self.kids.copy()
        st.loaded, st.bump_at, st.bumped, st.unshared = loaded, self.bump_at, set(), self.unshared
        # every child loaded: a parent's trigger count is its children count (the same dict)
        st.trig, st.all_loaded = st.kids, True
        return st

    def total(self) -> int:
        """The sum of the alive non-shared sizes (kept up to date by :meth:`delete`; a bump keeps both)."""
        return self.unshared

    def delete(self, rid: str, gone: CacheRecord | None = None) -> Sequence[str]:
        """Remove a record (``gone``: its record, when the caller has it); return parents that became
        unreferenced (bumped first, see the module doc)."""
        alive = self.alive
        if gone is None:
            gone = self.by_id[rid]
        was = len(alive)
        alive.discard(rid)
        if len(alive) != was and not gone.shared:
            self.unshared -= gone.size
        if not gone.parents:
            return ()
        kids = self.kids
        freed = []
        if self.all_loaded:  # the loop below when trig is kids: the last child going bumps the parent
            for p in gone.parents:
                n = kids.get(p)
                if n is None:
                    continue
                kids[p] = n = n - 1
                if n == 0 and p in alive:
                    self._bump(p)
                    freed.append(p)
            return freed
        loaded = rid in self.loaded
        for p in gone.parents:
            n = kids.get(p)
            if n is None:
                continue
            kids[p] = n = n - 1
            if loaded and self.trig.get(p, 0) > 0:
                self.trig[p] -= 1
                if self.trig[p] == 0 and p in alive:
                    self._bump(p)
            if n == 0 and p in alive:
                freed.append(p)
        return freed

    def _bump(self, p: str) -> None:
        """Deleting the last loaded child of ``p`` counted as a use of it: usage count + 1, used now."""
        o = self.by_id[p]
        # dataclasses.replace(o, last_used_ns=..., usage_count=...), without its field-by-field look-ups
        self.by_id[p] = new_record(
            o.id, o.type, o.size, o.parents, o.description, o.in_use, o.shared,
            o.mutable, o.created_ns, self.bump_at, o.usage_count + 1, o.approximate,
        )  # fmt: skip
        self.bump_at += 1
        self.bumped.add(p)


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


def _candidate_test(
    st: _State, rule: PruneRule, items: tuple[FilterItem, ...], cutoff: int | None, sem: Semantics
) -> Callable[[CacheRecord], bool]:
    """:func:`_eligible` for one rule as one predicate: the checks a rule cannot fail are left out
    (every record is tested once when the rule starts, so the general form was a large share of it)."""
    kids = st.kids
    if rule.all or cutoff is not None or items:
        return lambda r: not _why_not(r, st, rule, items, cutoff, sem)
    return lambda r: (
        not r.in_use and not kids[r.id] and not r.shared and r.type != "internal" and r.type != "frontend"
    )


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
    with paused_gc():
        return _simulate_all(records, policy, now_ns, semantics, disk, loaded)


def _simulate_all(
    records: Sequence[CacheRecord],
    policy: Policy,
    now_ns: int,
    semantics: Semantics,
    disk: Disk | None,
    loaded: Collection[str] | None,
) -> SimulationResult:
    if loaded is not None:
        return _simulate(records, policy, now_ns, semantics, disk, loaded)
    # Both runs start from the same records: the second copies the first's state and its first rule's
    # ranking as they were before any deletion instead of building them again.
    st = _State(records, frozenset(), _bump_from(records, now_ns))
    ids = st.by_id.keys()  # its keys never change (a bump replaces a value)
    restart = st.restarted(ids)
    shared: list[Ranker] = []
    first = _simulate(records, policy, now_ns, semantics, disk, frozenset(), state=st, shared=shared)
    by_id = restart.by_id
    if not any(p in ids for d in first.deleted for p in by_id[d].parents):
        return first  # no deletion released a parent: a restart bumps nothing, same run
    other = _simulate(
        records, policy, now_ns, semantics, disk, ids, order_only=True, state=restart, shared=shared
    )
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


def _deletions_only(
    ranker: Ranker,
    st: _State,
    is_candidate: Callable[[CacheRecord], bool],
    total: int,
    keep: int,
    out: list[str],
) -> tuple[int, int]:
    """The size-target loop of :func:`_simulate` keeping only the order (appended to ``out``): the same
    deletions without the reasons; returns the total left and the bytes freed."""
    take, delete, by_id, add = ranker.take, st.delete, st.by_id, ranker.add
    freed = 0
    while total >= keep and ranker.n:
        rid = take()[0]
        out.append(rid)
        r = by_id[rid]
        freed += r.size
        total -= r.size
        for p in delete(rid, r):
            pr = by_id[p]
            if is_candidate(pr):
                add(pr)
    return total, freed


def _bump_from(records: Sequence[CacheRecord], now_ns: int) -> int:
    """The lastUsed of a restart run's first bump: after every recorded use and after now."""
    return max([now_ns, *(r.last_used_ns for r in records if r.last_used_ns is not None)]) + 1


def _simulate(
    records: Sequence[CacheRecord],
    policy: Policy,
    now_ns: int,
    semantics: Semantics,
    disk: Disk | None,
    loaded: Collection[str],
    *,
    order_only: bool = False,
    state: _State | None = None,
    shared: list[Ranker] | None = None,
) -> SimulationResult:
    """One run of the rules. ``order_only``: only ``deleted`` of the result is used (the restart run of an
    unknown start): no reasons, no rule results, no ties, no kept records are made. ``state``: the
    state made for ``loaded`` (before any deletion). ``shared``: the first rule's ranking is taken from
    it when there, else built for both restart cases and a copy left in it (see :func:`_simulate_all`)."""
    st = state if state is not None else _State(records, loaded, _bump_from(records, now_ns))
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
            is_candidate = _candidate_test(st, rule, items, cutoff, semantics)
            if shared and ri == 0:
                ranker = shared.pop()
            else:
                if shared is not None and ri == 0:
                    # before any deletion: the parents a restart run may bump are those with children
                    pending = [p for p, n in st.kids.items() if n > 0]
                else:
                    pending = [p for p, n in st.trig.items() if n > 0 and p in st.alive]
                alive_recs = list(map(st.by_id.__getitem__, st.alive))
                ranker = Ranker(
                    alive_recs,
                    semantics.rank_base,
                    range(st.bump_at, st.bump_at + len(pending)),
                    {st.by_id[p].usage_count + 1 for p in pending},
                )
                ranker.add_many(list(filter(is_candidate, alive_recs)))
                if shared is not None and ri == 0:
                    shared.append(ranker.copy())
            if order_only:
                total, freed = _deletions_only(ranker, st, is_candidate, total, keep, deleted_all)
                freed_total += freed
                results.append(RuleResult("", (), freed, keep, 0, ""))
                continue
            keep_text = format_bytes(keep)
            take, delete, by_id, add = ranker.take, st.delete, st.by_id, ranker.add
            append = dels.append
            while True:
                if total < keep:
                    t, k = format_pair(total, keep)
                    stopped = f"total {t} is under the target {k}"
                    at_stop = ranker.remaining()
                    break
                if not ranker.n:
                    t, k = format_pair(total, keep)
                    stopped = f"no candidates left (total {t}, target {k})"
                    break
                rid, score, n_tied = take()
                r = by_id[rid]
                t = format_bytes(total)
                if t == keep_text and total != keep:  # format_pair: exact bytes when they read the same
                    t, k = format_pair(total, keep)
                else:
                    k = keep_text
                reason = f"total {t} >= target {k}; lowest score {score:.6g}"
                if n_tied:
                    reason += f" (tied with {n_tied} other{'s' if n_tied > 1 else ''})"
                append(new_deletion(rid, r.type, r.size, reason))
                total -= r.size  # BuildKit subtracts every released size, shared or not
                for p in delete(rid, r):
                    pr = by_id[p]
                    if is_candidate(pr):
                        add(pr)
            ties.extend(tuple(e) for e in ranker.episodes)
        freed = sum(map(_SIZE, dels))
        freed_total += freed
        deleted_all.extend(map(_ID, dels))
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
    by_id, kids = st.by_id, st.kids
    order: Sequence[str] = ()
    if not order_only:
        alive = list(map(by_id.__getitem__, st.alive))
        if None in map(_CREATED, alive):  # None sorts as 0
            order = sorted(st.alive, key=lambda i: (by_id[i].created_ns or 0, i))
        else:  # the same order by C-level keys
            order = list(map(_ID, sorted(alive, key=_CREATED_ID)))
    if len(last_state) == 1:  # the loop below for one rule, without the list of reasons to join
        rule, items, cutoff, at_stop = last_state[0]
        for rid in order:
            r = by_id[rid]
            if r.in_use:
                kept.append((rid, "in use"))
            elif kids[rid] > 0:
                kept.append((rid, "parent of kept records"))
            elif rid in at_stop:
                kept.append((rid, "under the size target"))
            else:
                kept.append((rid, _why_not(r, st, rule, items, cutoff, semantics) or "under the size target"))
        order = ()
    for rid in order:
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
