"""After a daemon restart, deleting a record loaded from the metadata DB counts as a use of its parent.

The rule (cache/manager.go ``parentsOf`` passes ``append(opts, NoUpdateLastUsed)`` without ``...``, so
parent refs made at load trigger ``updateLastUsed`` on release; see :mod:`cacheinspect.gc.simulate`):
the parent's usage count goes up by one and its lastUsedAt becomes "now", when its last loaded child is
deleted. Expected orders below are worked by hand from that rule and ``sortDeleteRecords``.
"""

from __future__ import annotations

import pytest

from cacheinspect.gc.policy import Policy, PruneRule
from cacheinspect.gc.records import CacheRecord
from cacheinspect.gc.simulate import simulate
from cacheinspect.gc.versions import Semantics

V13 = Semantics((0, 13, 0), (26, 1, 0))
V25 = Semantics((0, 25, 0), (28, 5, 0))
S = 1_000_000_000
NOW = 2_000_000_000 * S


def rec(rid: str, lu: int, uc: int = 1, parents: tuple[str, ...] = ()) -> CacheRecord:
    return CacheRecord(rid, size=100, parents=parents, last_used_ns=NOW - lu * 3600 * S, usage_count=uc)


def run(recs: list[CacheRecord], rule: PruneRule, sem: Semantics, loaded: object) -> tuple[str, ...]:
    pol = Policy((rule,), "prune", "test")
    return simulate(recs, pol, now_ns=NOW, semantics=sem, loaded=loaded).deleted  # type: ignore[arg-type]


# P (oldest, 10h) <- K (9h); X (5h). Keep 100 of 300 bytes: two deletions.
CHAIN = [rec("P", 10), rec("K", 9, parents=("P",)), rec("X", 5)]


@pytest.mark.parametrize("sem", [V13, V25])
def test_size_target_same_lifetime_parent_follows_child(sem: Semantics) -> None:
    # K is the only old leaf: deleted first; P (10h ago) is then the least recently used: deleted next
    assert run(CHAIN, PruneRule(reserved_space=101), sem, frozenset()) == ("K", "P")


@pytest.mark.parametrize("sem", [V13, V25])
def test_size_target_after_restart_parent_moves_to_the_back(sem: Semantics) -> None:
    # K was loaded at start: deleting it makes P used "now" with 2 uses: X (5h ago, 1 use) goes instead
    assert run(CHAIN, PruneRule(reserved_space=101), sem, {"P", "K", "X"}) == ("K", "X")


def test_keep_duration_after_restart_keeps_the_parent() -> None:
    rule = PruneRule(keep_duration_ns=3600 * S)  # until=1h: every record is old enough
    assert run(CHAIN, rule, V25, frozenset()) == ("K", "X", "P")
    res = simulate(CHAIN, Policy((rule,), "prune", "t"), now_ns=NOW, semantics=V25, loaded={"P", "K", "X"})
    assert res.deleted == ("K", "X")
    assert dict(res.kept)["P"].startswith("too recent: deleting its child")


def test_child_made_after_the_restart_does_not_bump() -> None:
    # only records created before the daemon started were loaded: K was made in this lifetime
    assert run(CHAIN, PruneRule(reserved_space=101), V25, {"P", "X"}) == ("K", "P")


def test_parent_bumped_when_its_last_loaded_child_goes() -> None:
    # P has two loaded children; A goes first (oldest), P is still referenced by B, no bump yet; then B,
    # whose deletion bumps P: with until=1h P is then too recent and stays.
    recs = [rec("P", 20), rec("A", 19, parents=("P",)), rec("B", 18, parents=("P",))]
    rule = PruneRule(keep_duration_ns=3600 * S)
    assert run(recs, rule, V13, {"P", "A", "B"}) == ("A", "B")
    assert run(recs, rule, V13, frozenset()) == ("A", "B", "P")


def test_unknown_restart_reports_uncertain() -> None:
    pol = Policy((PruneRule(reserved_space=101),), "prune", "t")
    res = simulate(CHAIN, pol, now_ns=NOW, semantics=V25, loaded=None)
    assert res.deleted == ("K", "P")
    assert res.uncertain == ("P", "X")
    assert any("--daemon-started" in n for n in res.notes)
    assert res.to_json()["uncertain"] == ["P", "X"]


def test_unknown_restart_without_parents_is_certain() -> None:
    recs = [rec("A", 3), rec("B", 2)]
    pol = Policy((PruneRule(reserved_space=101),), "prune", "t")
    res = simulate(recs, pol, now_ns=NOW, semantics=V25, loaded=None)
    assert res.uncertain == () and res.deleted == ("A",)
