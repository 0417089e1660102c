"""Go's path package semantics, from Go's own tests (src/path/path_test.go, match_test.go)."""

from __future__ import annotations

import pytest

from cacheinspect.context._gopath import (
    BadPatternError,
    go_base,
    go_clean,
    go_dir,
    go_join,
    go_match,
    split_wildcards,
)

CLEAN = [
    ("", "."),
    ("abc", "abc"),
    ("abc/def", "abc/def"),
    ("a/b/c", "a/b/c"),
    (".", "."),
    ("..", ".."),
    ("../..", "../.."),
    ("../../abc", "../../abc"),
    ("/abc", "/abc"),
    ("/", "/"),
    ("abc/", "abc"),
    ("abc/def/", "abc/def"),
    ("/abc/", "/abc"),
    ("abc//def//ghi", "abc/def/ghi"),
    ("//abc", "/abc"),
    ("///abc", "/abc"),
    ("//abc//", "/abc"),
    ("abc//", "abc"),
    ("abc/./def", "abc/def"),
    ("/./abc/def", "/abc/def"),
    ("abc/.", "abc"),
    ("abc/def/ghi/../jkl", "abc/def/jkl"),
    ("abc/def/../ghi/../jkl", "abc/jkl"),
    ("abc/def/..", "abc"),
    ("abc/def/../..", "."),
    ("/abc/def/../..", "/"),
    ("abc/def/../../..", ".."),
    ("/abc/def/../../..", "/"),
    ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
    ("abc/./../def", "def"),
    ("abc//./../def", "def"),
    ("abc/../../././../def", "../../def"),
]


@pytest.mark.parametrize(("p", "want"), CLEAN)
def test_clean(p: str, want: str) -> None:
    assert go_clean(p) == want


def test_join_dir_base() -> None:
    assert go_join("a", "b", "c") == "a/b/c"
    assert go_join("a", "", "c") == "a/c"
    assert go_join("", "") == ""
    assert go_join("/", "a/") == "/a"
    assert go_join("/", "../x") == "/x"
    assert go_dir("/a/b") == "/a"
    assert go_dir("a") == "."
    assert go_dir("/") == "/"
    assert go_dir("") == "."
    assert go_base("/a/b/") == "b"
    assert go_base("") == "."
    assert go_base("///") == "/"


MATCH = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("*x", "xxx", True),
]
BAD = ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "a[]", "*[", "a/[", "[*"]


@pytest.mark.parametrize(("pattern", "name", "ok"), MATCH)
def test_match(pattern: str, name: str, ok: bool) -> None:
    assert go_match(pattern, name) is ok


@pytest.mark.parametrize("pattern", BAD)
def test_bad_patterns_error_even_without_a_match(pattern: str) -> None:
    with pytest.raises(BadPatternError):
        go_match(pattern, "x")


def test_split_wildcards() -> None:
    assert split_wildcards("/assets/*.js") == ("/assets", "*.js")
    assert split_wildcards("/*.txt") == ("/", "*.txt")
    assert split_wildcards("/a/b[c]/d") == ("/a", "b[c]/d")
    assert split_wildcards("/a/b") == ("/a/b", "")
