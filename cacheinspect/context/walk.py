"""The I/O edge: read a local directory into a :class:`ContextTree` the way the client's fsutil does.

``walk_context`` reads metadata only (``lstat``, ``readlink``, ``llistxattr``/``lgetxattr``) and never
follows a symlink (links are resolved later, inside the tree, by the engine). ``hash_tree`` then reads
the contents of the entries that will actually be sent (after ``.dockerignore`` and the COPY paths),
computing in one read both the BuildKit entry digest ``sha256(header ‖ content)`` and the plain
content sha256, on forked worker processes for large trees.

Nothing is skipped silently: whatever cannot be read becomes an ``UNREADABLE`` entry carrying the
OS error, so a consumer can say ``unknown`` (BuildKit's client would fail the build on it).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
from collections.abc import Callable, Iterable

from .checksum import entry_header
from .errors import ContextPathError
from .tree import ContextTree, Entry, EntryType

__all__ = ["hash_tree", "walk_context"]

_CHUNK = 1 << 20
Progress = Callable[[str, int, int], None]


def _major(dev: int) -> int:
    # fsutil stat_unix.go major(): the old 8-bit encoding, not glibc's
    return (dev >> 8) & 0xFFF


def _minor(dev: int) -> int:
    return (dev & 0xFF) | ((dev >> 12) & 0xFFF00)


def _xattrs(path: str) -> dict[str, bytes]:
    """fsutil ``loadXattr``: ENOTSUP means none; a value that cannot be read is left out (Go does
    the same: ``if err == nil``); any other listing error is raised."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    out: dict[str, bytes] = {}
    for n in names:
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            continue
    return out


def _entry_from_stat(path: str, st: os.stat_result) -> Entry:
    m = st.st_mode
    perm = stat.S_IMODE(m)
    if stat.S_ISREG(m):
        inode = (st.st_dev << 64) | st.st_ino if st.st_nlink > 1 else None
        return Entry(
            EntryType.FILE, mode=perm, size=st.st_size, xattrs=_xattrs(path), source=path, inode=inode
        )
    if stat.S_ISDIR(m):
        return Entry(EntryType.DIR, mode=perm, xattrs=_xattrs(path), source=path)
    if stat.S_ISLNK(m):
        return Entry(
            EntryType.SYMLINK, mode=perm, linkname=os.readlink(path), xattrs=_xattrs(path), source=path
        )
    if stat.S_ISCHR(m) or stat.S_ISBLK(m):
        t = EntryType.CHARDEV if stat.S_ISCHR(m) else EntryType.BLOCKDEV
        return Entry(
            t,
            mode=perm,
            devmajor=_major(st.st_rdev),
            devminor=_minor(st.st_rdev),
            xattrs=_xattrs(path),
            source=path,
        )
    if stat.S_ISFIFO(m):
        return Entry(EntryType.FIFO, mode=perm, xattrs=_xattrs(path), source=path)
    # a socket: the client clears the socket bit, the header says regular file of size st_size
    return Entry(EntryType.SOCKET, mode=perm, size=st.st_size, xattrs=_xattrs(path), source=path)


def _unreadable(path: str, err: OSError) -> Entry:
    return Entry(EntryType.UNREADABLE, error=err.strerror or str(err), source=path)


