"""Hypothesis strategies: a :class:`~tests.fuzz.harness.Plan` over the seeds (shrinks to the smallest plan)."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.harness import Plan

_small = st.integers(min_value=0, max_value=1 << 16)


def plans(n_seeds: int) -> st.SearchStrategy[Plan]:
    tree_op = st.tuples(_small, st.integers(0, 15), _small, _small, _small)
    byte_op = st.tuples(_small, st.integers(0, 5), _small, _small)
    return st.builds(
        Plan,
        seed=st.integers(0, n_seeds - 1),
        tree_ops=st.lists(tree_op, max_size=4),
        byte_ops=st.lists(byte_op, max_size=1).filter(lambda x: True) | st.just([]),
        b64_style=st.integers(0, 9) | st.just(0),
        stale=st.just(()) | st.tuples(st.integers(0, 4)),
        ascii_only=st.booleans(),
        ws=st.booleans(),
    )
