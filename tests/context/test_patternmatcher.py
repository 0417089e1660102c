"""The patternmatcher port against moby/patternmatcher's own test tables (patternmatcher_test.go,
ignorefile/ignorefile_test.go at v0.6.x), run through every entry point the Go tests use."""

from __future__ import annotations

import pytest

from cacheinspect.context._gopath import go_dir
from cacheinspect.context.patternmatcher import (
    MatchInfo,
    PatternError,
    PatternMatcher,
    matches,
    read_ignorefile,
)

# TestMatches: (pattern, text, pass)
MATCHES = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "/", True),
    ("**/", "/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        True,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),  # non-Windows only upstream
]

MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (
        ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        False,
    ),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
]

ALL = [([p], t, ok) for p, t, ok in MATCHES] + MULTI


@pytest.mark.parametrize(("patterns", "text", "ok"), ALL)
def test_matches_or_parent_matches(patterns: list[str], text: str, ok: bool) -> None:
    assert PatternMatcher(patterns).matches_or_parent_matches(text) is ok


@pytest.mark.parametrize(("patterns", "text", "ok"), ALL)
def test_matches_using_parent_results(patterns: list[str], text: str, ok: bool) -> None:
    # as the Go test: feed the parent directories first, then the path with their MatchInfo
    pm = PatternMatcher(patterns)
    parent = go_dir(text)
    info = MatchInfo()
    if parent != ".":
        dirs = parent.split("/")
        for i in range(len(dirs)):
            _, info = pm.matches_using_parent_results("/".join(dirs[: i + 1]), info)
    assert pm.matches_using_parent_results(text, info)[0] is ok


@pytest.mark.parametrize(("patterns", "text", "ok"), ALL)
def test_matches_using_parent_results_no_context(patterns: list[str], text: str, ok: bool) -> None:
    assert PatternMatcher(patterns).matches_using_parent_results(text, MatchInfo())[0] is ok


# TestMatch: Go's filepath.Match table run through the package-level (deprecated) Matches
FILEPATH_MATCH = [
    ("abc", "abc", True, False),
    ("*", "abc", True, False),
    ("*c", "abc", True, False),
    ("a*", "a", True, False),
    ("a*", "abc", True, False),
    ("a*", "ab/c", True, False),
    ("a*/b", "abc/b", True, False),
    ("a*/b", "a/c/b", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False, False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True, False),
    ("a*b?c*x", "abxbbxdbxebxczzy", False, False),
    ("ab[c]", "abc", True, False),
    ("ab[b-d]", "abc", True, False),
    ("ab[e-g]", "abc", False, False),
    ("ab[^c]", "abc", False, False),
    ("ab[^b-d]", "abc", False, False),
    ("ab[^e-g]", "abc", True, False),
    ("a\\*b", "a*b", True, False),
    ("a\\*b", "ab", False, False),
    ("a?b", "a☺b", True, False),
    ("a[^a]b", "a☺b", True, False),
    ("a???b", "a☺b", False, False),
    ("a[^a][^a][^a]b", "a☺b", False, False),
    ("[a-ζ]*", "α", True, False),
    ("*[a-ζ]", "A", False, False),
    ("a?b", "a/b", False, False),
    ("a*b", "a/b", False, False),
    ("[\\]a]", "]", True, False),
    ("[\\-]", "-", True, False),
    ("[x\\-]", "x", True, False),
    ("[x\\-]", "-", True, False),
    ("[x\\-]", "z", False, False),
    ("[\\-x]", "x", True, False),
    ("[\\-x]", "-", True, False),
    ("[\\-x]", "a", False, False),
    ("[]a]", "]", False, True),
    ("[-]", "-", False, True),
    ("[x-]", "x", False, True),
    ("[x-]", "-", False, True),
    ("[x-]", "z", False, True),
    ("[-x]", "x", False, True),
    ("[-x]", "-", False, True),
    ("[-x]", "a", False, True),
    ("\\", "a", False, True),
    ("[a-b-c]", "a", False, True),
    ("[", "a", False, True),
    ("[^", "a", False, True),
    ("[^bc", "a", False, True),
    ("a[", "a", False, True),
    ("a[", "ab", False, True),
    ("*x", "xxx", True, False),
]


@pytest.mark.parametrize(("pattern", "text", "ok", "err"), FILEPATH_MATCH)
def test_match_table(pattern: str, text: str, ok: bool, err: bool) -> None:
    if err:
        with pytest.raises(PatternError):
            matches(text, [pattern])
    else:
        assert matches(text, [pattern]) is ok