def walk_context(root: str | os.PathLike[str], *, progress: Progress | None = None) -> ContextTree:
    """Read the metadata of every path under ``root`` (a local build context).

    uid/gid are recorded as 0 because the client zeroes them before sending
    (buildx/docker ``resetUIDAndGID``). The root directory's own metadata never counts.
    """
    top = os.fspath(root)
    try:
        st = os.stat(top)
    except OSError as e:
        raise ContextPathError(f"{top}: {e.strerror or e}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ContextPathError(f"{top}: not a directory")
    if not os.access(top, os.R_OK | os.X_OK):
        raise ContextPathError(f"{top}: permission denied")
    tree = ContextTree(local=True)
    count = 0
    add = tree._add_clean
    todo: list[tuple[str, str]] = [("", top)]  # directories still to read: (tree key, path on disk)

    def take(key: str, items: list[tuple[str, Entry]], err: OSError | None) -> None:
        nonlocal count
        if err is not None:
            if key == "":
                raise ContextPathError(f"{top}: {err.strerror or err}")
            tree._entries[key] = _unreadable(tree._entries[key].source or key, err)
            tree._children.pop(key, None)
            return
        for name, ent in items:
            k = f"{key}/{name}"
            add(k, ent)
            if ent.type is EntryType.DIR:
                assert ent.source is not None
                todo.append((k, ent.source))
        count += len(items)
        if progress is not None and count // 5000 != (count - len(items)) // 5000:
            progress("walk", count, 0)

    # A small context is read in this thread: starting the pool (and importing concurrent.futures,
    # threading and logging) cost more than its few directories (issue 17: small runs).
    for _ in range(_DIRS_IN_THREAD):
        if not todo:
            break
        key, path = todo.pop()
        take(key, *_read_dir(path))
    if todo:
        # The rest on a few threads: lstat/llistxattr release the GIL, and on a cold or busy machine
        # the syscalls dominate (measured: 10 us per lstat on 50,000 files).
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        with ThreadPoolExecutor(max_workers=_WALK_THREADS) as pool:
            pending = {pool.submit(_read_dir, path): key for key, path in todo}
            todo.clear()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    take(pending.pop(fut), *fut.result())
                pending.update({pool.submit(_read_dir, path): key for key, path in todo})
                todo.clear()
    if progress is not None:
        progress("walk", count, count)
    return tree


_WALK_THREADS = 4
#: Directories read before the thread pool starts (a context of this many directories never starts it).
_DIRS_IN_THREAD = 16


def _read_dir(fs_dir: str) -> tuple[list[tuple[str, Entry]], OSError | None]:
    """One directory's entries (names in byte order, as fsutil's WalkDir visits them)."""
    try:
        with os.scandir(fs_dir) as it:
            items = sorted(it, key=lambda d: os.fsencode(d.name))
    except OSError as e:
        return [], e
    out: list[tuple[str, Entry]] = []
    for d in items:
        try:
            ent = _entry_from_stat(d.path, d.stat(follow_symlinks=False))
        except OSError as e:
            ent = _unreadable(d.path, e)
        out.append((d.name, ent))
    return out, None


def _hash_raw(e: Entry) -> tuple[str | None, str]:
    """Read one regular file once: (BuildKit digest hex, content sha256 hex), or (None, error)."""
    assert e.source is not None
    try:
        # O_NONBLOCK: a file swapped for a FIFO since the walk must not block the open
        fd = os.open(e.source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        return None, err.strerror or str(err)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, "file changed while it was read"
        bk = hashlib.sha256(entry_header(e))
        plain = hashlib.sha256()
        size = 0
        while True:
            data = os.read(fd, _CHUNK if e.size > _CHUNK else e.size + 1)
            if not data:
                break
            bk.update(data)
            plain.update(data)
            size += len(data)
            if size > e.size:
                break
    except OSError as err:
        return None, err.strerror or str(err)
    finally:
        os.close(fd)
    if size != e.size:
        return None, "file changed while it was read"
    return bk.hexdigest(), plain.hexdigest()


def _set_hash(entries: dict[str, Entry], p: str, e: Entry, res: tuple[str | None, str]) -> None:
    if res[0] is None:
        entries[p] = Entry(EntryType.UNREADABLE, error=res[1], source=e.source)
        return
    e.digest = "sha256:" + res[0]
    e.content_sha256 = res[1]


# Work list shared with forked workers (copy-on-write: nothing but index ranges is sent to them).
_TODO: list[Entry] = []


def _hash_range(bounds: tuple[int, int]) -> list[tuple[str | None, str]]:
    return [_hash_raw(_TODO[i]) for i in range(bounds[0], bounds[1])]


def _parallel_ok(n_files: int, n_bytes: int) -> bool:
    # Processes, not threads: for many small files the GIL makes threads slower than one thread
    # (measured: 2 threads 15% slower on 50,000 x 10 kB). fork is only safe single-threaded.
    # The size test first: a small context never imports threading or multiprocessing.
    if not (n_files >= 4000 or n_bytes >= 256 * _CHUNK):
        return False
    import threading

    return (
        sys.platform.startswith("linux")  # fork is not safe on macOS
        and (os.cpu_count() or 1) > 1
        and threading.active_count() == 1
        and "fork" in _mp_methods()
    )


def _mp_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def hash_tree(
    tree: ContextTree,
    paths: Iterable[str] | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ContextTree:
    """Fill in ``digest``/``content_sha256`` of the regular files (all, or those in ``paths``).

    Files of one inode are read once (fsutil sends later links as links to the first path, and the
    receiver copies the first path's record). Entries are replaced in place; the tree is returned.
    """
    todo: list[tuple[str, Entry]] = []
    seen_inode: dict[int, str] = {}
    links: list[tuple[str, str]] = []
    wanted = set(paths) if paths is not None else None
    for p, e in tree.items():
        if wanted is not None and p not in wanted:
            continue
        if e.type not in (EntryType.FILE, EntryType.SOCKET) or e.digest is not None or e.content is not None:
            continue
        if e.type is EntryType.SOCKET or e.size == 0:
            continue
        if e.inode is not None:
            first = seen_inode.get(e.inode)
            if first is not None:
                links.append((p, first))
                continue
            seen_inode[e.inode] = p
        todo.append((p, e))
    total = len(todo)
    entries = tree._entries
    n_bytes = sum(e.size for _, e in todo)
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n > 1 and _parallel_ok(total, n_bytes):
        import multiprocessing

        global _TODO
        _TODO = [e for _, e in todo]
        bounds: list[tuple[int, int]] = []
        lo, acc = 0, 0
        target = max(n_bytes // (n * 16), 1)
        for i, (_, e) in enumerate(todo):
            acc += e.size + 4096  # per-file cost counts too
            if acc >= target or i - lo >= 2000:
                bounds.append((lo, i + 1))
                lo, acc = i + 1, 0
        if lo < total:
            bounds.append((lo, total))
        try:
            with multiprocessing.get_context("fork").Pool(n) as pool:
                done = 0
                for (lo, hi), res in zip(bounds, pool.imap(_hash_range, bounds), strict=True):
                    for j, r in zip(range(lo, hi), res, strict=True):
                        p, e = todo[j]
                        _set_hash(entries, p, e, r)
                    done += hi - lo
                    if progress is not None:
                        progress("hash", done, total)
        finally:
            _TODO = []
    else:
        for j, (p, e) in enumerate(todo):
            _set_hash(entries, p, e, _hash_raw(e))
            if progress is not None and j % 5000 == 4999:
                progress("hash", j + 1, total)
    for p, first in links:
        fe = entries[first]
        if fe.type is EntryType.UNREADABLE:
            entries[p] = fe
        else:
            entries[p] = entries[p].with_(
                digest=fe.digest, content_sha256=fe.content_sha256, hardlink_of=first
            )
    if progress is not None:
        progress("hash", total, total)
    return tree
