"""The optimised simulator against the one it replaced (tests/gc/simulate_prev.py): on random dumps, every
rule shape, every BuildKit ranking and every restart case, the whole result must be the same document."""

from __future__ import annotations

import random

import pytest

from cacheinspect.gc.policy import Disk, Policy, PruneRule
from cacheinspect.gc.records import CacheRecord
from cacheinspect.gc.simulate import simulate
from cacheinspect.gc.versions import Semantics
from tests.gc import simulate_prev

S = 1_000_000_000
NOW = 2_000_000_000 * S
SEMS = [
    Semantics((0, 13, 0), (26, 1, 0)),
    Semantics((0, 17, 0)),
    Semantics((0, 22, 0)),
    Semantics((0, 25, 2)),
]


def _records(rng: random.Random, n: int) -> list[CacheRecord]:
    """Chains and forests (a child holds its parent), few or many distinct times and usage counts."""
    out: list[CacheRecord] = []
    lu_span = rng.choice([3, 40, 10_000])
    uc_span = rng.choice([2, 6, 1_000])
    for i in range(n):
        parents: tuple[str, ...] = ()
        if out and rng.random() < 0.6:
            parents = (rng.choice(out[-8:]).id,)
            if rng.random() < 0.05:
                parents += ("missing",)
        out.append(
            CacheRecord(
                f"r{rng.randrange(10**6):06d}{i}",
                type=rng.choice(["regular", "regular", "source.local", "exec.cachemount", "internal"]),
                size=rng.choice([0, 1, 100, rng.randrange(1, 10**6)]),
                parents=parents,
                shared=rng.random() < 0.1,
                in_use=rng.random() < 0.03,
                created_ns=rng.randrange(1, 50) * S,
                last_used_ns=None if rng.random() < 0.05 else rng.randrange(1, lu_span) * S,
                usage_count=rng.randrange(0, uc_span),
            )
        )
    return out


def _policy(rng: random.Random, total: int) -> Policy:
    rules = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        frac = rng.choice([0.0, 0.1, 0.5, 0.9])
        rules.append(
            PruneRule(
                filters=rng.choice(
                    [(), (), ("type==regular",), ("type==source.local", "type==exec.cachemount")]
                ),
                all=rng.random() < 0.3,
                keep_duration_ns=rng.choice([0, 0, 20 * S]),
                reserved_space=int(total * frac),
                max_used_space=rng.choice([0, int(total * 0.7)]),
                min_free_space=rng.choice([0, 0, total // 3]),
            )
        )
    return Policy(tuple(rules), "prune", "differential")


@pytest.mark.parametrize("seed", range(60))
def test_same_result_as_the_previous_simulator(seed: int) -> None:
    rng = random.Random(seed)
    recs = _records(rng, rng.randrange(1, 300))
    total = sum(r.size for r in recs if not r.shared)
    pol = _policy(rng, total)
    sem = rng.choice(SEMS)
    disk = Disk(total=total * 4, free=rng.randrange(0, total + 2))
    ids = [r.id for r in recs]
    for loaded in (frozenset(), frozenset(ids), frozenset(rng.sample(ids, len(ids) // 2)), None):
        new = simulate(recs, pol, now_ns=NOW, semantics=sem, disk=disk, loaded=loaded)
        old = simulate_prev.simulate(recs, pol, now_ns=NOW, semantics=sem, disk=disk, loaded=loaded)
        assert new.to_json() == old.to_json()


@pytest.mark.parametrize("seed", range(40))
def test_same_result_with_many_never_used_records(seed: int) -> None:
    """Most or all lastUsed missing and few usage counts: the NaN scores of v0.13-v0.21 (every candidate
    ties; the ranking then builds its id map and tie-break heap on demand) mixed with ranked deletions."""
    rng = random.Random(1000 + seed)
    out: list[CacheRecord] = []
    none_p = rng.choice([0.5, 0.9, 1.0])
    for i in range(rng.randrange(1, 300)):
        parents = (rng.choice(out[-8:]).id,) if out and rng.random() < 0.6 else ()
        out.append(
            CacheRecord(
                f"r{rng.randrange(10**6):06d}{i}",
                type=rng.choice(["regular", "source.local"]),
                size=rng.choice([0, 1, rng.randrange(1, 10**6)]),
                parents=parents,
                shared=rng.random() < 0.1,
                created_ns=rng.randrange(1, 50) * S,
                last_used_ns=None if rng.random() < none_p else rng.randrange(1, 10_000) * S,
                usage_count=rng.randrange(0, rng.choice([1, 2, 5])),
            )
        )
    total = sum(r.size for r in out if not r.shared)
    pol = _policy(rng, total)
    sem = rng.choice(SEMS)
    disk = Disk(total=total * 4, free=rng.randrange(0, total + 2))
    ids = [r.id for r in out]
    for loaded in (frozenset(), frozenset(ids), None):
        new = simulate(out, pol, now_ns=NOW, semantics=sem, disk=disk, loaded=loaded)
        old = simulate_prev.simulate(out, pol, now_ns=NOW, semantics=sem, disk=disk, loaded=loaded)
        assert new.to_json() == old.to_json()
