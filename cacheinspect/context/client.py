"""What the client sends: the tree BuildKit's receiver ends up with (pure), and reading .dockerignore.

BuildKit v0.13's Dockerfile frontend asks the client only for the paths its COPY/ADD lines name
(``dockerfile2llb/convert.go``: ``ctxPaths`` -> ``llb.FollowPaths``; the whole context as soon as one
source is ``.``), and buildx passes ``.dockerignore`` as exclude patterns. fsutil then turns the
follow paths into include patterns (``followlinks.go``: each path and every symlink target met on
the way), and its filter walk (``filter.go``) keeps a path when the include patterns match it or a
parent, and the exclude patterns do not; parent directories of a kept path are sent even when they
are themselves excluded. :func:`client_view` applies exactly that to a walked tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from ._gopath import contains_wildcards, go_base, go_clean, go_dir, go_join, go_match
from .errors import ContextError, ContextPathError
from .patternmatcher import MatchInfo, PatternError, PatternMatcher, matches, read_ignorefile
from .tree import ContextTree, Entry, EntryType

__all__ = [
    "client_view",
    "context_paths",
    "follow_links",
    "read_dockerignore",
    "trim_build_files_from_excludes",
]


def context_paths(sources: Iterable[str]) -> list[str] | None:
    """``normalizeContextPaths``: the FollowPaths the frontend sends, or None for the whole context."""
    paths = {go_join("/", s) for s in sources}
    if not paths or "/" in paths:
        return None
    return sorted(go_join(".", p) for p in paths)


def _fsutil_dedupe(paths: list[str]) -> list[str] | None:
    """fsutil ``dedupePaths`` (expects sorted input; ``.`` means no filter at all)."""
    out: list[str] = []
    last = ""
    for s in paths:
        if s == ".":
            return None
        if last and s.startswith(last + "/"):
            continue
        if not last and s.startswith("/"):
            continue
        out.append(s)
        last = s
    return out


def _rel_get(tree: ContextTree, rel: str) -> Entry | None:
    return tree.get("" if rel in (".", "") else "/" + rel)


def follow_links(tree: ContextTree, paths: Sequence[str]) -> list[str] | None:
    """fsutil ``FollowLinks``: the paths plus every symlink target met while walking them."""
    resolved: set[str] = set()

    def read_symlink(p: str, allow_wildcard: bool) -> list[str] | None:
        base = go_base(p)
        if allow_wildcard and contains_wildcards(base):
            d = go_dir(p)
            parent = _rel_get(tree, d)
            if parent is None or parent.type is not EntryType.DIR:
                return None
            out: list[str] = []
            for name in tree.children("" if d == "." else "/" + d):
                try:
                    ok = go_match(base, name)
                except ValueError:
                    ok = False
                if ok:
                    out += read_symlink(go_join(d, name), False) or []
            return out
        clean = go_clean(p)
        if clean in ("/", "."):
            return None
        e = _rel_get(tree, clean)
        if e is None or e.type is not EntryType.SYMLINK:
            return None
        link = go_clean(e.linkname)
        if link.startswith("/"):
            return [link]
        return [go_join("/", go_join(go_dir(p), link))]

    def append(p: str, depth: int = 0) -> None:
        if depth > 255:
            return
        p = go_join(".", p)
        current = "."
        while True:
            head, sep, rest = p.partition("/")
            current = go_join(current, head)
            targets = read_symlink(current, True)
            p = rest if sep else ""
            if (p == "" or targets is not None) and current in resolved:
                return
            if targets is not None:
                resolved.add(current)
                for t in targets:
                    append(go_join(t, p), depth + 1)
                return
            if p == "":
                resolved.add(current)
                return

    for p in paths:
        append(p)
    return _fsutil_dedupe(sorted(resolved))


def trim_build_files_from_excludes(excludes: list[str], dockerfile: str = "Dockerfile") -> list[str]:
    """The classic docker CLI rule (``cli/command/image/build/context.go``): a ``.dockerignore`` that
    excludes ``.dockerignore`` or the Dockerfile gets exceptions for them. buildx does not do this."""
    out = list(excludes)
    if matches(".dockerignore", out):
        out.append("!.dockerignore")
    dockerfile = dockerfile.replace(os.sep, "/")
    if matches(dockerfile, out):
        out.append("!" + dockerfile)
    return out


def _windows_mode(e: Entry) -> int:
    # Go on Windows reports 0777 for directories, 0666 (0444 when read-only) for files; fsutil
    # mkstat then makes everything +x and masks with 0755 (stat.go).
    if e.type is EntryType.DIR or e.type is EntryType.SYMLINK:
        perm = 0o777
    else:
        perm = 0o666 if e.mode & 0o200 else 0o444
    return (perm | 0o111) & 0o755


def client_view(
    tree: ContextTree,
    sources: Iterable[str] | None,
    excludes: Sequence[str] = (),
    *,
    windows: bool = False,
) -> ContextTree:
    """The tree BuildKit receives: ``sources`` are the context paths the COPY/ADD lines name (None or
    containing ``.``: the whole context), ``excludes`` the ``.dockerignore`` patterns.

    ``windows=True`` simulates a Windows client (every mode 0755, read-only files 0555, no xattrs).
    """
    follow = context_paths(sources) if sources is not None else None
    include_patterns = follow_links(tree, follow) if follow is not None else None
    inc = PatternMatcher(include_patterns) if include_patterns else None
    exc = PatternMatcher(excludes) if excludes else None
    if inc is None and exc is None and not windows and not _has_hardlinks(tree):
        return tree  # the whole context is sent as it is
    out = ContextTree(local=tree.local)
    root = tree.get("")
    if root is not None:
        out.add("", root)
    # parent stack: (key path, include info, exclude info, emitted, entry)
    stack: list[tuple[str, MatchInfo | None, MatchInfo | None, list[bool], Entry]] = []
    first_inode: dict[int, str] = {}
    for k, e in tree.walk(""):
        if k == "":
            continue
        rel = k[1:]
        while stack and not k.startswith(stack[-1][0] + "/"):
            stack.pop()
        pinc = stack[-1][1] if stack else None
        pexc = stack[-1][2] if stack else None
        skip = False
        inc_info: MatchInfo | None = None
        exc_info: MatchInfo | None = None
        if inc is not None:
            m, inc_info = inc.matches_using_parent_results(rel, pinc)
            if not m:
                skip = True
        if exc is not None:
            m, exc_info = exc.matches_using_parent_results(rel, pexc)
            if m:
                skip = True
        emitted = [False]
        if e.type is EntryType.DIR:
            stack_entry = (k, inc_info, exc_info, emitted, e)
        if not skip:
            for pk, _, _, pem, pe in stack:
                if not pem[0]:
                    out.add(pk, _client_entry(pe, windows))
                    pem[0] = True
            ce = _client_entry(e, windows)
            if ce.inode is not None and ce.type is EntryType.FILE:
                first = first_inode.setdefault(ce.inode, k)
                if first != k:
                    ce = ce.with_(hardlink_of=first)
            out.add(k, ce)
            emitted[0] = True
        if e.type is EntryType.DIR:
            stack.append(stack_entry)
    return out


def _has_hardlinks(tree: ContextTree) -> bool:
    return any(e.inode is not None for _, e in tree.items())


def _client_entry(e: Entry, windows: bool) -> Entry:
    if not windows or e.type is EntryType.UNREADABLE:
        return e
    changes: dict[str, object] = {"mode": _windows_mode(e), "xattrs": {}}
    if e.digest is not None:
        changes["digest"] = None  # the header changed: recompute (content must be known)
    return e.with_(**changes)


def read_dockerignore(
    context: str | os.PathLike[str], dockerfile: str | os.PathLike[str] | None = None
) -> list[str]:
    """The exclude patterns buildx sends: ``<Dockerfile>.dockerignore`` next to the Dockerfile wins over
    ``CONTEXT/.dockerignore`` (buildx ``build.go``); neither present -> no patterns."""
    candidates = []
    if dockerfile is not None:
        candidates.append(os.fspath(dockerfile) + ".dockerignore")
    candidates.append(os.path.join(os.fspath(context), ".dockerignore"))
    from cacheinspect.errors import UsageError
    from cacheinspect.safeio import read_local_file

    for c in candidates:
        if not os.path.exists(c):  # missing, or a dangling link: Go's os.IsNotExist, no patterns
            continue
        try:
            # a FIFO would block and a link to /dev/zero never end: the one bounded-read rule
            data = read_local_file(c, what=".dockerignore")
        except UsageError as e:
            raise ContextPathError(e.message) from None
        patterns = read_ignorefile(data)
        try:
            PatternMatcher(patterns).check()
        except PatternError as e:
            # the client fails the same way before sending anything (fsutil NewFS -> patternmatcher.New)
            raise ContextError(f"{c}: {e}") from None
        return patterns
    return []
