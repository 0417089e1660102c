"""A pure model of a build-context tree: what BuildKit's receiver holds after the client sent it.

Paths are BuildKit's *key paths* (``cache/contenthash/checksum.go`` ``keyPath``): ``""`` is the root,
everything else is absolute and cleaned (``/etc/app.conf``). An :class:`Entry` carries every field
the checksum hashes (and nothing else: no mtime). Content is either known (``content`` bytes, for
synthetic trees and tests) or already reduced to the BuildKit entry digest by the walker
(``digest``), so the engine never does I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum

import msgspec

__all__ = ["ContextTree", "Entry", "EntryType", "key_path"]


class EntryType(StrEnum):
    """File types as BuildKit distinguishes them (tar typeflags in ``filehash.go``)."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    CHARDEV = "chardev"
    BLOCKDEV = "blockdev"
    FIFO = "fifo"
    SOCKET = "socket"  # the client clears the socket bit: hashed as a regular file (typeflag 0)
    UNREADABLE = "unreadable"  # lstat/readlink/read failed: the checksum cannot be known


class Entry(msgspec.Struct):
    """One path of the context, with exactly the fields BuildKit's entry header uses.

    ``mode`` holds the permission bits plus setuid/setgid/sticky (``0o7777``). ``xattrs`` holds *all*
    extended attributes the client read; which ones count is the engine's business (BuildKit filters
    on the receiving side, ``tarsum.go``). ``content`` (bytes) or ``content_sha256`` (the plain
    sha256 hex of the content, for fingerprints) may be unknown; ``digest`` is the full BuildKit entry
    digest when the walker computed it while reading. ``hardlink_of`` names the first path of the
    same inode (fsutil ``setUnixOpt``); ``error`` says why an UNREADABLE entry could not be read.

    Treat entries as values: the only in-place change is :func:`~cacheinspect.context.walk.hash_tree`
    filling in ``digest``/``content_sha256`` (it is the same content, learnt later).
    """

    type: EntryType
    mode: int = 0o644
    size: int = 0
    linkname: str = ""
    xattrs: Mapping[str, bytes] = msgspec.field(default_factory=dict)
    uid: int = 0
    gid: int = 0
    devmajor: int = 0
    devminor: int = 0
    content: bytes | None = None
    content_sha256: str | None = None
    digest: str | None = None
    hardlink_of: str | None = None
    error: str | None = None
    source: str | None = None  # the local file system path, for error messages and lazy hashing
    inode: int | None = None  # (st_dev << 64) | st_ino of a regular file with st_nlink > 1

    @staticmethod
    def file(content: bytes, mode: int = 0o644, **kw: object) -> Entry:
        """A regular file with known content (synthetic trees)."""
        return Entry(
            EntryType.FILE,
            mode=mode,
            size=len(content),
            content=content,
            content_sha256=hashlib.sha256(content).hexdigest(),
            **kw,  # type: ignore[arg-type]
        )

    @staticmethod
    def dir(mode: int = 0o755, **kw: object) -> Entry:
        return Entry(EntryType.DIR, mode=mode, **kw)  # type: ignore[arg-type]

    @staticmethod
    def symlink(target: str, **kw: object) -> Entry:
        return Entry(EntryType.SYMLINK, mode=0o777, linkname=target, **kw)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> Entry:
        """A copy with some fields changed (``msgspec.structs.replace``)."""
        return msgspec.structs.replace(self, **changes)


def key_path(p: str) -> str:
    """BuildKit's ``keyPath``: ``path.Join("/", p)`` with ``/`` itself as ``""``."""
    from ._gopath import go_join

    k = go_join("/", p)
    return "" if k == "/" else k


def _name_key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


class ContextTree:
    """An immutable-by-convention mapping of key path -> :class:`Entry`, with a children index.

    Every parent of an entry must be present as a DIR (``add`` creates missing parents with mode
    0755, which is what fsutil's receiver does for parents it never saw). ``local=True`` means a
    local build context: the root directory's header digest is fixed to ``sha256("")``
    (``HandleChange`` fakes the root record) and uid/gid are the client's zeros.
    """

    def __init__(self, entries: Mapping[str, Entry] | None = None, *, local: bool = True) -> None:
        self.local = local
        self._entries: dict[str, Entry] = {"": Entry.dir()}
        self._children: dict[str, list[str]] = {"": []}
        self._sorted: set[str] = set()
        if entries:
            for p in sorted(entries, key=lambda s: s.count("/")):
                self.add(p, entries[p])

    # ----------------------------------------------------------------------------------- building
    def add(self, path: str, entry: Entry) -> None:
        k = key_path(path)
        if k == "":
            self._entries[""] = entry
            return
        parent, name = k.rsplit("/", 1)
        if parent not in self._entries:
            self.add(parent, Entry.dir())
        elif self._entries[parent].type is not EntryType.DIR:
            raise ValueError(f"{parent or '/'} is not a directory")
        if k not in self._entries:
            self._children[parent].append(name)
            self._sorted.discard(parent)
        self._entries[k] = entry
        if entry.type is EntryType.DIR:
            self._children.setdefault(k, [])

    def _add_clean(self, k: str, entry: Entry) -> None:
        """Fast path for walkers: ``k`` is a clean key path whose parent is already a DIR."""
        parent, name = k.rsplit("/", 1)
        self._children[parent].append(name)
        self._entries[k] = entry
        if entry.type is EntryType.DIR:
            self._children[k] = []

    @classmethod
    def from_entries(cls, items: Iterable[tuple[str, Entry]], *, local: bool = True) -> ContextTree:
        t = cls(local=local)
        for p, e in items:
            t.add(p, e)
        return t

    # ----------------------------------------------------------------------------------- reading
    def get(self, path: str) -> Entry | None:
        return self._entries.get(path)

    def __contains__(self, path: object) -> bool:
        return path in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def children(self, path: str) -> list[str]:
        """Child names of a directory in BuildKit's order (bytes of the name)."""
        names = self._children.get(path)
        if names is None:
            return []
        if path not in self._sorted:
            names.sort(key=_name_key)
            self._sorted.add(path)
        return names

    def walk(self, path: str = "") -> Iterator[tuple[str, Entry]]:
        """Depth-first in key order (the order of BuildKit's radix tree), the start path first."""
        e = self._entries.get(path)
        if e is None:
            return
        stack = [path]
        while stack:
            p = stack.pop()
            ent = self._entries[p]
            yield p, ent
            if ent.type is EntryType.DIR:
                stack.extend(f"{p}/{n}" for n in reversed(self.children(p)))

    def items(self) -> Iterator[tuple[str, Entry]]:
        return self.walk("")

    def replace_entries(self, changes: Mapping[str, Entry | None]) -> ContextTree:
        """A new tree with some entries replaced (``None`` removes the path and what is below it)."""
        out = ContextTree(local=self.local)
        removed = [p for p, e in changes.items() if e is None]
        for p, e in self.items():
            if any(p == r or p.startswith(r + "/") for r in removed):
                continue
            out.add(p, changes.get(p, e) or e)
        for p, new in changes.items():
            if new is not None and p not in out:
                out.add(p, new)
        return out
