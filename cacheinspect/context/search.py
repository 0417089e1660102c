"""Explain a context root that differs from host A's without A's fingerprint: search single changes.

A root record digest is a hash, so it cannot be inverted; but host checkouts of the same commit differ
in a few well-known ways (CONTEXT-CHECKSUM.md §5): one file's mode (chmod, setuid), the umask a whole
tree was checked out with (0664/0775 against 0644/0755), an extra ``user.*`` xattr, CRLF line endings
from ``core.autocrlf``, one file more here (a build artefact) or a file that ``.dockerignore`` leaves
out here but not there, a symlink pointing elsewhere. Each candidate is applied to the tree the client
would send, the step's root is recomputed with BuildKit's exact rules, and a candidate that reproduces
A's root **exactly** is a proof (sha256 collisions aside) of what differs. When none does, the search
says so and does not guess: several files differ, or one file's content does, and only A's fingerprint
can tell which.

Pure apart from the ``read`` callback that returns a file's bytes (a changed mode changes the entry
header, and the header is hashed *before* the content, so the content has to be hashed again).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec

from .checksum import EMPTY_DIGEST, Checksummer, RuleSet, Selector, counted_xattrs, entry_digest, root_digest
from .errors import ContextError, UnreadableEntryError
from .patternmatcher import PatternError
from .tree import ContextTree, Entry, EntryType, key_path

if TYPE_CHECKING:
    from .walk import Progress  # progress(kind, done, total); total 0: not known in advance

__all__ = ["Explanation", "SearchResult", "read_source", "search_single_change"]

#: The search's work is counted in units of about one nanosecond of CPU: one byte hashed (or read, or
#: joined) is one unit, and the fixed Python cost of one candidate (new entry, header digest, lookups)
#: is CANDIDATE_COST. The budget is FLOOR_WORK plus WORK_PER_ENTRY per entry of the tree the client sends
#: plus the bytes of its files: about what fingerprinting that tree costs, so a check with a search costs
#: at most about twice a fingerprint however wide a directory is (a flat directory of n files makes each
#: candidate there cost O(n): the directory's digest hashes every child's name and digest).
CANDIDATE_COST = 15_000
FLOOR_WORK = 30_000_000
WORK_PER_ENTRY = 10_000
#: Files above this size are not re-read for line-ending candidates (a text file that large is rare).
MAX_TEXT_BYTES = 4 << 20
#: Total bytes the search may read back from disk (mode candidates need the content again).
MAX_READ_BYTES = 256 << 20
#: Contents read back are kept for the next candidates of the same file, up to this many bytes (the
#: least recently used are dropped first): the search's memory stays bounded whatever the context's size
#: (a 2 GB context peaked at 542 MiB where a fingerprint needs 26 MiB).
CACHE_BYTES = 32 << 20
_FILE_MODES = (0o644, 0o755, 0o664, 0o600, 0o775, 0o640, 0o666, 0o700, 0o444, 0o555, 0o777)
_DIR_MODES = (0o755, 0o775, 0o700, 0o750, 0o777)


class Explanation(msgspec.Struct, frozen=True):
    """One difference: ``path`` (a context path, ``/a/b``), ``field`` (``mode``, ``content``,
    ``xattr NAME``, ``exists``, ``linkname``, ``type``, ``size``, ``digest``), and its value on each side."""

    path: str
    field: str
    here: str
    in_cache: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "field": self.field, "here": self.here, "in_cache": self.in_cache}

    def __str__(self) -> str:
        return f"{self.path}: {self.field} {self.here} here, {self.in_cache} in the cache"


class SearchResult(msgspec.Struct, frozen=True):
    """``explanations`` is empty when no single change reproduced the root; ``tried`` candidates were
    checked; ``stopped`` says the search hit its budget before trying everything."""

    explanations: tuple[Explanation, ...]
    tried: int
    stopped: bool = False


def read_source(e: Entry) -> bytes | None:
    """The bytes of a walked file (``Entry.source``), or None when it cannot be read."""
    if e.content is not None:
        return e.content
    if e.source is None:
        return None
    from cacheinspect.errors import CacheInspectError
    from cacheinspect.safeio import read_local_file

    try:  # bounded: the walk saw a regular file of e.size bytes; a swapped-in FIFO or device is refused
        return read_local_file(e.source, what="file", max_bytes=max(e.size, 0))
    except CacheInspectError:
        return None


def _mode(m: int) -> str:
    return f"{m & 0o7777:04o}"


def _under(path: str, top: str) -> bool:
    return top == "" or path == top or path.startswith(top + "/")


def _scope(sel: Selector) -> str:
    """The directory a selector can read below: its path, or the part before the first wildcard."""
    if not sel.wildcard:
        return "" if sel.path == "/" else sel.path
    parts = sel.path.split("/")
    keep: list[str] = []
    for p in parts:
        if any(c in p for c in "*?["):
            break
        keep.append(p)
    k = "/".join(keep)
    return "" if k in ("", "/") else k


class _Incremental:
    """Digests of one plain selector's subtree, recomputed along the changed paths only.

    Same formulas as the engine (``checksum.go``: a directory is ``sha256("\\0" + header + Σ "\\0" +
    name + child)``, a leaf its entry digest); built only for a selector that names an existing path
    without symlinks on the way, and checked against the engine's checksum of the unchanged tree, so
    any disagreement falls back to recomputing the whole tree.
    """

    def __init__(self, view: ContextTree, sel: Selector, expected: str) -> None:
        self.view = view
        self.top = key_path(sel.path)
        self.digest: dict[str, str] = {}
        self.ok = False
        if sel.has_wildcard_or_filters:
            return
        parts = self.top.split("/")
        for i in range(1, len(parts)):
            e = view.get("/".join(parts[: i + 1]) if i + 1 < len(parts) else self.top)
            if (
                e is None
                or (e.type is EntryType.SYMLINK)
                or (i + 1 < len(parts) and e.type is not EntryType.DIR)
            ):
                return
        try:
            self.ok = self._build() == expected
        except (ContextError, UnreadableEntryError, ValueError):
            self.ok = False

    def _header(self, p: str, e: Entry) -> str:
        return EMPTY_DIGEST if p == "" and self.view.local else entry_digest(e, p)

    def _dir(self, p: str, header: str, kids: Sequence[tuple[str, str]]) -> str:
        h = hashlib.sha256()
        h.update(b"\0" + header.encode())
        for name, d in kids:
            h.update(b"\0" + name.encode("utf-8", "surrogateescape") + d.encode())
        return "sha256:" + h.hexdigest()

    def _build(self) -> str:
        order = list(self.view.walk(self.top))
        #: per directory: its children's hashed chunks (b"\0" + name + digest) and each name's index,
        #: so one changed child costs one C-level join per ancestor (see ``_one``)
        self.chunks: dict[str, list[bytes]] = {}
        self.pos: dict[str, int] = {}
        #: per directory: the bytes its digest hashes (what one changed child below costs to re-hash)
        self.dir_bytes: dict[str, int] = {}
        for p, e in reversed(order):
            if e.type is EntryType.DIR:
                names = self.view.children(p)
                chunks = []
                for i, n in enumerate(names):
                    c = f"{p}/{n}"
                    chunks.append(b"\0" + n.encode("utf-8", "surrogateescape") + self.digest[c].encode())
                    self.pos[c] = i
                self.chunks[p] = chunks
                self.dir_bytes[p] = 80 + sum(map(len, chunks))
                self.digest[p] = self._dir(
                    p, self._header(p, e), [(n, self.digest[f"{p}/{n}"]) for n in names]
                )
            else:
                self.digest[p] = entry_digest(e, p)
        return self.digest[self.top]

    def _one(self, path: str, e: Entry) -> str:
        """Fast path: one existing non-directory entry replaced."""
        return self._up(path, entry_digest(e, path))

    def _without(self, path: str) -> str:
        """Fast path: one existing entry (a directory with all below it) removed — the candidate
        "a file here that A did not have", tried for every entry, so it must not re-sort directories."""
        parent = path.rsplit("/", 1)[0]
        chunks = self.chunks[parent]
        i = self.pos[path]
        de = self.view.get(parent)
        assert de is not None
        head = b"\0" + self._header(parent, de).encode()
        d = "sha256:" + hashlib.sha256(head + b"".join(chunks[:i]) + b"".join(chunks[i + 1 :])).hexdigest()
        return self._up(parent, d)

    def _up(self, path: str, d: str) -> str:
        """The selector's checksum when the entry at ``path`` gets digest ``d``: its ancestors
        recomputed from their cached child chunks, one join each."""
        while path != self.top:
            parent, name = path.rsplit("/", 1)
            chunks = self.chunks[parent]
            i = self.pos[path]
            de = self.view.get(parent)
            assert de is not None
            head = b"\0" + self._header(parent, de).encode()
            mine = b"\0" + name.encode("utf-8", "surrogateescape") + d.encode()
            d = (
                "sha256:"
                + hashlib.sha256(head + b"".join(chunks[:i]) + mine + b"".join(chunks[i + 1 :])).hexdigest()
            )
            path = parent
        return d

    def covers(self, path: str) -> bool:
        return _under(path, self.top)

    def cost(self, path: str) -> int:
        """Work units to re-hash the directories from ``path``'s parent up to the selector's top."""
        work = 0
        while path != self.top and "/" in path:
            path = path.rsplit("/", 1)[0]
            work += self.dir_bytes.get(path, 80)
            if not _under(path, self.top):
                break
        return work

    def changed(self, changes: Mapping[str, Entry | None]) -> str:
        """The selector's checksum with ``changes`` applied (paths below the selector only)."""
        if len(changes) == 1:
            ((p, e),) = changes.items()
            if p in self.pos:
                if e is None:
                    return self._without(p)
                if e.type is not EntryType.DIR:
                    return self._one(p, e)
        new: dict[str, str | None] = {}
        added: dict[str, list[str]] = {}
        for p, e in changes.items():
            if e is None:
                new[p] = None
            else:
                new[p] = self._header(p, e) if e.type is EntryType.DIR else entry_digest(e, p)
                if p not in self.view:
                    parent, name = p.rsplit("/", 1)
                    added.setdefault(parent, []).append(name)
        dirs: set[str] = set()
        for p in changes:
            q = p
            while q != self.top and q:
                q = q.rsplit("/", 1)[0]
                dirs.add(q)
                if not _under(q, self.top):
                    break
        dirs = {d for d in dirs if _under(d, self.top)}
        if self.top in changes and changes[self.top] is None:
            return ""
        out: dict[str, str] = {}
        dirs |= {p for p, e in changes.items() if e is not None and e.type is EntryType.DIR}
        for d in sorted(dirs, key=lambda q: -q.count("/")):
            de = changes.get(d) or self.view.get(d)
            assert de is not None
            header = self._header(d, de)
            names = [n for n in self.view.children(d) if new.get(f"{d}/{n}", "") is not None]
            names += [n for n in added.get(d, []) if n not in names]
            names.sort(key=lambda n: n.encode("utf-8", "surrogateescape"))
            kids = []
            for n in names:
                c = f"{d}/{n}"
                if c in out:
                    kids.append((n, out[c]))
                elif c in new and (ce := changes.get(c)) is not None and ce.type is not EntryType.DIR:
                    kids.append((n, new[c] or ""))
                else:
                    kids.append((n, self.digest[c]))
            out[d] = self._dir(d, header, kids)
        if self.top in out:
            return out[self.top]
        got = new.get(self.top)
        return got if got is not None else self.digest[self.top]


