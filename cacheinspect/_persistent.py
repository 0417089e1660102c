"""Containers whose copy is O(1), for state that every instruction, stage or command records (issue 17).

Each instruction of a Dockerfile records its variables, a stage ``FROM`` another starts from a copy
of that stage's state, each command of a RUN records its environment; copying dicts and lists for
each made a file of n ARGs, a chain of n stages or a RUN of n subshells cost n² time and memory.
:class:`immutables.Map` (a hash array mapped trie, the structure behind :mod:`contextvars`) is
O(log n) to change and O(1) to copy. :class:`FrozenMap` is a read-only snapshot of one (equal to a
dict with the same items, as the dicts it replaces were); :class:`PDict` a mutable handle with an
O(1) :meth:`PDict.copy`; :class:`Seq` an append-only sequence sharing its list with its copies (a
chain appends in place; a branch copies once).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from itertools import islice
from typing import Any, TypeVar, overload

from immutables import Map

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

__all__ = ["FrozenMap", "PDict", "Seq"]


class FrozenMap(Mapping[K, V]):
    """A read-only snapshot of a persistent map: O(1) to take, equal to any mapping with the same
    items (``immutables.Map`` compares equal only to another ``Map``). It iterates in sorted key
    order: a hash map's own order changes with Python's hash seed, and what a caller prints or picks
    first from it must not."""

    __slots__ = ("m",)

    def __init__(self, m: Map[K, V]) -> None:
        self.m = m

    def __getitem__(self, key: K) -> V:
        return self.m[key]

    def get(self, key: K, default: Any = None) -> Any:
        return self.m.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.m

    def __iter__(self) -> Iterator[K]:
        return iter(sorted(self.m))  # type: ignore[type-var]  # keys are str here

    def __len__(self) -> int:
        return len(self.m)

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    def set(self, key: K, value: V) -> FrozenMap[K, V]:
        """This snapshot with *key* set (O(log n); this one is unchanged)."""
        return FrozenMap(self.m.set(key, value))


class PDict(MutableMapping[K, V]):
    """A dict with an O(1) :meth:`copy`: changes to the copy do not show in the original."""

    __slots__ = ("m",)

    def __init__(self, m: Map[K, V] | None = None) -> None:
        self.m: Map[K, V] = m if m is not None else Map()

    def __getitem__(self, key: K) -> V:
        return self.m[key]

    def __setitem__(self, key: K, value: V) -> None:
        self.m = self.m.set(key, value)

    def __delitem__(self, key: K) -> None:
        self.m = self.m.delete(key)

    def __contains__(self, key: object) -> bool:
        return key in self.m

    def __iter__(self) -> Iterator[K]:
        return iter(self.m)

    def __len__(self) -> int:
        return len(self.m)

    def __repr__(self) -> str:
        return f"PDict({dict(self.m.items())!r})"

    def copy(self) -> PDict[K, V]:
        return PDict(self.m)


class Seq(Sequence[T]):
    """An immutable sequence made by :meth:`appended`: the first n items of a list that copies share.

    Appending to a sequence that is the longest view of its list appends in place (O(1)); appending
    to a shorter view (a branch: two stages FROM the same one) copies its items once."""

    __slots__ = ("_items", "_n")

    def __init__(self, items: list[T] | None = None, n: int | None = None) -> None:
        self._items: list[T] = items if items is not None else []
        self._n = len(self._items) if n is None else n

    def appended(self, item: T) -> Seq[T]:
        items = self._items
        if len(items) != self._n:
            items = items[: self._n]
        items.append(item)
        return Seq(items, self._n + 1)

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[T]:
        return islice(self._items, self._n)

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> Seq[T]: ...
    def __getitem__(self, i: int | slice) -> T | Seq[T]:
        if isinstance(i, slice):
            return Seq(self._items[: self._n][i])
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("Seq index out of range")
        return self._items[i]

    def __repr__(self) -> str:
        return f"Seq({list(self)!r})"
