"""Shell-word processing and variable expansion, as BuildKit's ``frontend/dockerfile/shell/lex.go``.

BuildKit does not run a shell to expand ``$VAR`` in ``ENV``, ``COPY``, ``WORKDIR`` …: it has its own
small lexer that handles single and double quotes, the escape token (``\\`` or a backtick), ``$VAR``,
``${VAR}`` and the modifiers ``${VAR:-w}`` ``${VAR-w}`` ``${VAR:+w}`` ``${VAR+w}`` ``${VAR:?w}``
``${VAR?w}`` ``${VAR#p}`` ``${VAR##p}`` ``${VAR%p}`` ``${VAR%%p}`` and ``${VAR/p/r}`` ``${VAR//p/r}``.
This module is a faithful port of that lexer (the same state machine, the same error texts), because
the exact result matters: it is what ends up in cache keys.

Go's ``text/scanner`` decodes UTF-8 and turns each invalid byte into U+FFFD; Python text that was
decoded with ``surrogateescape`` carries such bytes as lone surrogates, which :func:`_scan_chars`
maps to U+FFFD the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["LexError", "Lexer", "WordResult", "go_quote"]

_EOF = ""
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class LexError(Exception):
    """An expansion error, with BuildKit's message text."""


@dataclass
class WordResult:
    """The outcome of processing one word: the joined result, the split words, the names used."""

    result: str
    words: list[str]
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


#: Characters process_stop_on does anything with, besides the escape token (surrogateescape'd
#: invalid bytes become U+FFFD).
_ACTIVE = re.compile("[$'\"<\udc80-\udcff]")


def _scan_chars(text: str) -> list[str]:
    # text/scanner yields utf8.RuneError for every invalid byte; surrogateescape'd bytes are
    # U+DC80..U+DCFF here.
    return ["\ufffd" if "\udc80" <= c <= "\udcff" else c for c in text]


def _is_space(ch: str) -> bool:
    # unicode.IsSpace: '\t', '\n', '\v', '\f', '\r', ' ', U+0085, U+00A0 and the Z* space category.
    return ch != "" and ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"


def _is_letter(ch: str) -> bool:
    return ch != "" and ch.isalpha()


def _is_digit(ch: str) -> bool:
    # unicode.IsDigit is the Nd category.
    return ch != "" and ch.isdecimal()


