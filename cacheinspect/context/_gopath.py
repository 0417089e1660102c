"""Go's ``path.Clean``, ``path.Join``, ``path.Dir`` and ``path.Match``, ported exactly.

BuildKit and fsutil make every path decision with these functions; Python's ``posixpath`` differs in
corner cases that change which file a COPY reads (``normpath("//a")`` keeps the double slash,
``fnmatch`` lets ``*`` cross ``/`` and has no error for ``[``), so the engine uses these instead.
Source: Go ``src/path/path.go`` and ``src/path/match.go`` (Go ≥ 1.16 semantics: the whole pattern is
checked for syntax even after a mismatch).
"""

from __future__ import annotations

__all__ = [
    "BadPatternError",
    "contains_wildcards",
    "go_base",
    "go_clean",
    "go_dir",
    "go_join",
    "go_match",
    "split_wildcards",
]


class BadPatternError(ValueError):
    """Go's ``path.ErrBadPattern``: "syntax error in pattern"."""

    def __init__(self) -> None:
        super().__init__("syntax error in pattern")


def go_clean(p: str) -> str:
    """``path.Clean``: lexical shortest path; ``""`` -> ``"."``; never a trailing slash except ``/``."""
    if p == "":
        return "."
    rooted = p[0] == "/"
    out: list[str] = []
    for part in p.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    s = "/".join(out)
    if rooted:
        return "/" + s
    return s or "."


def go_join(*elems: str) -> str:
    """``path.Join``: join the non-empty elements with ``/`` and clean; all empty -> ``""``."""
    parts = [e for e in elems if e != ""]
    if not parts:
        return ""
    return go_clean("/".join(parts))


def go_dir(p: str) -> str:
    """``path.Dir``: everything but the last element, cleaned (``"a"`` -> ``"."``)."""
    i = p.rfind("/")
    return go_clean(p[: i + 1])


def go_base(p: str) -> str:
    """``path.Base``: last element; ``""`` -> ``"."``, all slashes -> ``"/"``."""
    if p == "":
        return "."
    p = p.rstrip("/")
    if p == "":
        return "/"
    return p[p.rfind("/") + 1 :]


def contains_wildcards(name: str) -> bool:
    """BuildKit's ``containsWildcards`` (Linux): ``*``, ``?`` or ``[`` not escaped by a backslash."""
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\":
            i += 1
        elif ch in "*?[":
            return True
        i += 1
    return False


def split_wildcards(p: str) -> tuple[str, str]:
    """``splitWildcards`` (cache/contenthash/checksum.go): prefix before the first wildcard component."""
    parts = go_join(p).split("/")
    p1: list[str] = []
    p2: list[str] = []
    found = False
    for part in parts:
        if not found and contains_wildcards(part):
            found = True
        if part == "":
            part = "/"
        (p2 if found else p1).append(part)
    return go_join(*p1), go_join(*p2)


# ------------------------------------------------------------------------------------------ path.Match


def go_match(pattern: str, name: str) -> bool:
    """``path.Match``: ``*`` and ``?`` never match ``/``; raises :class:`BadPatternError`."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and chunk == "":
            # trailing * matches the rest unless it contains a /
            return "/" not in name
        t, ok = _match_chunk(chunk, name)
        if ok and (len(t) == 0 or len(pattern) > 0):
            name = t
            continue
        if star:
            i = 0
            matched = False
            while i < len(name) and name[i] != "/":
                t, ok = _match_chunk(chunk, name[i + 1 :])
                if ok:
                    if len(pattern) == 0 and len(t) > 0:
                        i += 1
                        continue
                    name = t
                    matched = True
                    break
                i += 1
            if matched:
                continue
        # no match: check the rest of the pattern for syntax errors (Go >= 1.16)
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return len(name) == 0


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern and pattern[0] == "*":
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    """Returns (rest of s, ok); raises BadPatternError on a malformed chunk (even when s is exhausted)."""
    failed = False
    while chunk:
        if not failed and len(s) == 0:
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r = s[0]
                s = s[1:]
            chunk = chunk[1:]
            negated = False
            if chunk and chunk[0] == "^":
                negated = True
                chunk = chunk[1:]
            match = False
            nrange = 0
            while True:
                if chunk and chunk[0] == "]" and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk and chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                if lo <= r <= hi and r != "":
                    match = True
                nrange += 1
            if match == negated:
                failed = True
        elif c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        elif c == "\\":
            chunk = chunk[1:]
            if not chunk:
                raise BadPatternError()
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return "", False
    return s, True


def _get_esc(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise BadPatternError()
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPatternError()
    r = chunk[0]
    chunk = chunk[1:]
    if not chunk:
        raise BadPatternError()
    return r, chunk
