"""BuildKit's content checksum of a build context, exactly (``cache/contenthash``), as pure functions.

* :func:`entry_header` / :func:`entry_digest` — one entry (``filehash.go``, ``tarsum.go``): the
  tarsum-v1 header (``name mode uid gid size typeflag linkname uname gname devmajor devminor`` plus the
  counted xattrs) followed by the content, sha256.
* :class:`Checksummer` — directory digests and the checksum of one :class:`Selector`
  (``checksum.go`` ``Checksum``/``includedPaths``/``getFollowLinks``), under a :class:`RuleSet`
  because BuildKit changed the symlink and wildcard rules twice.
* :func:`dedupe_selectors`, :func:`root_digest` — how a COPY's selectors become the exported root
  record ``sha256(sha256(cs_1 \\0 … cs_n) + "@-1")`` (``solver/llbsolver/ops/file.go``,
  ``ops/opsutils/contenthash.go``).

Source lines cited are from moby/buildkit v0.13.2 unless a rule set says otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from enum import StrEnum

import msgspec

from ._gopath import BadPatternError, contains_wildcards, go_base, go_dir, go_join, go_match, split_wildcards
from .errors import SourceNotFoundError, TooManyLinksError, UnreadableEntryError
from .patternmatcher import MatchInfo, PatternError, PatternMatcher
from .tree import ContextTree, Entry, EntryType, key_path

__all__ = [
    "EMPTY_DIGEST",
    "Checksummer",
    "RuleSet",
    "Selector",
    "checksum",
    "counted_xattrs",
    "dedupe_selectors",
    "entry_digest",
    "entry_header",
    "root_digest",
    "selector_digest",
    "selectors_digest",
]

EMPTY_DIGEST = "sha256:" + hashlib.sha256(b"").hexdigest()
_MAX_LINKS = 255


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RuleSet(StrEnum):
    """Which BuildKit's checksum rules to apply (nothing in a cache records the version).

    * ``V0_10`` (v0.10–v0.13, dockerd 23–26.1): legacy symlink resolution (``getFollowLinksWalk``;
      a trailing link followed relative to the *unresolved* parent), wildcard results joined as
      ``basename + digest`` with ``\\0`` between. Verified against real v0.13 builds (fixtures).
    * ``V0_14`` (v0.14–v0.24): POSIX symlink resolution (``getFollowLinksCallback``, commit 2659945),
      same wildcard formula. Read, not verified against a real build.
    * ``V0_25`` (v0.25): only top-level wildcard/pattern matches have their symlinks followed
      (commit 74d1779). Read, not verified.
    * ``V0_26`` (v0.26+): the file-list hash is ``concat(path below the prefix with "/" as "\\0" +
      digest)`` (commit 9403302). Read, not verified.
    """

    V0_10 = "v0.10-v0.13"
    V0_14 = "v0.14-v0.24"
    V0_25 = "v0.25"
    V0_26 = "v0.26+"

    @classmethod
    def parse(cls, text: str) -> RuleSet:
        """``v0.13``, ``0.20``, ``v0.26.1``, or a rule-set name -> the rule set of that version."""
        t = text.strip().lstrip("v")
        for r in cls:
            if text.strip() == r.value:
                return r
        try:
            minor = int(t.split(".")[1])
        except (IndexError, ValueError):
            raise ValueError(f"not a BuildKit version: {text!r} (expected e.g. v0.13)") from None
        if t.split(".")[0] != "0" or minor < 10:
            raise ValueError(f"BuildKit {text} is not supported (v0.10 or later)")
        if minor <= 13:
            return cls.V0_10
        if minor <= 24:
            return cls.V0_14
        if minor == 25:
            return cls.V0_25
        return cls.V0_26


DEFAULT_RULES = RuleSet.V0_10


# ----------------------------------------------------------------------------------------- one entry

_TYPEFLAG = {
    EntryType.FILE: "0",
    EntryType.SOCKET: "0",
    EntryType.DIR: "5",
    EntryType.SYMLINK: "2",
    EntryType.CHARDEV: "3",
    EntryType.BLOCKDEV: "4",
    EntryType.FIFO: "6",
}


def counted_xattrs(xattrs: dict[str, bytes] | Iterable[str]) -> list[str]:
    """xattr names that count, sorted: all but ``security.*``/``system.*``, yet ``security.capability``
    (``tarsum.go`` v1TarHeaderSelect; since v0.7, moby/buildkit#1330).

    Go's ``sort.Strings`` orders bytes; names that are not UTF-8 are held as surrogate escapes, which
    code-point order would put before U+E000..U+FFFF, so the sort key is the name's bytes."""
    if not xattrs:
        return []
    return sorted(
        (
            k
            for k in xattrs
            if k == "security.capability" or not (k.startswith("security.") or k.startswith("system."))
        ),
        key=_name_bytes,
    )


def _name_bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def entry_header(e: Entry) -> bytes:
    """The tarsum-v1 header bytes of an entry (``filehash.go`` NewFromStat + ``tarsum.go``).

    Mode is ``archive/tar.FileInfoHeader``'s: permission bits plus setuid/setgid/sticky, no type bits.
    Size counts for regular files only; linkname for symlinks only; uname/gname are empty because the
    header is built from fsutil's Stat, not from a ``syscall.Stat_t``.
    """
    if e.type is EntryType.UNREADABLE:
        raise UnreadableEntryError(e.source or "?", e.error or "unreadable")
    regular = e.type in (EntryType.FILE, EntryType.SOCKET)
    size = e.size if regular else 0
    link = e.linkname if e.type is EntryType.SYMLINK else ""
    head = (
        f"namemode{e.mode & 0o7777}uid{e.uid}gid{e.gid}size{size}typeflag{_TYPEFLAG[e.type]}"
        f"linkname{link}unamegnamedevmajor{e.devmajor}devminor{e.devminor}"
    ).encode("utf-8", "surrogateescape")
    for k in counted_xattrs(e.xattrs):
        head += k.encode("utf-8", "surrogateescape") + bytes(e.xattrs[k])
    return head


def entry_digest(e: Entry, path: str = "") -> str:
    """``sha256(header ‖ content)`` of one entry (a directory: its *header* digest only)."""
    if e.digest is not None:
        return e.digest
    if e.type is EntryType.UNREADABLE:
        raise UnreadableEntryError(path, e.error or "unreadable")
    head = entry_header(e)
    if e.type in (EntryType.FILE, EntryType.SOCKET) and e.size > 0:
        if e.content is None:
            raise ValueError(f"{path or '/'}: content not hashed yet (walk with hash_tree first)")
        return _sha(head + e.content)
    return _sha(head)


# ----------------------------------------------------------------------------------------- selectors


class Selector(msgspec.Struct, frozen=True):
    """One ``opsutils.Selector``: what one COPY source reads from its input.

    ``path`` is the source as the FileOp carries it (absolute, e.g. ``/data``); the checksum cleans
    it with ``path.Join("/", path)``. Dockerfile COPY/ADD from the context always follows links.
    """

    path: str
    wildcard: bool = False
    follow_links: bool = True
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()

    @property
    def has_wildcard_or_filters(self) -> bool:
        return self.wildcard or bool(self.include_patterns) or bool(self.exclude_patterns)

    @classmethod
    def from_source(
        cls, src: str, *, parents: bool = False, excludes: Sequence[str] = (), follow_links: bool = True
    ) -> Selector:
        """The selector dockerfile2llb makes of one COPY/ADD source (``dispatchCopy``).

        ``--parents``: an optional ``/./`` pivot splits the source into a path and an include pattern
        (``strings.Cut(src, "/./")``); without a pivot the path is ``/`` and the whole source the
        pattern. ``--exclude`` patterns go through unchanged. Not verified against a real build.
        """
        patterns: tuple[str, ...] = ()
        if parents:
            parent, sep, pattern = src.partition("/./")
            if not sep:
                pattern, parent = src, "/"
            patterns = (go_join("/", pattern).removeprefix("/"),)
            src = parent
        path = go_join("/", src)
        return cls(
            path=path,
            wildcard=contains_wildcards(path),
            follow_links=follow_links,
            include_patterns=patterns,
            exclude_patterns=tuple(excludes),
        )


def _force_trailing_slash(s: str) -> str:
    return s if s.endswith("/") else s + "/"


def _dedupe_paths(paths: list[str]) -> list[str]:
    """``dedupePaths`` (solver/llbsolver/ops/exec.go): drop a path that lies below another one."""
    old = set(paths)
    if len(old) <= 1:
        return list(old)
    out = [p1 for p1 in old if not any(p1 != p2 and p1.startswith(_force_trailing_slash(p2)) for p2 in old)]
    return sorted(out)


def dedupe_selectors(selectors: Sequence[Selector]) -> list[Selector]:
    """``dedupeSelectors`` (file.go): plain paths deduplicated per follow flag, filtered ones kept,
    all sorted by path (Go ``sort.Slice`` on ``Path``; equal paths keep no defined order)."""
    plain = _dedupe_paths([s.path for s in selectors if not s.has_wildcard_or_filters and not s.follow_links])
    follow = _dedupe_paths([s.path for s in selectors if not s.has_wildcard_or_filters and s.follow_links])
    out = [Selector(p, follow_links=False) for p in plain]
    out += [Selector(p, follow_links=True) for p in follow]
    out += [s for s in selectors if s.has_wildcard_or_filters]
    out.sort(key=lambda s: s.path.encode("utf-8", "surrogateescape"))
    return out


def selectors_digest(checksums: Sequence[str]) -> str:
    """``NewContentHashFunc``: ``sha256(join(cs_i, "\\0"))`` — the content key of one input."""
    return _sha(b"\0".join(c.encode() for c in checksums))


def root_digest(checksums: Sequence[str]) -> str:
    """The exported root record of a COPY's context input: ``sha256(D + "@-1")``, D from
    :func:`selectors_digest` (a result-based cache key, ``solver/index.go`` ``rootKey`` with output -1)."""
    return _sha((selectors_digest(checksums) + "@-1").encode())


def selector_digest(paths: Sequence[str]) -> str:
    """The *link* selector of a COPY's input in the cache graph (file.go ``CacheMap``):
    ``sha256(join(paths sorted descending, "\\0"))`` over the raw selector paths, duplicates kept."""
    raw = sorted((p.encode("utf-8", "surrogateescape") for p in paths), reverse=True)
    return _sha(b"\0".join(raw))


# ----------------------------------------------------------------------------------------- the engine

# A record of BuildKit's radix tree: ("dir", p) the Dir record (recursive digest), ("hdr", p) the
# DirHeader record (header digest), ("leaf", p) a file/symlink/device record.
_Rec = tuple[str, str]


class _Included(msgspec.Struct):
    path: str
    rec: _Rec
    included: bool = False
    include_info: MatchInfo | None = None
    exclude_info: MatchInfo | None = None
    follow_links: bool = False
    digest: str | None = None


class _Order(msgspec.Struct):
    keys: list[tuple[str, bool]] = msgspec.field(default_factory=list)  # (path, is_header) in radix order
    pos: dict[tuple[str, bool], int] = msgspec.field(default_factory=dict)


class Checksummer:
    """Checksums over one tree under one rule set; caches directory digests (cheap to reuse)."""

    def __init__(self, tree: ContextTree, rules: RuleSet = DEFAULT_RULES) -> None:
        self.tree = tree
        self.rules = rules
        self._dirs: dict[str, str] = {}
        self._leaf: dict[str, str] = {}
        self._order: _Order | None = None

    # ------------------------------------------------------------------------------- digests
    def header_digest(self, path: str) -> str:
        """A directory's own header digest; the local context root's is ``sha256("")``."""
        if path == "" and self.tree.local:
            return EMPTY_DIGEST
        e = self.tree.get(path)
        if e is None:
            raise SourceNotFoundError(path)
        return self.leaf_digest(path, e)

    def leaf_digest(self, path: str, e: Entry) -> str:
        d = self._leaf.get(path)
        if d is None:
            d = entry_digest(e, path)
            self._leaf[path] = d
        return d

    def dir_digest(self, path: str) -> str:
        """``checksum.go`` case CacheRecordTypeDir: ``sha256("\\0" + header + Σ "\\0" + name + child)``."""
        got = self._dirs.get(path)
        if got is not None:
            return got
        # iterative post-order: context trees can be deeper than Python's recursion limit
        stack: list[tuple[str, bool]] = [(path, False)]
        tree = self.tree
        while stack:
            p, ready = stack.pop()
            if p in self._dirs:
                continue
            names = tree.children(p)
            if not ready:
                stack.append((p, True))
                for n in names:
                    c = f"{p}/{n}"
                    ce = tree.get(c)
                    if ce is not None and ce.type is EntryType.DIR and c not in self._dirs:
                        stack.append((c, False))
                continue
            h = hashlib.sha256()
            h.update(b"\0" + self.header_digest(p).encode())
            for n in names:
                c = f"{p}/{n}"
                ce = tree.get(c)
                assert ce is not None
                d = self._dirs[c] if ce.type is EntryType.DIR else self.leaf_digest(c, ce)
                h.update(b"\0" + n.encode("utf-8", "surrogateescape") + d.encode())
            self._dirs[p] = "sha256:" + h.hexdigest()
        return self._dirs[path]

    def rec_digest(self, rec: _Rec) -> str:
        kind, p = rec
        if kind == "dir":
            return self.dir_digest(p)
        if kind == "hdr":
            return self.header_digest(p)
        e = self.tree.get(p)
        if e is None:
            raise SourceNotFoundError(p)
        return self.leaf_digest(p, e)

    def _rec(self, p: str) -> _Rec | None:
        e = self.tree.get(p)
        if e is None:
            return None
        return ("dir" if e.type is EntryType.DIR else "leaf", p)

    def _is_symlink(self, rec: _Rec | None) -> bool:
        if rec is None or rec[0] != "leaf":
            return False
        e = self.tree.get(rec[1])
        return e is not None and e.type is EntryType.SYMLINK

    def _linkname(self, rec: _Rec) -> str:
        e = self.tree.get(rec[1])
        assert e is not None
        return e.linkname

    # ------------------------------------------------------------------------------- symlinks
    def _legacy_get(self, k: str, walked: list[int]) -> tuple[str, _Rec | None]:
        """v0.13 ``getFollowLinksWalk``: resolve symlinks in the *parents* of k, recursively."""
        rec = self._rec(k)
        if rec is not None:
            return k, rec
        if k == "":
            return k, None
        d, f = k.rsplit("/", 1)
        dres, parent = self._legacy_get(d, walked)
        if parent is not None and self._is_symlink(parent):
            walked[0] += 1
            if walked[0] > _MAX_LINKS:
                raise TooManyLinksError(k)
            link = _clean_link(d, self._linkname(parent))
            if link == "/":
                # Go appends the file key to the key of "/" ("\0"), a key that never exists
                return "//" + f, None
            return self._legacy_get(f"{link}/{f}", walked)
        k2 = f"{dres}/{f}"
        return k2, self._rec(k2)

    def _posix_get(self, k: str, follow_trailing: bool) -> tuple[str, _Rec | None]:
        """v0.14+ ``getFollowLinksCallback``: component by component, like the kernel, bounded at /."""
        rec = self._rec(k)
        if rec is not None and (not follow_trailing or not self._is_symlink(rec)):
            return k, rec
        if k == "":
            return k, None
        current = "/"
        remaining = k.removesuffix("/")
        walked = 0
        cr: _Rec | None = None
        while remaining != "":
            i = remaining.find("/")
            if i == -1:
                part, remaining = remaining, ""
            else:
                part, remaining = remaining[:i], remaining[i + 1 :]
            nxt = go_join("/", current, part)
            if nxt == "/":
                current = "/"
                continue
            if nxt == current:
                continue
            cr = self._rec(nxt)
            if cr is None or not self._is_symlink(cr):
                current = nxt
                continue
            if not follow_trailing and remaining == "":
                current = nxt
                break
            walked += 1
            if walked > _MAX_LINKS:
                raise TooManyLinksError(k)
            link = self._linkname(cr)
            remaining = link + "/" + remaining
            if link.startswith("/"):
                current = "/"
        # "/" stands for Go's key of "/" ("\0"), which is the root's *header* key, not the root
        return current, cr

    def _get_follow(self, k: str, follow_trailing: bool) -> tuple[str, _Rec | None]:
        if self.rules is RuleSet.V0_10:
            return self._legacy_get(k, [0])
        return self._posix_get(k, follow_trailing)

    def _follow_digest(self, p: str, follow: bool) -> str:
        """Checksum of a plain path: v0.13 ``checksumFollow``; v0.14+ ``lazyChecksum``."""
        if self.rules is not RuleSet.V0_10:
            k = key_path(p)
            _, rec = self._posix_get(k, follow)
            if rec is None:
                raise SourceNotFoundError(k)
            return self.rec_digest(rec)
        for _ in range(_MAX_LINKS + 1):
            k = key_path(p)
            _, rec = self._legacy_get(k, [0])
            if rec is None:
                raise SourceNotFoundError(k)
            if follow and self._is_symlink(rec):
                link = self._linkname(rec)
                if not link.startswith("/"):
                    link = go_join(go_dir(p), link)
                p = link
                continue
            return self.rec_digest(rec)
        raise TooManyLinksError(p)

    # ------------------------------------------------------------------------------- selectors
    def checksum(self, sel: Selector) -> str:
        """``cacheContext.Checksum`` for one selector (path cleaned with ``path.Join("/", ...)``)."""
        p = go_join("/", sel.path)
        if not sel.has_wildcard_or_filters:
            return self._follow_digest(p, sel.follow_links)
        prefix, included = self._included_paths(p, sel)
        for w in included:
            follow = w.follow_links if self.rules in (RuleSet.V0_25, RuleSet.V0_26) else sel.follow_links
            if follow and self._is_symlink(w.rec):
                w.digest = self._follow_digest(w.path, sel.follow_links)
        if not included:
            return EMPTY_DIGEST
        if len(included) == 1 and go_base(p) == go_base(included[0].path):
            return self._inc_digest(included[0])
        h = hashlib.sha256()
        if self.rules is RuleSet.V0_26:
            for w in included:
                rel = w.path.removeprefix(prefix)
                k = rel.replace("/", "\0").encode("utf-8", "surrogateescape") or b"\0"
                h.update(k + self._inc_digest(w).encode())
        else:
            for i, w in enumerate(included):
                if i:
                    h.update(b"\0")
                h.update(go_base(w.path).encode("utf-8", "surrogateescape") + self._inc_digest(w).encode())
        return "sha256:" + h.hexdigest()

    def _inc_digest(self, w: _Included) -> str:
        if w.digest is None:
            w.digest = self.rec_digest(w.rec)
        return w.digest

    def _key_order(self) -> _Order:
        if self._order is None:
            o = _Order()
            for path, e in self.tree.walk(""):
                o.pos[(path, False)] = len(o.keys)
                o.keys.append((path, False))
                if e.type is EntryType.DIR:
                    o.pos[(path, True)] = len(o.keys)
                    o.keys.append((path, True))
            self._order = o
        return self._order

    def _wildcard_prefix(self, p: str) -> tuple[str, str, bool]:
        """``wildcardPrefix``: (original prefix, resolved key, found)."""
        d1, d2 = split_wildcards(p)
        if d1 == "/":
            return "", "", False
        if self.rules is not RuleSet.V0_10:
            k, rec = self._posix_get(d1, d2 != "")
            return d1, k, rec is not None
        walked = [0]
        k, rec = self._legacy_get(d1, walked)
        if d2 != "" and rec is not None and self._is_symlink(rec):
            resolved = k
            while True:
                r = self._rec(k)
                if r is None:
                    return d1, k, False
                if not self._is_symlink(r):
                    break
                walked[0] += 1
                if walked[0] > _MAX_LINKS:
                    raise TooManyLinksError(p)
                # Go shadows `resolved` inside the loop: every step is relative to the first link
                k = _clean_link(resolved, self._linkname(r))
        return d1, k, rec is not None

    def _included_paths(self, p: str, sel: Selector) -> tuple[str, list[_Included]]:
        """``includedPaths``: walk the radix tree from the prefix, matching wildcard and patterns."""
        ends_in_sep = p.endswith("/")
        p = key_path(p)
        try:
            inc = PatternMatcher(sel.include_patterns) if sel.include_patterns else None
            exc = PatternMatcher(sel.exclude_patterns) if sel.exclude_patterns else None
        except PatternError as e:
            raise PatternError(f"invalid patterns for {p or '/'}: {e}") from e
        order = self._key_order()
        if sel.wildcard:
            orig_prefix, k, key_ok = self._wildcard_prefix(p)
        else:
            orig_prefix = p
            k, rec = self._get_follow(p, False)
            key_ok = rec is not None
        resolved_prefix = ""
        idx: int
        if orig_prefix != "":
            if not key_ok:
                return orig_prefix, []
            if k == "/":  # Go's key "\0": the root's header; its path form is "/"
                idx = order.pos[("", True)] + 1
            elif k == "":
                idx = order.pos[("", False)] + 1
            elif (k, False) in order.pos:
                idx = order.pos[(k, False)] + 1
            else:
                return orig_prefix, []
            resolved_prefix = k
        else:
            idx = 0
        included: list[_Included] = []
        parents: list[_Included] = []
        last_matched = ""
        first_level_follow = self.rules in (RuleSet.V0_25, RuleSet.V0_26)
        keys = order.keys
        while idx < len(keys):
            kpath, is_hdr = keys[idx]
            idx += 1
            fn = kpath + "/" if is_hdr else kpath
            if fn.startswith(resolved_prefix):
                fn = orig_prefix + fn[len(resolved_prefix) :]
            while parents and not fn.startswith(parents[-1].path + "/"):
                parents.pop()
            parent = parents[-1] if parents else None
            if is_hdr:
                fn = fn[:-1]
                if fn == p and ends_in_sep:
                    continue
            cand = _Included(fn, ("hdr", kpath) if is_hdr else self._rec(kpath) or ("leaf", kpath))
            if first_level_follow and parent is None and sel.follow_links:
                cand.follow_links = True
            if sel.wildcard:
                if p != "" and (last_matched == "" or not fn.startswith(last_matched + "/")):
                    try:
                        if not go_match(p, fn):
                            continue
                    except BadPatternError as e:
                        raise PatternError(f"syntax error in pattern {p!r}") from e
                    last_matched = fn
                rel = (fn + "/").removeprefix(last_matched + "/").removesuffix("/")
            else:
                if not (fn + "/").startswith(p + "/"):
                    break
                rel = (fn + "/").removeprefix(p + "/").removesuffix("/")
            should = _should_include(rel, inc, exc, cand, parent)
            if not should and not is_hdr:
                continue
            if cand.rec[0] == "dir":
                should = False  # dir contents are hashed entry by entry, never as a whole
            if should:
                for pd in parents:
                    if not pd.included:
                        included.append(pd)
                        pd.included = True
                included.append(cand)
                cand.included = True
            if is_hdr:
                parents.append(cand)
        return orig_prefix, included


def _should_include(
    cand: str, inc: PatternMatcher | None, exc: PatternMatcher | None, w: _Included, parent: _Included | None
) -> bool:
    if inc is not None:
        m, info = inc.matches_using_parent_results(cand, parent.include_info if parent else None)
        w.include_info = info
        if not m:
            return False
    if exc is not None:
        m, info = exc.matches_using_parent_results(cand, parent.exclude_info if parent else None)
        w.exclude_info = info
        if m:
            return False
    return True


def _clean_link(d: str, linkname: str) -> str:
    """``cleanLink``: a symlink's target as an absolute path inside the tree."""
    from ._gopath import go_clean

    dir_path = go_clean(d)
    if dir_path in (".", "/"):
        dir_path = ""
    link = go_clean(linkname)
    if not link.startswith("/"):
        return go_join("/", go_join(go_dir(dir_path), link))
    return link


def checksum(tree: ContextTree, selector: Selector | str, rules: RuleSet = DEFAULT_RULES) -> str:
    """One selector's checksum over a tree (a convenience over :class:`Checksummer`)."""
    sel = Selector(selector) if isinstance(selector, str) else selector
    return Checksummer(tree, rules).checksum(sel)