class _Roots:
    """Recompute a step's root over a changed tree; counts the work against a budget."""

    def __init__(self, view: ContextTree, selectors: Sequence[Selector], rules: RuleSet, budget: int) -> None:
        self.view = view
        self.selectors = selectors
        self.rules = rules
        self.budget = budget
        self.work = 0
        #: a whole-tree recomputation (the fallback when no incremental form applies)
        self.full_cost = 3_000 * len(view) + sum(
            e.size for _, e in view.items() if e.type is EntryType.FILE and e.digest is None
        )
        cs = Checksummer(view, rules)
        try:
            self.base: list[str] | None = [cs.checksum(s) for s in selectors]
        except (ContextError, UnreadableEntryError, PatternError, ValueError):
            self.base = None
        self.inc = [
            _Incremental(view, s, b) if self.base is not None else None
            for s, b in zip(selectors, self.base or [""] * len(selectors), strict=True)
        ]

    def root(self, changes: dict[str, Entry | None]) -> str | None:
        if self.base is not None and all(i is not None and i.ok for i in self.inc):
            sums = list(self.base)
            for k, inc in enumerate(self.inc):
                assert inc is not None
                mine = {p: e for p, e in changes.items() if inc.covers(p)}
                if mine:
                    # the bytes re-hashed: the changed entries' own (mode/content candidates hash the
                    # content again) and every directory from them up to the selector's top
                    self.work += CANDIDATE_COST + sum(
                        inc.cost(p) + (e.size if e is not None and e.digest is None else 0)
                        for p, e in mine.items()
                    )
                    sums[k] = inc.changed(mine)
            return root_digest(sums)
        tree = _apply(self.view, changes)
        self.work += self.full_cost
        cs = Checksummer(tree, self.rules)
        try:
            return root_digest([cs.checksum(s) for s in self.selectors])
        except (ContextError, UnreadableEntryError, PatternError, ValueError):
            return None

    @property
    def exhausted(self) -> bool:
        return self.work > self.budget


