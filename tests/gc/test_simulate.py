"""The simulator against BuildKit's prune: hand-worked cases from cache/manager.go and a literal port."""

from __future__ import annotations

import random

import pytest

from cacheinspect.gc.policy import Disk, Policy, PruneRule
from cacheinspect.gc.records import CacheRecord
from cacheinspect.gc.simulate import keep_bytes_for, simulate
from cacheinspect.gc.versions import Semantics
from tests.gc.reference import prune_with_target

V13 = Semantics((0, 13, 0), (26, 1, 0))
V17 = Semantics((0, 17, 0))
V22 = Semantics((0, 22, 0))
S = 1_000_000_000
NOW = 2_000_000_000 * S


def rec(rid: str, size: int = 100, lu: int | None = 1, uc: int = 1, **kw: object) -> CacheRecord:
    return CacheRecord(rid, size=size, last_used_ns=None if lu is None else lu * S, usage_count=uc, **kw)  # type: ignore[arg-type]


def prune(*rules: PruneRule) -> Policy:
    return Policy(tuple(rules), "prune", "test")


def run(records: list[CacheRecord], rule: PruneRule, sem: Semantics = V13, disk: Disk | None = None):  # type: ignore[no-untyped-def]
    return simulate(records, prune(rule), now_ns=NOW, semantics=sem, disk=disk)


@pytest.mark.parametrize("sem", [V13, V22])
def test_rank_sum_order_and_tie(sem: Semantics) -> None:
    # A used first but 5 times, B and C once. v0.13 ranks (0-based): lastUsed A=1 B=2 C=3 (max 3), usage
    # B=C=1 A=2 (max 2): A=1/3+2/2=1.33, B=2/3+1/2=1.17, C=3/3+1/2=1.5 -> B. Then A: 1/2+2/2=1.5,
    # C: 2/2+1/2=1.5: a tie. v0.22 (1-based): A=2/4+3/3=1.5, B=3/4+2/3=1.42, C=4/4+2/3=1.67 -> B; then
    # A=2/3+3/3 = C=3/3+2/3: the same tie.
    recs = [rec("A", lu=1, uc=5), rec("B", lu=2, uc=1), rec("C", lu=3, uc=1)]
    res = run(recs, PruneRule(reserved_space=150), sem)
    assert res.deleted[0] == "B"
    assert res.ties == (("A", "C"),)
    assert len(res.deleted) == 2  # 300 -> 200 -> 100 < 150


def test_only_leaves_and_parent_follows_child() -> None:
    # P is oldest but has a child: K must go first, then P becomes a candidate.
    recs = [rec("P", lu=1), rec("K", lu=5, parents=("P",)), rec("X", lu=3)]
    res = run(recs, PruneRule(reserved_space=1))
    assert res.deleted == ("X", "K", "P")


def test_no_size_target_deletes_every_match_in_passes() -> None:
    recs = [
        rec("P", lu=1),
        rec("K", lu=5, parents=("P",)),
        rec("S", lu=2, shared=True),
        rec("I", lu=2, type="internal"),
        rec("U", lu=2, in_use=True),
    ]
    res = run(recs, PruneRule())
    assert res.deleted == ("K", "P")
    why = dict(res.kept)
    assert why["S"].startswith("shared") and why["I"].startswith("internal") and why["U"] == "in use"
    res_all = run(recs, PruneRule(all=True))
    assert set(res_all.deleted) == {"K", "P", "S", "I"}


