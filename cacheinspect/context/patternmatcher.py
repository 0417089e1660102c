"""A faithful port of moby/patternmatcher v0.6 (``patternmatcher.go``, ``ignorefile/ignorefile.go``).

Why a port and not a library: ``.dockerignore``, fsutil's include/exclude filters and BuildKit's
``--parents``/``--exclude`` selectors all go through this exact code, and its semantics are its own:
a pattern matches a path *or any of its parent directories* (``docs`` excludes ``docs/a/b``), ``**``
compiles to ``(.*/)?``, a leading ``**`` is a suffix match, a trailing ``**`` a prefix match, later
``!`` exceptions re-include, and every pattern is ``filepath.Clean``-ed first. ``pathspec`` implements
gitwildmatch (no parent-directory matching, different ``**`` and escaping rules) and ``fnmatch`` lets
``*`` cross ``/``; neither reproduces BuildKit's decisions. PyPI has no port of patternmatcher.

The compiled regexps run on RE2 (the ``google-re2`` package), the engine Go's ``regexp`` package
implements: matching is linear in the path, where Python's backtracking ``re`` took minutes for a short
pattern such as ``*a*a*a*a*a*a*a*b`` against a 40-character name (issue 17), and the syntax inside
``[...]`` (POSIX classes ``[[:alpha:]]``, ``\\pL``) is Go's. As in Go, a path that is not valid UTF-8
is matched with each invalid byte read as U+FFFD, and a pattern that is not valid UTF-8 is invalid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from cacheinspect._lazyre import lazy

from ._gopath import BadPatternError, go_clean, go_dir, go_match
from .errors import ContextError

__all__ = [
    "MatchInfo",
    "Pattern",
    "PatternError",
    "PatternMatcher",
    "matches",
    "matches_or_parent_matches",
    "read_ignorefile",
]

_ESCAPE = set(".+()|{}$")


class PatternError(ContextError, ValueError):
    """An invalid pattern (Go: ``filepath.ErrBadPattern`` or ``illegal exclusion pattern: "!"``).

    A :class:`~cacheinspect.context.errors.ContextError` (exit 2): a pattern found bad only when it is
    first matched (Go compiles lazily too) fails the build, and the command, with one error line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


_EXACT, _PREFIX, _SUFFIX, _REGEXP = 1, 2, 3, 4


class Pattern(msgspec.Struct):
    """One cleaned pattern; compiled lazily like Go's (an invalid regexp fails on first match)."""

    cleaned: str
    exclusion: bool
    dirs: list[str]
    _type: int = 0
    _regexp: Any = None  # a compiled re2 regexp (bytes, UTF-8 mode)
    _bad: bool = False

    def __str__(self) -> str:
        return self.cleaned

    def match(self, path: str) -> bool:
        if self._type == 0 and not self._bad:
            self._compile()
        if self._bad:
            raise PatternError(f"syntax error in pattern {self.cleaned!r}")
        if self._type == _EXACT:
            return path == self.cleaned
        if self._type == _PREFIX:
            return path.startswith(self.cleaned[:-2])
        if self._type == _SUFFIX:
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            return suffix[:1] == "/" and path == suffix[1:]
        assert self._regexp is not None
        return self._regexp.match(_go_bytes(path)) is not None

    def _compile(self) -> None:
        reg = "^"
        detected = _EXACT
        pat = self.cleaned
        i = 0
        n = len(pat)
        idx = 0  # Go's loop counter i: number of scanned tokens
        trailing_backslash = False
        while i < n:
            ch = pat[i]
            i += 1
            if ch == "*":
                if i < n and pat[i] == "*":
                    i += 1
                    if i < n and pat[i] == "/":
                        i += 1
                    if i >= n:
                        if detected == _EXACT:
                            detected = _PREFIX
                        else:
                            reg += ".*"
                            detected = _REGEXP
                    else:
                        reg += "(.*/)?"
                        detected = _REGEXP
                    if idx == 0:
                        detected = _SUFFIX
                else:
                    reg += "[^/]*"
                    detected = _REGEXP
            elif ch == "?":
                reg += "[^/]"
                detected = _REGEXP
            elif ch in _ESCAPE:
                reg += "\\" + ch
            elif ch == "\\":
                if i < n:
                    reg += "\\" + pat[i]
                    i += 1
                    detected = _REGEXP
                else:
                    # Go appends a lone backslash, which then escapes the final "$": the
                    # regexp ends in a literal dollar and is not anchored at the end.
                    trailing_backslash = True
            elif ch in "[]":
                reg += ch
                detected = _REGEXP
            else:
                reg += ch
            idx += 1
        if detected == _REGEXP:
            self._regexp = _compile_re2(reg + ("\\$" if trailing_backslash else "$"))
            if self._regexp is None:
                self._bad = True
                return
        self._type = detected


_SURROGATE = lazy("[\udc80-\udcff]")


