"""BuildKit's own shell-lexer tests (``frontend/dockerfile/shell/lex_test.go``) against the port in
``cacheinspect.dockerfile._lex``: its test tables (vendored in ``tests/dockerfile/buildkit``), its
pattern-operator cases, and the bounds this port adds (RE2 matching, expansion caps; issue 17)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cacheinspect.dockerfile import DockerfileError, parse_dockerfile, resolve
from cacheinspect.dockerfile._lex import (
    MAX_TOTAL_CHARS,
    MAX_WORD_CHARS,
    Lexer,
    LexError,
    _reverse_pattern,
    _shell_pattern_to_regex,
    expansion_budget,
)

HERE = Path(__file__).parent / "buildkit"


def _env_var_cases() -> list[tuple[int, str, str]]:
    """``TestShellParser4EnvVars``: ``platform | source | expected`` lines, A and U apply on Linux."""
    cases = []
    for n, raw in enumerate((HERE / "envVarTest").read_text().split("\n"), 1):
        if raw.startswith("#"):
            continue
        line = raw.strip()
        if not line:
            continue
        platform, source, expected = (w.strip() for w in line.split("|"))
        if platform in ("A", "U"):
            cases.append((n, source, expected))
    return cases


@pytest.mark.parametrize(("lineno", "source", "expected"), _env_var_cases())
def test_env_var_table(lineno: int, source: str, expected: str) -> None:
    env = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}
    lex = Lexer("\\")
    if expected == "error":
        with pytest.raises(LexError):
            lex.process_word(source, env)
    else:
        assert lex.process_word(source, env).result == expected, f"envVarTest line {lineno}"


def _words_cases() -> list[tuple[int, str, dict[str, str], list[str]]]:
    """``TestShellParser4Words`` (its normal mode): ``ENV k=v`` lines accumulate, ``word | a,b``."""
    cases = []
    env: dict[str, str] = {}
    for n, line in enumerate((HERE / "wordsTest").read_text().split("\n"), 1):
        if line.startswith("#") or not line:
            continue
        if line.startswith("ENV "):
            k, _, v = line[3:].lstrip(" ").partition("=")
            env[k] = v
            continue
        test, expected = line.split("|")
        cases.append((n, test.strip(), dict(env), expected.lstrip(" ").split(",")))
    return cases


@pytest.mark.parametrize(("lineno", "word", "env", "expected"), _words_cases())
def test_words_table(lineno: int, word: str, env: dict[str, str], expected: list[str]) -> None:
    try:
        result = Lexer("\\").process_words(word, env)
    except LexError:
        result = ["error"]
    assert result == expected, f"wordsTest line {lineno}"


# TestProcessWithMatches: the pattern operators (name: input, env, expected or None for an error)
PATTERN_CASES = [
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO:#}", {}, None),
    ("${FOO:##}", {}, None),
    ("${FOO:%}", {}, None),
    ("${FOO:%%}", {}, None),
    (
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
        "/foo.*/*.txt - /foo..*.txt",
    ),
    (
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
        "/tmp/bar.txt - /bar.txt",
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
        "/foo/b/c.txt - /foo/c.txt",
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT}",
        {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
        "https://google.de",
    ),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
    ("${FOO//ww}", {"FOO": "xxyy"}, None),
    ("${FOO//}", {"FOO": "xxyy"}, None),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO///}", {}, ""),
]


@pytest.mark.parametrize(("word", "env", "expected"), PATTERN_CASES)
def test_pattern_operators(word: str, env: dict[str, str], expected: str | None) -> None:
    lex = Lexer("\\")
    if expected is None:
        with pytest.raises(LexError):
            lex.process_word(word, env)
    else:
        assert lex.process_word(word, env).result == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", "^.*"),
        ("?", "^."),
        ("\\*", "^\\*"),
        ("(()[]{\\}^$.\\*\\?|\\\\", "^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\"),
    ],
)
def test_convert_shell_pattern_to_regex(pattern: str, expected: str) -> None:
    assert _shell_pattern_to_regex(pattern, greedy=True, anchored=True) == expected


@pytest.mark.parametrize("pattern", ["\\", "\\x", "\\\\\\"])
def test_convert_shell_pattern_to_regex_errors(pattern: str) -> None:
    with pytest.raises(LexError, match="invalid escape"):
        _shell_pattern_to_regex(pattern, greedy=True, anchored=True)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("a\\*c", "c\\*a"),
        ("\\\\\\ab", "b\\a\\\\"),
        ("ab\\", "\\ba"),
        ("👽\\🚀🖖", "🖖\\🚀👽"),
        ("\\\\b", "b\\\\"),
    ],
)
def test_reverse_pattern(pattern: str, expected: str) -> None:
    assert _reverse_pattern(pattern) == expected


# -- Go's regexp semantics where Python's re differs ----------------------------------------------------


@pytest.mark.parametrize(
    ("word", "value", "expected"),
    [
        # ReplaceAllString skips an empty match right after a match: ".*" on "abc" is one replacement
        ("${A//*/x}", "abc", "x"),
        ("${A//*/x}", "", "x"),
        # an empty pattern matches between every character (Go: "wwxwwxwwywwyww")
        ("${A//$EMPTY/ww}", "xxyy", "wwxwwxwwywwyww"),
        # the lexer expands $0 / $$ in the replacement itself (unset special parameters) …
        ("${A//b/<$0$$>}", "abc", "a<>c"),
        # … but a value's $ reaches regexp.Expand: $0 is the match, $$ a dollar, other names empty,
        # a $ that starts no reference kept
        ("${A//b/$R0}", "abc", "a<b>c"),
        ("${A//b/$R1}", "abc", "a<b>c"),
        ("${A//b/$R2}", "abc", "a$c"),
        ("${A//b/$R3}", "abc", "a<>c"),
        ("${A//b/$R4}", "abc", "ax$c"),
        ("${A//b/$R5}", "abc", "ac"),
        ("${A/b/$R0}", "abc", "a<$0>c"),  # a single replacement is not expanded (string concatenation)
        # "." does not match a newline
        ("${A##*}", "ab\ncd", "\ncd"),
        ("${A#*}", "ab\ncd", "ab\ncd"),  # non-greedy: the empty prefix
        ("${A%%*}", "ab\ncd", "ab\n"),
    ],
)
def test_go_regexp_semantics(word: str, value: str, expected: str) -> None:
    refs = {"R0": "<$0>", "R1": "<${0}>", "R2": "$$", "R3": "<$1$x${y}>", "R4": "x$", "R5": "$00"}
    assert Lexer("\\").process_word(word, {"A": value, "EMPTY": "", **refs}).result == expected


def test_invalid_bytes_in_a_value_match_like_u_fffd() -> None:
    # Go decodes an invalid byte as U+FFFD (one rune for "?") and keeps the byte in what is not cut
    lex = Lexer("\\")
    assert lex.process_word("${A#?}", {"A": "\udcffb\udcfe"}).result == "b\udcfe"
    assert lex.process_word("${A/b/x}", {"A": "\udcffb\udcfe"}).result == "\udcffx\udcfe"
    assert lex.process_word("${A%?}", {"A": "a\udcff"}).result == "a"


def test_backtracking_patterns_run_in_linear_time() -> None:
    # ${a#*a*a*…*b} against 40 a's: Python's re backtracks for minutes, RE2 answers at once. Run in a
    # child so that a regression fails (timeout) instead of hanging the suite.
    code = (
        "from cacheinspect.dockerfile._lex import Lexer\n"
        "v = {'A': 'a' * 40, 'B': 'a' * 5000}\n"
        "lex = Lexer('\\\\')\n"
        "for op in ('#', '##', '%', '%%', '/', '//'):\n"
        "    w = '${A' + op + '*a' * 30 + 'b' + ('/x}' if '/' in op else '}')\n"
        "    assert lex.process_word(w, v).result == 'a' * 40, op\n"
        "w = '${B//' + '*a' * 2000 + 'b/x}'\n"
        "assert lex.process_word(w, v).result == 'a' * 5000\n"
        "print('ok')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, check=False)
    assert p.stdout == b"ok\n", p.stderr


# -- expansion bounds -------------------------------------------------------------------------------------


def test_doubling_expansion_is_refused_like_a_build_buildkit_cannot_send() -> None:
    lines = ["FROM scratch", "ENV e0=ab"] + [f"ENV e{i}=${{e{i - 1}}}${{e{i - 1}}}" for i in range(1, 64)]
    df = parse_dockerfile("\n".join(lines) + "\n")
    with pytest.raises(DockerfileError) as info:
        resolve(df)
    # e_i holds 2^(i+1) characters: the first line whose value passes the cap fails
    first = next(i for i in range(64) if 2 ** (i + 1) > MAX_WORD_CHARS)
    assert info.value.line == 2 + first
    assert info.value.reason.startswith(
        f'failed to process "${{e{first - 1}}}${{e{first - 1}}}": expansion is longer than'
    )
    assert str(MAX_WORD_CHARS) in info.value.reason


def test_expansions_of_one_dockerfile_share_a_budget() -> None:
    big = "x" * (MAX_WORD_CHARS // 2)
    lex = Lexer("\\")

    def expand_many() -> None:
        for _ in range(MAX_TOTAL_CHARS // len(big) + 1):
            lex.process_word("${BIG}y", {"BIG": big})

    with expansion_budget(), pytest.raises(LexError, match="add up to more than"):
        expand_many()
    # outside a budget (or in a fresh one) the same words are fine
    for _ in range(3):
        assert len(lex.process_word("${BIG}y", {"BIG": big}).result) == len(big) + 1


def test_replace_all_output_is_bounded() -> None:
    # 4,096 matches × a 4,096-character replacement: 16 MiB + ; each piece is small, the sum is not
    with pytest.raises(LexError, match="expansion is longer than"):
        Lexer("\\").process_word("${A//?/$R}", {"A": "a" * 4097, "R": "r" * 4096})
