"""records.new_record and simulate.new_deletion: the fast constructors of records and deletions make ordinary
frozen dataclass instances."""

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


def test_new_deletion_is_a_frozen_deletion() -> None:
    from cacheinspect.gc.simulate import Deletion, new_deletion

    made, plain = new_deletion("r1", "regular", 5, "why"), Deletion("r1", "regular", 5, "why")
    assert type(made) is Deletion
    assert made == plain
    assert hash(made) == hash(plain)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.size = 1  # type: ignore[misc]
