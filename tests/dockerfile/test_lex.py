"""BuildKit's word lexer (``frontend/dockerfile/shell/lex.go``): expansion, quotes, escapes, errors.

Expected values follow the rules in lex.go and the Dockerfile reference ("Environment replacement"):
single quotes are literal, double quotes expand ``$``, the escape token escapes one character
outside quotes and only ``"``, ``$`` and itself inside double quotes.
"""

from __future__ import annotations

import pytest

from cacheinspect.dockerfile._lex import Lexer, LexError

ENV = {"A": "a", "EMPTY": "", "SP": "x y", "PATH_": "/usr/local/bin", "FILE": "archive.tar.gz"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$A", "a"),
        ("${A}", "a"),
        ("$A$A", "aa"),
        ("${A}b", "ab"),
        ("$Ab", ""),  # the name is "Ab": unset
        ("$", "$"),
        ("$1", ""),  # digits make a (positional, unset) name
        ("$-", ""),  # a special parameter, never set here
        ("\\$A", "$A"),
        ("'$A'", "$A"),
        ('"$A"', "a"),
        ('"\\$A"', "$A"),
        ('"\\a"', "\\a"),  # inside "", the escape only escapes " $ and itself
        ("\\a", "a"),
        ("a\\", "a"),  # a trailing escape is dropped
        ('"a b" c', "a b c"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${NOPE-d}", "d"),
        ("${NOPE:-$A}", "a"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${NOPE+alt}", ""),
        ("${FILE#*.}", "tar.gz"),
        ("${FILE##*.}", "gz"),
        ("${FILE%.*}", "archive.tar"),
        ("${FILE%%.*}", "archive"),
        ("${PATH_#/usr}", "/local/bin"),
        ("${FILE/tar/zip}", "archive.zip.gz"),
        ("${FILE//a/_}", "_rchive.t_r.gz"),
        ("${SP}", "x y"),
        ("${NOPE:-'q'}", "q"),
    ],
)
def test_process_word(word: str, expected: str) -> None:
    assert Lexer("\\").process_word(word, ENV).result == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("a b  c", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        ("$SP z", ["x", "y", "z"]),  # expanded values are split on spaces
        ('"$SP" z', ["x y", "z"]),
        ("a\\ b", ["a b"]),
        ("''", []),  # an empty quoted word makes no word (wordsStruct needs a char)
    ],
)
def test_process_words(word: str, expected: list[str]) -> None:
    assert Lexer("\\").process_words(word, ENV) == expected


def test_backtick_escape() -> None:
    lex = Lexer("`")
    assert lex.process_word("`$A", ENV).result == "$A"
    assert lex.process_word("C:\\dir\\$A", ENV).result == "C:\\dir\\a"
    assert lex.process_word('"`"q`""', ENV).result == '"q"'


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${A", "unsupported modifier (\ufffd) in substitution"),  # Go: string(scanner.EOF)
        ("${A:", "syntax error: missing '}'"),
        ("${}", "syntax error: bad substitution"),
        ("${:a}", "syntax error: bad substitution"),
        ("${A:?}", None),
        ("${NOPE:?}", "NOPE: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${NOPE?custom text}", "NOPE: custom text"),
        ("${A!x}", "unsupported modifier (!) in substitution"),
        ("${A:#x}", "unsupported modifier (:#) in substitution"),
        ("'open", "unexpected end of statement while looking for matching single-quote"),
        ('"open', "unexpected end of statement while looking for matching double-quote"),
    ],
)
def test_errors(word: str, message: str | None) -> None:
    lex = Lexer("\\")
    if message is None:
        assert lex.process_word(word, ENV).result == "a"
        return
    with pytest.raises(LexError) as info:
        lex.process_word(word, ENV)
    assert str(info.value) == f'failed to process "{word.replace(chr(34), chr(92) + chr(34))}": {message}'


def test_v013_dialect_has_no_substitution() -> None:
    with pytest.raises(LexError, match=r"unsupported modifier \(/\) in substitution"):
        Lexer("\\", dialect="v0.13").process_word("${FILE/a/b}", ENV)
    # and ${VAR:#x} was accepted (the ':' ignored)
    assert Lexer("\\", dialect="v0.13").process_word("${FILE:#archive}", ENV).result == ".tar.gz"


def test_matches_are_reported() -> None:
    res = Lexer("\\").process_word("$A ${NOPE:-x} ${EMPTY}", ENV)
    assert res.matched == {"A", "EMPTY"}
    assert res.unmatched == {"NOPE"}


def test_skip_unset_keeps_text() -> None:
    lex = Lexer("\\", skip_unset_env=True)
    assert lex.process_word("$NOPE ${NOPE} ${NOPE:-d} $A", ENV).result == "$NOPE ${NOPE} ${NOPE:-d} a"