def test_keep_duration_protects_recent_but_not_never_used() -> None:
    recs = [rec("old", lu=100), rec("new", lu=NOW // S - 10), rec("never", lu=None)]
    res = run(recs, PruneRule(keep_duration_ns=3600 * S))
    assert set(res.deleted) == {"old", "never"}
    assert "too recent" in dict(res.kept)["new"]


def test_filters_or_items_and_selectors() -> None:
    recs = [
        rec("a", type="exec.cachemount"),
        rec("b", type="source.local"),
        rec("c", type="regular"),
    ]
    assert set(run(recs, PruneRule(("type==exec.cachemount", "type==source.local"))).deleted) == {"a", "b"}
    # one comma-joined item is an AND of both: nothing (the default rule 1 trap)
    assert run(recs, PruneRule(("type==exec.cachemount,type==source.local",))).deleted == ()
    assert set(run(recs, PruneRule(("type!=regular",))).deleted) == {"a", "b"}
    assert run(recs, PruneRule(("parents",))).deleted == ()  # never exposed to the prune filter


def test_description_filter_only_since_v014() -> None:
    recs = [rec("a", description="local source for context")]
    rule = PruneRule(("description~=context",))
    assert run(recs, rule, V13).deleted == ()
    assert run(recs, rule, Semantics((0, 14, 0))).deleted == ("a",)


def test_total_counts_only_unshared_and_stops_under_target() -> None:
    recs = [rec("s", size=1000, shared=True), rec("a", size=100, lu=1), rec("b", size=100, lu=2)]
    res = run(recs, PruneRule(reserved_space=150))
    assert res.rules[0].total_before == 200  # the shared record does not count (pruneOnce)
    assert res.deleted == ("a",)  # 200 >= 150 -> delete a -> 100 < 150
    assert dict(res.kept)["b"] == "under the size target"


def test_v013_nan_scores_make_everything_a_tie() -> None:
    # all usage counts 0: maxUsageCountIndex stays 0 and 0/0 is NaN, so BuildKit's order is arbitrary
    recs = [rec("a", lu=1, uc=0), rec("b", lu=2, uc=0), rec("c", lu=3, uc=0)]
    res = run(recs, PruneRule(reserved_space=250), V13)
    assert res.ties and set(res.ties[0]) == {"a", "b", "c"}
    res22 = run(recs, PruneRule(reserved_space=250), V22)
    assert res22.deleted == ("a",) and not res22.ties


def test_calculate_keep_bytes_versions() -> None:
    rule = PruneRule(min_free_space=10 * S)
    # v0.17-v0.20: free space already above minFree and no other size: target 0 = delete every match
    assert keep_bytes_for(rule, 5000, V17, disk_free=20 * S) == 0
    assert keep_bytes_for(rule, 5000, V22, disk_free=20 * S) == 5000
    # free space short by 3000: keep total-excess, but never below reservedSpace
    r2 = PruneRule(reserved_space=1000, max_used_space=9000, min_free_space=10_000)
    assert keep_bytes_for(r2, 5000, V22, disk_free=7000) == 2000
    assert (
        keep_bytes_for(PruneRule(reserved_space=1000, min_free_space=10_000), 2500, V22, disk_free=7000)
        == 1000
    )
    # before v0.17 only field 4 (keepBytes) exists
    assert keep_bytes_for(r2, 5000, V13, disk_free=7000) == 1000


def _random_records(rng: random.Random, n: int) -> list[CacheRecord]:
    out: list[CacheRecord] = []
    for i in range(n):
        parent = out[rng.randrange(len(out))].id if out and rng.random() < 0.4 else None
        out.append(
            CacheRecord(
                f"r{i:04d}",
                type=rng.choice(["regular", "regular", "source.local", "exec.cachemount", "internal"]),
                size=rng.choice([0, 4096, 8192, rng.randrange(1, 10**6)]),
                parents=(parent,) if parent else (),
                shared=rng.random() < 0.1,
                in_use=rng.random() < 0.05,
                last_used_ns=None if rng.random() < 0.05 else rng.randrange(1, 40) * S,
                usage_count=rng.choice([0, 1, 1, 2, 3, rng.randrange(1, 20)]),
            )
        )
    return out


@pytest.mark.parametrize("sem", [V13, V22])
@pytest.mark.parametrize("seed", range(12))
def test_matches_literal_port_of_buildkit(sem: Semantics, seed: int) -> None:
    rng = random.Random(seed)
    recs = _random_records(rng, rng.randrange(5, 120))
    total = sum(r.size for r in recs if not r.shared)
    keep = max(1, int(total * rng.choice([0.1, 0.5, 0.9])))
    all_ = seed % 3 == 0

    def candidate(r: CacheRecord) -> bool:
        return not r.in_use and (all_ or (r.type not in ("internal", "frontend") and not r.shared))

    expect_order, expect_ties = prune_with_target(
        recs, keep, one_based=sem.rank_base == 1, candidate=candidate
    )
    res = run(recs, PruneRule(all=all_, reserved_space=keep), sem)
    assert list(res.deleted) == expect_order
    assert {i for t in res.ties for i in t} == {i for t in expect_ties for i in t}


def test_mutable_filter_without_mutable_field() -> None:
    # Engine API records carry no Mutable; contexts and cache mounts are BuildKit's mutable records
    recs = [rec("m", type="exec.cachemount"), rec("l", type="source.local"), rec("r", type="regular")]
    assert set(run(recs, PruneRule(("mutable",))).deleted) == {"m", "l"}
    assert run(recs, PruneRule(("immutable",))).deleted == ("r",)
    recs2 = [rec("x", type="regular", mutable=True)]
    assert run(recs2, PruneRule(("mutable",))).deleted == ("x",)