class _Words:
    """``wordsStruct``: splits on unquoted whitespace, keeps quoted/escaped chars raw."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.size = 0  # characters in buf (an empty quoted string adds a part but no character)
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if _is_space(ch) and self.in_word:
            if self.size:
                self.words.append("".join(self.buf))
                self.buf = []
                self.size = 0
                self.in_word = False
        elif not _is_space(ch):
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf.append(ch)
        self.size += len(ch)
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.buf.append(s)
        self.size += len(s)
        self.in_word = True

    def get_words(self) -> list[str]:
        if self.size:
            self.words.append("".join(self.buf))
            self.buf = []
            self.size = 0
            self.in_word = False
        return self.words


class _NoWords(_Words):
    """Stands in for ``_Words`` when only the joined result is wanted (``ProcessWord``)."""

    def add_char(self, ch: str) -> None:
        pass

    def add_raw_char(self, ch: str) -> None:
        pass

    def add_string(self, s: str) -> None:
        pass

    def add_raw_string(self, s: str) -> None:
        pass


class Lexer:
    """``shell.Lex``: configure once (escape token, raw modes), then process words against an env.

    ``env`` lookups go through ``get_env`` so callers can pass BuildKit's key normalisation (on
    Linux keys are case-sensitive; that is all this tool models).
    """

    def __init__(
        self,
        escape_token: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_process_quotes: bool = False,
        skip_unset_env: bool = False,
        dialect: str = "latest",
    ) -> None:
        self.escape_token = escape_token
        self.dialect = dialect
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

    def process_word(self, word: str, env: Mapping[str, str]) -> WordResult:
        """``ProcessWord``/``ProcessWordWithMatches``: expand and unquote, keep inner spaces.

        Most words (paths, image names, flag values) hold nothing the lexer acts on: no ``$``, quote,
        ``<`` (heredoc), escape token or invalid byte. Those come back unchanged without running
        the character loop (the front end's hottest path on big Dockerfiles)."""
        if self.escape_token not in word and not _ACTIVE.search(word):
            return WordResult(word, _NoWords().get_words())
        return _ShellWord(self, word, env, want_words=False).process()

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """``ProcessWords``: expand, then split into words on unquoted whitespace."""
        return _ShellWord(self, word, env).process().words


class _ShellWord:
    def __init__(self, lex: Lexer, source: str, env: Mapping[str, str], *, want_words: bool = True) -> None:
        self.want_words = want_words
        self.lex = lex
        self.source = source
        self.chars = _scan_chars(source)
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    # --- scanner -----------------------------------------------------------------------------
    def peek(self) -> str:
        return self.chars[self.pos] if self.pos < len(self.chars) else _EOF

    def next(self) -> str:
        if self.pos < len(self.chars):
            ch = self.chars[self.pos]
            self.pos += 1
            return ch
        return _EOF

    # --- processing --------------------------------------------------------------------------
    def process(self) -> WordResult:
        try:
            result, words = self.process_stop_on(_EOF, self.raw_escapes)
        except LexError as e:
            raise LexError(f"failed to process {go_quote(self.source)}: {e}") from None
        except RecursionError:
            # BuildKit's recursive-descent lexer has Go's growable stack; Python's has a limit. A
            # word nested this deep (hundreds of ${…}) is refused with a located error, not a crash.
            raise LexError(
                f"failed to process {go_quote(self.source[:60])}…: variable expansion nested too deeply"
            ) from None
        return WordResult(result, words, self.matched, self.unmatched)

    def get_env(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words() if self.want_words else _NoWords()
        funcs: dict[str, Callable[[], str]] = {"$": self.process_dollar}
        if self.lex.dialect != "v0.13":  # "<< EOF" (space before the word) is newer than v0.13
            funcs["<"] = self.process_possible_heredoc
        if not self.lex.skip_process_quotes:
            funcs["'"] = self.process_single_quote
            funcs['"'] = self.process_double_quote
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            while self.peek() != _EOF:
                ch = self.peek()
                if stop != _EOF and ch == stop:
                    self.next()
                    return "".join(result), words.get_words()
                fn = funcs.get(ch)
                if fn is not None:
                    tmp = fn()
                    result.append(tmp)
                    if ch == "$":
                        words.add_string(tmp)
                    else:
                        words.add_raw_string(tmp)
                    continue
                ch = self.next()
                if ch == self.lex.escape_token:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
            if stop != _EOF:
                raise LexError(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.get_words()
        finally:
            self.raw_escapes = saved

    def process_single_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise LexError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def process_double_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            p = self.peek()
            if p == _EOF:
                raise LexError("unexpected end of statement while looking for matching double-quote")
            if p == '"':
                ch = self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if p == "$":
                out.append(self.process_dollar())
                continue
            ch = self.next()
            if ch == self.lex.escape_token:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if nxt == _EOF:
                    continue  # ignore the escape token at the end of the word
                if nxt in ('"', "$", self.lex.escape_token):
                    ch = self.next()
            out.append(ch)

    def process_name(self) -> str:
        name: list[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not name and _is_digit(ch):
                while self.peek() != _EOF and _is_digit(self.peek()):
                    name.append(self.next())
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                return self.next()
            if not _is_letter(ch) and not _is_digit(ch) and ch != "_":
                break
            name.append(self.next())
        return "".join(name)

    def process_dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.process_name()
            if name == "":
                return "$"
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value
        self.next()
        p = self.peek()
        if p == _EOF:
            raise LexError("syntax error: missing '}'")
        if p in "{}:":
            raise LexError("syntax error: bad substitution")
        name = self.process_name()
        ch = self.next()
        chs = ch or "\ufffd"  # Go: string(scanner.EOF) is U+FFFD
        null_is_unset = False
        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch or "\ufffd"
            if ch not in ("+", "-", "?", "#", "%"):
                # Go falls through into the modifier case with this char and then fails in
                # the inner switch; the word is still scanned first.
                return self._modifier(name, ch, chs, null_is_unset)
        if ch in ("+", "-", "?", "#", "%"):
            return self._modifier(name, ch, chs, null_is_unset)
        if ch == "/" and self.lex.dialect != "v0.13":  # ${VAR/p/r} is newer than v0.13
            return self._substitute(name)
        raise LexError(f"unsupported modifier ({chs}) in substitution")

    def _modifier(self, name: str, ch: str, chs: str, null_is_unset: bool) -> str:
        raw = ch in ("#", "%")
        if null_is_unset and raw and self.lex.dialect != "v0.13":
            raise LexError(f"unsupported modifier ({chs}) in substitution")
        try:
            word, _ = self.process_stop_on("}", raw)
        except LexError:
            if self.peek() == _EOF:
                raise LexError("syntax error: missing '}'") from None
            raise
        value, is_set = self.get_env(name)
        if self.lex.skip_unset_env and not is_set:
            return "${" + name + chs + word + "}"
        if ch == "-":
            return word if (not is_set or (null_is_unset and value == "")) else value
        if ch == "+":
            return "" if (not is_set or (null_is_unset and value == "")) else word
        if ch == "?":
            if not is_set:
                raise LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("%", "#"):
            greedy = False
            if word and word[0] == ch:
                greedy = True
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise LexError(f"unsupported modifier ({chs}) in substitution")

    def _substitute(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.process_stop_on("/", True)
        except LexError:
            if self.peek() == _EOF:
                raise LexError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.process_stop_on("}", True)
        except LexError:
            if self.peek() == _EOF:
                raise LexError("syntax error: missing '}'") from None
            raise
        value, is_set = self.get_env(name)
        if self.lex.skip_unset_env and not is_set:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        rx = _shell_pattern_to_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            # Go's ReplaceAllString expands $1 in the replacement; the shell pattern has no groups,
            # so only "$$" → "$" and "${name}"/"$name" → "" matter. Mirror that.
            return rx.sub(lambda _m: _go_expand_replacement(replacement), value)
        m = rx.search(value)
        if m:
            value = value[: m.start()] + replacement + value[m.end() :]
        return value

    def process_possible_heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        space: list[str] = []
        while self.peek() in ("\t", "\r", " ") and self.peek() != _EOF:
            space.append(self.next())
        return "<<" + "".join(space)


def _go_expand_replacement(template: str) -> str:
    # regexp.Expand with no capture groups: "$$" is a literal "$", "$name"/"${name}" expand to "".
    out: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c != "$" or i + 1 >= len(template):
            out.append(c)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        m = re.match(r"\{(\w+)\}|(\w+)", template[i + 1 :])
        if m is None:
            out.append(c)
            i += 1
            continue
        i += 1 + m.end()
    return "".join(out)


def _shell_pattern_to_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """``convertShellPatternToRegex``: ``*`` and ``?`` wildcards, no bracket expressions."""
    out: list[str] = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
            continue
        if tok == "?":
            out.append(".")
            continue
        if tok == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue
            tok = pattern[i] if i < len(pattern) else ""
            i += 1
            if tok not in ("*", "?", "\\"):
                raise LexError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{tok}'")
            out.append(re.escape(tok))
            continue
        out.append(re.escape(tok))
    # Go's "." does not match a newline either: no DOTALL.
    return re.compile("".join(out))


def _trim_prefix(word: str, value: str, greedy: bool) -> str:
    rx = _shell_pattern_to_regex(word, greedy=greedy, anchored=True)
    m = rx.search(value)
    return value[m.end() :] if m else value


def _reverse_pattern(pattern: str) -> str:
    chars = list(pattern)
    out = [""] * len(chars)
    last = len(chars) - 1
    i = 0
    while i <= last:
        tok = chars[i]
        out_idx = last - i
        if tok == "\\" and i != last:
            out[out_idx - 1] = tok
            out[out_idx] = chars[i + 1]
            i += 2
        else:
            out[out_idx] = tok
            i += 1
    return "".join(out)


def _trim_suffix(pattern: str, word: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), word[::-1], greedy)[::-1]


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote`` (``%q``): printable characters kept, the rest escaped; a byte that was
    not UTF-8 (carried as a lone surrogate) is ``\\xNN``."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif "\udc80" <= ch <= "\udcff":
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch == " " or ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)
