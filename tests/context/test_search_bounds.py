"""Issue 17: the single-change search is bounded by work, not by path depth.

A flat directory of n files makes each candidate there re-hash the directory (its digest covers every
child's name and digest), so trying every candidate is n^2: 241 s of CPU for 10k files. The default
budget is proportional to the tree (about what a fingerprint of it costs); when it runs out the search
says ``stopped`` and explains nothing, and it never guesses. No timing here: the work is counted.
"""

from __future__ import annotations

import pytest

from cacheinspect.context import search
from cacheinspect.context.checksum import RuleSet, Selector, checksum, root_digest
from cacheinspect.context.search import Explanation, search_single_change
from cacheinspect.context.tree import ContextTree, Entry

RULES = RuleSet.V0_10
DATA = Selector("/data")


def flat(n: int) -> ContextTree:
    files = {f"/data/f{i:05d}": Entry.file(b"x\n" * 3) for i in range(n)}
    return ContextTree({"/data": Entry.dir(), **files})


def root_of(tree: ContextTree) -> str:
    return root_digest([checksum(tree, DATA, RULES)])


def test_wide_directory_miss_stops_within_a_budget_linear_in_the_tree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spent: list[tuple[int, int, int]] = []
    real = search._Roots

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, **k)
            spent.append((0, 0, 0))

        def root(self, changes: dict[str, Entry | None]) -> str | None:
            got = super().root(changes)
            spent[-1] = (self.work, self.budget, len(self.view))
            return got

    monkeypatch.setattr(search, "_Roots", Spy)
    for n in (2_000, 8_000):
        b = flat(n)
        # two files differ: no single change reproduces A's root
        a = b.replace_entries({"/data/f00000": Entry.file(b"y"), "/data/f00001": Entry.file(b"z")})
        res = search_single_change(b, [DATA], root_of(a), RULES)
        assert res.explanations == () and res.stopped
        work, budget, entries = spent[-1]
        # the budget grows linearly with the tree, and the work stays within it (+ one candidate)
        assert budget == search.FLOOR_WORK + sum(
            search.WORK_PER_ENTRY + (e.size if e.type.value == "file" else 0) for _, e in b.items()
        )
        largest_candidate = search.CANDIDATE_COST + 100 * entries + 10_000
        assert work <= budget + largest_candidate
        # and the search tried far fewer candidates than the n^2 exhaustive one would
        assert res.tried < 11 * n


def test_wide_directory_early_candidate_is_still_found() -> None:
    b = flat(5_000)
    a = b.replace_entries({"/data/f00003": Entry.file(b"x\n" * 3, mode=0o755)})
    res = search_single_change(b, [DATA], root_of(a), RULES)
    assert res.explanations == (Explanation("/data/f00003", "mode", "0644", "0755"),)