class _Reader:
    def __init__(self, read: Callable[[Entry], bytes | None], roots: _Roots | None = None) -> None:
        self.read = read
        self.roots = roots  # reading back counts against the search's budget
        self.spent = 0
        self.cache: dict[str, bytes | None] = {}  # insertion order = least recently used first
        self.cached = 0

    def content(self, path: str, e: Entry) -> bytes | None:
        if e.content is not None:
            return e.content
        if path in self.cache:
            data = self.cache.pop(path)
            self.cache[path] = data  # most recently used
            return data
        if self.spent + e.size > MAX_READ_BYTES:
            return None
        data = self.read(e)
        self.spent += e.size
        if self.roots is not None:
            self.roots.work += e.size + CANDIDATE_COST
        if data is not None and len(data) != e.size:
            data = None  # changed since it was walked
        self.cache[path] = data
        self.cached += len(data or b"")
        while self.cached > CACHE_BYTES and len(self.cache) > 1:
            old = self.cache.pop(next(iter(self.cache)))
            self.cached -= len(old or b"")
        return data


def _with_mode(path: str, e: Entry, mode: int, reader: _Reader) -> Entry | None:
    if e.type is EntryType.FILE and e.size > 0:
        data = reader.content(path, e)
        if data is None:
            return None
        return e.with_(mode=mode, digest=None, content=data)
    return e.with_(mode=mode, digest=None)


