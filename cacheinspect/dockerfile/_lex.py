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

Two things are bounded here that BuildKit leaves to Go's runtime:

* The shell patterns of ``#`` ``##`` ``%`` ``%%`` ``/`` ``//`` become regular expressions that BuildKit
  runs with Go's ``regexp`` (RE2: linear time). Python's ``re`` backtracks (``${a#*a*a*a…b}`` against
  40 characters ran for minutes), so they run on RE2 itself (the ``google-re2`` package): the same
  syntax, the same leftmost-first semantics, ``.`` not matching a newline, linear time.
* Expansion output. ``ENV e1=${e0}${e0}`` doubles a value per line; 63 lines ask for 2^63 bytes. BuildKit
  has no explicit cap: its frontend builds the string until Go's allocator fails, and a build
  definition holding the result cannot be sent anyway, since BuildKit's gRPC messages are capped at
  16 MiB (``defaults.DefaultMaxRecvMsgSize``/``DefaultMaxSendMsgSize``, containerd's defaults that
  buildkitd, the gateway frontend and the client all set). So one expanded word over
  :data:`MAX_WORD_CHARS` is refused as a build BuildKit cannot run, with a ``failed to process``
  error like BuildKit's own, and the expansions of one front-end run together are capped at
  :data:`MAX_TOTAL_CHARS` (:func:`expansion_budget`).
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from cacheinspect._lazyre import lazy
from cacheinspect._re2 import LARGE, Re2Error, compile_go

__all__ = [
    "MAX_TOTAL_CHARS",
    "MAX_WORD_CHARS",
    "LexError",
    "Lexer",
    "WordResult",
    "expansion_budget",
    "go_quote",
]

#: One expanded word may not be longer than BuildKit's gRPC message cap (16 MiB): the build
#: definition carrying it could not be sent to or from buildkitd.
MAX_WORD_CHARS = 16 << 20
#: All expansions of one :func:`expansion_budget` (one resolve of a Dockerfile) together.
MAX_TOTAL_CHARS = 64 << 20


class _Budget:
    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("expansion_budget", default=None)


@contextlib.contextmanager
def expansion_budget() -> Iterator[None]:
    """Within this block, the results of every word processed count against :data:`MAX_TOTAL_CHARS`
    (``resolve`` opens one per Dockerfile): n lines of ``ENV x=${big}${big}`` each under the word cap
    would otherwise still hold n × 16 MiB."""
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _too_long(source: str) -> LexError:
    short = go_quote(source[:60]) + ("…" if len(source) > 60 else "")
    return LexError(
        f"failed to process {short}: expansion is longer than {MAX_WORD_CHARS} characters, "
        "over BuildKit's 16 MiB gRPC message cap (the build definition could not be sent)"
    )


def _charge(source: str, result: str) -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    budget.used += len(result)
    if budget.used > MAX_TOTAL_CHARS:
        short = go_quote(source[:60]) + ("…" if len(source) > 60 else "")
        raise LexError(
            f"failed to process {short}: the Dockerfile's variable expansions add up to more than "
            f"{MAX_TOTAL_CHARS} characters (cacheinspect's cap; BuildKit's build definition is capped "
            "at 16 MiB)"
        )


_EOF = ""
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class LexError(Exception):
    """An expansion error, with BuildKit's message text."""


class _TooLong(LexError):
    """An expansion past :data:`MAX_WORD_CHARS`; reported once, for the whole word."""


class WordResult(msgspec.Struct, dict=True):
    """The outcome of processing one word: the joined result, the split words, the names used."""

    result: str
    words: list[str]
    matched: set[str] = msgspec.field(default_factory=set)
    unmatched: set[str] = msgspec.field(default_factory=set)


#: Characters process_stop_on does anything with, besides the escape token (surrogateescape'd
#: invalid bytes become U+FFFD).
_ACTIVE = lazy("[$'\"<\udc80-\udcff]")


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
        res = _ShellWord(self, word, env, want_words=False).process()
        _charge(word, res.result)
        return res

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """``ProcessWords``: expand, then split into words on unquoted whitespace."""
        res = _ShellWord(self, word, env).process()
        _charge(word, res.result)
        return res.words


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
        except _TooLong:
            raise _too_long(self.source) from None
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
        size = 0  # characters that came from expansions (the rest is bounded by the source)
        try:
            while self.peek() != _EOF:
                ch = self.peek()
                if stop != _EOF and ch == stop:
                    self.next()
                    return "".join(result), words.get_words()
                fn = funcs.get(ch)
                if fn is not None:
                    tmp = fn()
                    size += len(tmp)
                    if size > MAX_WORD_CHARS:
                        raise _TooLong
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
                if len(out[-1]) > MAX_WORD_CHARS:
                    raise _TooLong
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
        rx = _compile(pattern, greedy=True, anchored=False)
        subject = _Subject(value)
        if replace_all:
            return subject.replace_all(rx, replacement)
        span = subject.search(rx, 0)
        if span is not None:
            value = subject.text(0, span[0]) + replacement + subject.text(span[1], None)
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


_GO_META = frozenset("[]{}.+()|^$")


def _shell_pattern_to_regex(pattern: str, *, greedy: bool, anchored: bool) -> str:
    """``convertShellPatternToRegex``: the Go regular expression for a shell pattern (``*`` and ``?``
    wildcards, ``\\`` escapes, no bracket expressions), as its source text."""
    out: list[str] = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    n = len(pattern)
    while i < n:
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
            continue
        if tok == "?":
            out.append(".")
            continue
        if tok == "\\":
            nxt = pattern[i] if i < n else ""
            if nxt in ("}", "/"):
                continue
            out.append("\\")
            tok = nxt or "\ufffd"  # Go: %c of scanner.EOF prints U+FFFD
            i += 1
            if tok not in ("*", "?", "\\"):
                raise LexError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{tok}'")
        elif tok in _GO_META:
            out.append("\\")
        out.append(tok)
    return "".join(out)


def _compile(pattern: str, *, greedy: bool, anchored: bool) -> Any:
    """The shell pattern compiled by RE2 (Go's engine: same syntax and leftmost-first semantics)."""
    source = _shell_pattern_to_regex(pattern, greedy=greedy, anchored=anchored)
    try:
        # RE2's default 8 MiB refuses patterns of a few 10,000 wildcards
        return compile_go(source, max_mem=LARGE)
    except Re2Error as e:  # only a pattern too large for the memory cap
        raise LexError(f"invalid pattern ({pattern[:60]}) in substitution: {e}") from None


def _rune_width(lead: int) -> int:
    return 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


class _Subject:
    """A value being matched, as the UTF-8 bytes RE2 reads, with offsets mapped back to the text.

    Go matches a string's bytes, decoding an invalid byte as U+FFFD (which ``.`` matches); RE2 does
    not match invalid bytes at all. A value carrying such bytes (lone surrogates here) is matched
    with U+FFFD in their place, and the result is cut from the original text, so the bytes survive
    where Go keeps them."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.starts: list[int] | None = None
        try:
            self.data = value.encode("utf-8")
        except UnicodeEncodeError:
            self.data = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value).encode()
            starts = []
            off = 0
            for c in value:
                starts.append(off)
                off += 3 if "\ud800" <= c <= "\udfff" else len(c.encode())
            self.starts = starts

    def _char(self, off: int) -> int:
        assert self.starts is not None
        return bisect.bisect_left(self.starts, off)

    def text(self, start: int, end: int | None) -> str:
        """The original text between two byte offsets of :attr:`data`."""
        if self.starts is None:
            return self.data[start:end].decode()
        return self.value[self._char(start) : None if end is None else self._char(end)]

    def search(self, rx: Any, pos: int) -> tuple[int, int] | None:
        m = rx.search(self.data, pos)
        return None if m is None else m.span()

    def replace_all(self, rx: Any, template: str) -> str:
        """``regexp.ReplaceAllString``: Go's loop (an empty match right after a match is skipped),
        with ``$`` in the replacement expanded as ``regexp.Expand`` does."""
        data = self.data
        end = len(data)
        out: list[str] = []
        size = 0
        last = 0
        pos = 0
        while pos <= end:
            span = self.search(rx, pos)
            if span is None:
                break
            a, b = span
            out.append(self.text(last, a))
            if b > last or a == 0:
                piece = _go_expand(template, self.text(a, b))
                out.append(piece)
                size += len(piece)
                if size > MAX_WORD_CHARS:
                    raise _TooLong
            last = b
            width = _rune_width(data[pos]) if pos < end else 0
            if pos + width > b:
                pos += width
            elif pos + 1 > b:
                pos += 1
            else:
                pos = b
        out.append(self.text(last, None))
        return "".join(out)


def _go_expand(template: str, match: str) -> str:
    """``regexp.Expand`` for a regular expression without groups: ``$$`` is ``$``, ``$0``/``${0}`` the
    match, any other ``$name``/``${name}`` empty, a ``$`` that starts no reference stays."""
    if "$" not in template:
        return template
    out: list[str] = []
    i = 0
    n = len(template)
    while True:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            return "".join(out)
        out.append(template[i:j])
        i = j + 1
        if template.startswith("$", i):
            out.append("$")
            i += 1
            continue
        brace = template.startswith("{", i)
        k = i + 1 if brace else i
        start = k
        while k < n and (template[k].isalpha() or template[k].isdecimal() or template[k] == "_"):
            k += 1
        name = template[start:k]
        if not name or (brace and not template.startswith("}", k)):
            out.append("$")  # malformed: the $ is raw text
            continue
        i = k + 1 if brace else k
        if name == "0":
            out.append(match)


def _trim_prefix(word: str, value: str, greedy: bool) -> str:
    rx = _compile(word, greedy=greedy, anchored=True)
    subject = _Subject(value)
    span = subject.search(rx, 0)
    return subject.text(span[1], None) if span is not None else value


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
    # Go reverses the value as runes ([]rune(str)): every invalid byte is U+FFFD from here on
    runes = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in word)
    return _trim_prefix(_reverse_pattern(pattern), runes[::-1], greedy)[::-1]


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