def _go_bytes(path: str) -> bytes:
    """*path* as the UTF-8 Go's regexp reads: a non-UTF-8 byte (a surrogate escape here) is U+FFFD."""
    try:
        return path.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", path).encode("utf-8", "replace")


def _compile_re2(reg: str) -> Any:
    """Go's ``regexp.Compile`` on RE2: None where Go's would fail (bad syntax, invalid UTF-8, too large).

    ``$`` without multi-line mode is end of text in RE2 as in Go. Errors are not logged (RE2 would
    print them on stderr)."""
    from cacheinspect._re2 import Re2Error, compile_go

    try:
        pattern = reg.encode("utf-8")
    except UnicodeEncodeError:
        return None
    try:
        return compile_go(pattern)
    except Re2Error:
        return None


class MatchInfo(msgspec.Struct):
    """Per-pattern results for a parent directory (Go: ``MatchInfo.parentMatched``)."""

    parent_matched: list[bool] = msgspec.field(default_factory=list)


class PatternMatcher:
    """``patternmatcher.PatternMatcher``: patterns in order, later ones override earlier ones."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: list[Pattern] = []
        self.exclusions = False
        for raw in patterns:
            p = raw.strip()
            if p == "":
                continue
            p = go_clean(p)
            exclusion = False
            if p[0] == "!":
                if len(p) == 1:
                    raise PatternError('illegal exclusion pattern: "!"')
                exclusion = True
                p = p[1:]
                self.exclusions = True
            try:
                go_match(p, ".")
            except BadPatternError as e:
                raise PatternError(f"syntax error in pattern {p!r}") from e
            self.patterns.append(Pattern(p, exclusion, p.split("/")))

    def check(self) -> None:
        """Compile every pattern now (Go compiles on first match): raises PatternError for the first bad one."""
        for p in self.patterns:
            p.match("")

    def matches(self, file: str) -> bool:
        """The deprecated ``Matches``: only the parent directory *as deep as the pattern* is tried.
        The docker CLI still uses it in ``TrimBuildFilesFromExcludes``."""
        matched = False
        parent = go_dir(file)
        parent_dirs = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            match = pattern.match(file)
            if not match and parent != "." and len(pattern.dirs) <= len(parent_dirs):
                match = pattern.match("/".join(parent_dirs[: len(pattern.dirs)]))
            if match:
                matched = not pattern.exclusion
        return matched

    def matches_or_parent_matches(self, file: str) -> bool:
        """``MatchesOrParentMatches``: the file or one of its parent directories matches."""
        matched = False
        parent = go_dir(file)
        parent_dirs = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            match = pattern.match(file)
            if not match and parent != ".":
                for i in range(len(parent_dirs)):
                    if pattern.match("/".join(parent_dirs[: i + 1])):
                        match = True
                        break
            if match:
                matched = not pattern.exclusion
        return matched

    def matches_using_parent_results(self, file: str, parent: MatchInfo | None) -> tuple[bool, MatchInfo]:
        """``MatchesUsingParentResults``: what a walker calls with the parent directory's MatchInfo."""
        parent_matched = parent.parent_matched if parent is not None else []
        if parent_matched and len(parent_matched) != len(self.patterns):
            raise PatternError("wrong number of values in parentMatched")
        matched = False
        info = MatchInfo([False] * len(self.patterns))
        for i, pattern in enumerate(self.patterns):
            match = parent_matched[i] if parent_matched else False
            if not match:
                if pattern.exclusion != matched:
                    continue
                match = pattern.match(file)
                if not match and not parent_matched:
                    parent_path = go_dir(file)
                    if parent_path != ".":
                        dirs = parent_path.split("/")
                        for j in range(len(dirs)):
                            if pattern.match("/".join(dirs[: j + 1])):
                                match = True
                                break
            info.parent_matched[i] = match
            if match:
                matched = not pattern.exclusion
        return matched, info


def matches_or_parent_matches(file: str, patterns: Sequence[str]) -> bool:
    """Package-level ``MatchesOrParentMatches``: ``"."`` never matches ("don't exclude everything")."""
    pm = PatternMatcher(patterns)
    file = go_clean(file)
    if file == ".":
        return False
    return pm.matches_or_parent_matches(file)


def matches(file: str, patterns: Sequence[str]) -> bool:
    """Package-level deprecated ``Matches`` (``"."`` never matches)."""
    pm = PatternMatcher(patterns)
    file = go_clean(file)
    if file == ".":
        return False
    return pm.matches(file)


def read_ignorefile(data: bytes) -> list[str]:
    """``ignorefile.ReadAll``: BOM stripped, ``#`` comments, trimmed, cleaned, leading ``/`` removed.

    Lines are split like Go's ``bufio.ScanLines`` (``\\n``, a trailing ``\\r`` dropped). A comment is a
    line *starting* with ``#`` before trimming, so `` # x`` is a pattern, as in Go.
    """
    text = data.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[str] = []
    for line in lines:
        if line.endswith("\r"):
            line = line[:-1]
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if pattern == "":
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        if invert:
            pattern = "!" + pattern
        out.append(pattern)
    return out