def search_single_change(
    view: ContextTree,
    selectors: Sequence[Selector],
    target_root: str,
    rules: RuleSet,
    *,
    full_tree: ContextTree | None = None,
    read: Callable[[Entry], bytes | None] = read_source,
    budget: int | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """Try single changes to ``view`` (the tree the client sends here) until one gives ``target_root``.

    ``full_tree`` is the whole walked context (before ``.dockerignore`` and the named-paths filter):
    entries it has and ``view`` lacks are candidates for "sent in A, left out here". ``budget`` bounds
    the work (in the units of :data:`CANDIDATE_COST`: about a nanosecond each; default: about what a
    fingerprint of ``view`` costs, see :data:`FLOOR_WORK`) so that neither a huge context nor a wide
    directory can stall a check: when it runs out the result says ``stopped`` and explains nothing;
    ``progress`` hears every 10,000th candidate.
    """
    if budget is None:
        budget = FLOOR_WORK + sum(
            WORK_PER_ENTRY + (e.size if e.type is EntryType.FILE else 0) for _, e in view.items()
        )
    roots = _Roots(view, selectors, rules, budget)
    reader = _Reader(read, roots)
    scopes = [_scope(s) for s in selectors]
    selected = [
        (p, e)
        for p, e in view.items()
        if p != "" and any(_under(p, sc) for sc in scopes) and e.type is not EntryType.UNREADABLE
    ]
    tried = 0

    def attempts() -> Iterator[tuple[dict[str, Entry | None], Explanation]]:
        # 1. one entry's mode: the likely values for every entry first, then the rarer ones
        for likely in (True, False):
            for p, e in selected:
                if e.type is EntryType.SYMLINK:
                    continue
                every: tuple[int, ...] = _DIR_MODES if e.type is EntryType.DIR else _FILE_MODES
                alts = every[:4] if likely else every[4:]
                cur = e.mode & 0o7777
                for m in dict.fromkeys([cur & 0o777, *alts] if likely else alts):
                    if m == cur:
                        continue
                    ne = _with_mode(p, e, m, reader)
                    if ne is not None:
                        yield {p: ne}, Explanation(p, "mode", _mode(cur), _mode(m))
        # 2. one xattr present here only
        for p, e in selected:
            for name in counted_xattrs(e.xattrs):
                xs = {k: v for k, v in e.xattrs.items() if k != name}
                if e.type is EntryType.FILE and e.size > 0:
                    data = reader.content(p, e)
                    if data is None:
                        continue
                    ne = e.with_(xattrs=xs, digest=None, content=data)
                else:
                    ne = e.with_(xattrs=xs, digest=None)
                yield {p: ne}, Explanation(p, f"xattr {name}", "present", "absent")
        # 3. line endings of one text file
        for p, e in selected:
            if e.type is not EntryType.FILE or e.size == 0 or e.size > MAX_TEXT_BYTES:
                continue
            data = reader.content(p, e)
            if data is None or b"\0" in data[:8192]:
                continue
            if b"\r\n" in data:
                new, here, there = data.replace(b"\r\n", b"\n"), "CRLF line endings", "LF line endings"
            elif b"\n" in data:
                new, here, there = data.replace(b"\n", b"\r\n"), "LF line endings", "CRLF line endings"
            else:
                continue
            ne = e.with_(content=new, size=len(new), digest=None, content_sha256=None)
            yield {p: ne}, Explanation(p, "content", here, there)
        # 4. the umask of the whole selection: 0002 (0664/0775) against 0022 (0644/0755)
        for clear, here, there in (
            (True, "group-writable (umask 0002: 0664/0775)", "not group-writable (umask 0022: 0644/0755)"),
            (False, "not group-writable (umask 0022: 0644/0755)", "group-writable (umask 0002: 0664/0775)"),
        ):
            changes: dict[str, Entry | None] = {}
            ok = True
            for p, e in selected:
                if e.type is EntryType.SYMLINK:
                    continue
                m = e.mode & ~0o020 if clear else e.mode | 0o020
                if m != e.mode:
                    ne = _with_mode(p, e, m, reader)
                    if ne is None:
                        ok = False
                        break
                    changes[p] = ne
            if ok and len(changes) > 1:
                top = scopes[0] if len(scopes) == 1 else ""
                yield changes, Explanation(top or "/", "mode", here, there)
        # 5. one entry here that A did not have
        for p, _e in selected:
            if any(p == sc for sc in scopes):
                continue
            yield {p: None}, Explanation(p, "exists", "yes", "no")
        # 6. one entry left out here (.dockerignore) that A sent
        if full_tree is not None:
            for p, _e in full_tree.items():
                if p == "" or p in view or not any(_under(p, sc) for sc in scopes):
                    continue
                parent = p.rsplit("/", 1)[0]
                if parent and parent not in view:
                    continue  # only the top of an excluded subtree
                sub: dict[str, Entry | None] = {}
                ok = True
                for q, qe in full_tree.walk(p):
                    if qe.type is EntryType.UNREADABLE:
                        ok = False
                        break
                    if qe.type is EntryType.FILE and qe.size > 0 and qe.digest is None:
                        data = reader.content(q, qe)
                        if data is None:
                            ok = False
                            break
                        qe = qe.with_(content=data)
                    sub[q] = qe
                if ok:
                    yield sub, Explanation(p, "exists", "no (left out by .dockerignore here)", "yes")
        # 7. one symlink pointing at a sibling instead
        for p, e in selected:
            if e.type is not EntryType.SYMLINK:
                continue
            parent = p.rsplit("/", 1)[0]
            for name in view.children(parent)[:50]:
                if name == e.linkname or f"{parent}/{name}" == p:
                    continue
                ne = e.with_(linkname=name, digest=None)
                yield {p: ne}, Explanation(p, "linkname", e.linkname, name)

    def done(res: SearchResult) -> SearchResult:
        if progress is not None and tried >= 10_000:
            progress("search", tried, tried)
        return res

    for changes, expl in attempts():
        if roots.exhausted:
            return done(SearchResult((), tried, stopped=True))
        tried += 1
        if progress is not None and tried % 10_000 == 0:
            progress("search", tried, 0)
        if roots.root(changes) == target_root:
            return done(SearchResult((expl,), tried))
    return done(SearchResult((), tried))


def _apply(view: ContextTree, changes: dict[str, Entry | None]) -> ContextTree:
    replaced = {p: e for p, e in changes.items() if e is not None and p in view}
    added = {p: e for p, e in changes.items() if e is not None and p not in view}
    removed = {p: None for p, e in changes.items() if e is None}
    tree = view.replace_entries({**replaced, **removed}) if (replaced or removed) else view
    if added:
        tree = tree.replace_entries({})
        for p in sorted(added, key=lambda s: s.count("/")):
            tree.add(p, added[p])
    return tree
