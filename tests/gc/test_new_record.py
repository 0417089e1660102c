"""records.new_record: the fast constructor the readers and the restart bumps use makes ordinary records."""

from __future__ import annotations

import dataclasses

import pytest

from cacheinspect.gc.records import CacheRecord, new_record

VALUES = ("r1", "exec.cachemount", 42, ("p1", "p2"), "desc", True, False, None, 5, 7, 3, True)


def test_same_record_as_the_dataclass_constructor() -> None:
    made, plain = new_record(*VALUES), CacheRecord(*VALUES)
    assert type(made) is CacheRecord
    assert made == plain
    assert hash(made) == hash(plain)
    assert repr(made) == repr(plain)
    assert dataclasses.astuple(made) == VALUES


def test_defaults_as_the_dataclass() -> None:
    assert new_record("only-id") == CacheRecord("only-id")


def test_still_frozen() -> None:
    r = new_record(*VALUES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.size = 1  # type: ignore[misc]
    assert dataclasses.replace(r, size=1).size == 1
