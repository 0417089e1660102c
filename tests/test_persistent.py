"""cacheinspect._persistent: copies are independent of each other, whatever order they change in."""

from __future__ import annotations

import pytest
from immutables import Map

from cacheinspect._persistent import FrozenMap, PDict, Seq


def test_seq_branches_do_not_see_each_other() -> None:
    base = Seq([1]).appended(2)
    left = base.appended(3)  # appends in place (base is the longest view)
    right = base.appended(4)  # base is now shorter than its list: copies
    assert (list(base), list(left), list(right)) == ([1, 2], [1, 2, 3], [1, 2, 4])
    assert list(left.appended(5)) == [1, 2, 3, 5] and list(left) == [1, 2, 3]
    assert (right[0], right[-1], len(right), list(right[1:])) == (1, 4, 3, [2, 4])
    with pytest.raises(IndexError):
        base[2]  # an item a longer view appended is not part of this one


def test_pdict_copy_is_independent() -> None:
    a: PDict[str, int] = PDict()
    a["x"] = 1
    b = a.copy()
    b["y"] = 2
    del b["x"]
    a.setdefault("z", 3)
    assert dict(a.items()) == {"x": 1, "z": 3} and dict(b.items()) == {"y": 2}
    assert "y" not in a and len(b) == 1


def test_frozen_map_equals_a_dict_and_set_leaves_it_unchanged() -> None:
    f = FrozenMap(Map({"A": "1"}))
    g = f.set("B", "2")
    assert f == {"A": "1"} and g == {"A": "1", "B": "2"} and dict(f) == {"A": "1"}
    assert f.get("B") is None and g["B"] == "2" and "A" in g


def test_frozen_map_iterates_in_sorted_order() -> None:
    keys = [f"K{i}" for i in range(200, 0, -1)]
    assert list(FrozenMap(Map(dict.fromkeys(keys, "")))) == sorted(keys)