# TestCompile: the match type chosen for each pattern ("" regexp text is Go's; checked by behaviour)
COMPILE = [
    ("*", "regexp"),
    ("file*", "regexp"),
    ("*file", "regexp"),
    ("a*/b", "regexp"),
    ("**", "suffix"),
    ("**/**", "regexp"),
    ("dir/**", "prefix"),
    ("**/dir", "suffix"),
    ("**/dir2/*", "regexp"),
    ("**/dir2/**", "regexp"),
    ("**file", "suffix"),
    ("**/file*txt", "regexp"),
    ("**/**/*.txt", "regexp"),
    ("a[b-d]e", "regexp"),
    (".*", "regexp"),
    ("abc.def", "exact"),
    ("abc?def", "regexp"),
    ("**/foo/bar", "suffix"),
    ("a(b)c/def", "exact"),
    ("a.|)$(}+{bc", "exact"),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact"),
]


@pytest.mark.parametrize(("pattern", "kind"), COMPILE)
def test_compile_match_type(pattern: str, kind: str) -> None:
    p = PatternMatcher([pattern]).patterns[0]
    p.match("x")
    assert {1: "exact", 2: "prefix", 3: "suffix", 4: "regexp"}[p._type] == kind


def test_simple_cases_from_upstream() -> None:
    assert matches("fileutils.go", ["*"])
    assert matches("fileutils.go", ["*.go"])
    assert matches("fileutils.go", ["!fileutils.go", "*.go"])
    assert not matches("docs/README.md", ["docs", "!docs/README.md"])
    assert not matches("docs/README.md", ["docs/", "!docs/README.md"])
    assert not matches("docs/README.md", ["docs/*", "!docs/README.md"])
    assert not matches("fileutils.go", ["*.go", "!fileutils.go"])
    assert not matches(".", ["*.go"])
    assert not matches("/any/path/there", [])
    with pytest.raises(PatternError):
        matches("fileutils.go", ["!"])
    with pytest.raises(PatternError):
        matches("/any/path/there", ["["])


def test_clean_patterns() -> None:
    assert len(PatternMatcher(["docs", "config"]).patterns) == 2
    assert len(PatternMatcher(["docs", "config", ""]).patterns) == 2
    assert PatternMatcher(["docs", "!docs/README.md"]).exclusions
    assert PatternMatcher(["docs", "  !docs/README.md"]).exclusions
    assert PatternMatcher(["docs", "!docs/README.md  "]).exclusions
    with pytest.raises(PatternError):
        PatternMatcher(["!"])


def test_malformed_pattern_fails_on_every_call() -> None:
    # regression test upstream for moby/moby#52203: "[Local-Only]/" passes New, fails every match
    pm = PatternMatcher(["[Local-Only]/"])
    for _ in range(2):
        with pytest.raises(PatternError):
            pm.matches_or_parent_matches("x")


def test_read_ignorefile_upstream() -> None:
    content = b"test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    assert read_ignorefile(content) == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "!",
        "!",
    ]
    assert read_ignorefile(b"") == []


def test_read_ignorefile_bom_crlf_and_cleaning() -> None:
    # BOM stripped on the first line only; ScanLines drops the \r; patterns are filepath.Clean-ed
    assert read_ignorefile(b"\xef\xbb\xbfa\r\n./b/../c/\r\n  #not-a-comment\n#comment\n") == [
        "a",
        "c",
        "#not-a-comment",
    ]


# Issue 17: the matcher runs on RE2, like Go's regexp. Python's backtracking ``re`` needed minutes for a
# short pattern against a 40-character name; RE2 is linear. The watchdog below is no timing assertion:
# the backtracking engine does not finish this batch within the hour, the linear one in microseconds.
BACKTRACK_PATTERNS = ["*a" * 20 + "b", "**/" * 12 + "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "?*" * 20 + "b"]


def test_backtracking_patterns_are_linear() -> None:
    import subprocess
    import sys

    code = (
        "from cacheinspect.context.patternmatcher import PatternMatcher\n"
        f"for p in {BACKTRACK_PATTERNS!r}:\n"
        "    pm = PatternMatcher([p])\n"
        "    for n in (40, 200, 5000):\n"
        "        assert not pm.matches_or_parent_matches('a' * n)\n"
        "        assert pm.matches_or_parent_matches('a' * n + 'b')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout == "ok\n", out.stderr


def test_go_regexp_syntax_inside_brackets() -> None:
    """Go's regexp syntax inside ``[...]``: POSIX classes and Unicode classes (re rejected both)."""
    assert PatternMatcher(["[[:digit:]]x"]).matches_or_parent_matches("1x")
    assert not PatternMatcher(["[[:digit:]]x"]).matches_or_parent_matches("ax")
    assert PatternMatcher(["[\\pL]"]).matches_or_parent_matches("é")
    assert not PatternMatcher(["[\\pL]"]).matches_or_parent_matches("1")


def test_non_utf8_names_read_as_replacement_characters() -> None:
    """Go reads a non-UTF-8 byte as one U+FFFD rune: ``?`` matches it, a literal does not."""
    name = b"a\xffb".decode("utf-8", "surrogateescape")
    assert PatternMatcher(["a?b"]).matches_or_parent_matches(name)
    assert PatternMatcher(["a*"]).matches_or_parent_matches(name)
    assert not PatternMatcher(["a??b"]).matches_or_parent_matches(name)
