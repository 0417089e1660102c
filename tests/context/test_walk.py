"""The walker and hasher on real directories: types, xattrs, hard links, and nothing skipped silently."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from cacheinspect.context import ContextPathError, EntryType, checksum, entry_digest, hash_tree, walk_context
from cacheinspect.context import walk as walk_mod


def test_entries_as_the_client_sees_them(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"hello")
    (tmp_path / "f").chmod(0o4750)
    (tmp_path / "d").mkdir()
    (tmp_path / "d").chmod(0o1777)
    os.symlink("../outside/of/context", tmp_path / "d" / "l")
    os.mkfifo(tmp_path / "fifo")
    os.link(tmp_path / "f", tmp_path / "hard")
    os.setxattr(tmp_path / "f", "user.k", b"v")
    t = hash_tree(walk_context(tmp_path))
    f, d, link, fifo, hard = (t.get(p) for p in ("/f", "/d", "/d/l", "/fifo", "/hard"))
    assert f is not None and (f.type, f.mode, f.size, dict(f.xattrs)) == (
        EntryType.FILE,
        0o4750,
        5,
        {"user.k": b"v"},
    )
    assert f.content_sha256 == hashlib.sha256(b"hello").hexdigest()
    head = b"namemode2536uid0gid0size5typeflag0linknameunamegnamedevmajor0devminor0user.kv"
    assert f.digest == "sha256:" + hashlib.sha256(head + b"hello").hexdigest()
    assert d is not None and (d.type, d.mode) == (EntryType.DIR, 0o1777)
    assert link is not None and (link.type, link.linkname) == (EntryType.SYMLINK, "../outside/of/context")
    assert fifo is not None and fifo.type is EntryType.FIFO
    assert hard is not None and hard.digest == f.digest and hard.hardlink_of == "/f"
    assert t.children("") == ["d", "f", "fifo", "hard"]


def test_a_file_that_vanishes_becomes_unreadable(tmp_path: Path) -> None:
    (tmp_path / "gone").write_bytes(b"x")
    t = walk_context(tmp_path)
    (tmp_path / "gone").unlink()
    hash_tree(t)
    e = t.get("/gone")
    assert e is not None and e.type is EntryType.UNREADABLE and e.error
    with pytest.raises(Exception, match="unreadable"):
        checksum(t, "/")


def test_a_directory_that_cannot_be_listed_becomes_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "x").write_bytes(b"x")
    real = os.scandir

    def scandir(p: str) -> object:
        if str(p).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real(p)

    monkeypatch.setattr(walk_mod.os, "scandir", scandir)
    t = walk_context(tmp_path)
    e = t.get("/locked")
    assert e is not None and e.type is EntryType.UNREADABLE and e.error == "Permission denied"


def test_missing_or_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ContextPathError, match="No such file"):
        walk_context(tmp_path / "nope")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ContextPathError, match="not a directory"):
        walk_context(tmp_path / "file")


def test_parallel_hashing_equals_sequential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(300):
        (tmp_path / f"f{i:03d}").write_bytes(os.urandom(i * 37))
    (tmp_path / "big").write_bytes(os.urandom(3 * (1 << 20) + 5))  # more than one read chunk
    seq = hash_tree(walk_context(tmp_path), workers=1)
    monkeypatch.setattr(walk_mod, "_parallel_ok", lambda n, b: True)
    par = hash_tree(walk_context(tmp_path), workers=2)
    assert [(p, e.digest, e.content_sha256) for p, e in seq.items()] == [
        (p, e.digest, e.content_sha256) for p, e in par.items()
    ]
    big = par.get("/big")
    assert big is not None and big.digest == entry_digest(
        big.with_(digest=None, content=(tmp_path / "big").read_bytes())
    )


def test_a_context_of_many_directories_walks_the_same_in_this_thread_and_on_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small contexts are read in the calling thread (no pool, no concurrent.futures import); past
    ``_DIRS_IN_THREAD`` directories the rest go to the pool: the tree must not depend on which."""
    from cacheinspect.context import walk as walkmod

    for i in range(30):
        d = tmp_path / f"d{i:02}" / "sub"
        d.mkdir(parents=True)
        (d / "f").write_text(str(i))
        (tmp_path / f"d{i:02}" / "g").write_text("x" * i)
    trees = []
    for limit in (0, 5, 10_000):  # all on the pool, a mix, all in this thread
        monkeypatch.setattr(walkmod, "_DIRS_IN_THREAD", limit)
        t = walkmod.walk_context(tmp_path)
        trees.append({p: (e.type, e.size, e.mode) for p, e in t.items()})
    assert len(trees[0]) == 1 + 30 * 4  # the root, and per top directory: itself, sub, sub/f, g
    assert trees[0] == trees[1] == trees[2]
