"""The line parser: text → directives + a flat list of :class:`Node` (``frontend/dockerfile/parser``).

This is a port of BuildKit's ``parser/parser.go``, ``parser/directives.go``, ``parser/split_command.go``
and ``parser/line_parsers.go`` (moby/buildkit master; the differences to v0.13 are listed in
docs/dockerfile.md). It stays as dumb as BuildKit's: it does not know flags per instruction, does not
expand variables and accepts unknown instructions; :func:`parse_dockerfile` then runs the checks of
``instructions/parse.go`` so that everything BuildKit rejects before building is rejected here, with
BuildKit's message and a ``file:line``.

Rules worth knowing (all from ``parser.go``):

* Directives (``# syntax=``, ``# escape=``, ``# check=``) are only recognised in the leading block of
  comment lines; the first line that is not ``# key=value`` with a known key — a blank line, another
  comment, an instruction — ends that block. A repeated directive is an error.
* A line whose last non-blank character is the escape token continues on the next line, unless that
  token is itself escaped. Comment lines and blank lines inside a continuation are skipped (blank
  lines give a warning); a continuation at end of file just ends the instruction.
* Comments are whole lines only; ``RUN echo # x`` passes ``# x`` to the shell.
* Heredocs are recognised only for RUN, COPY and ADD (also behind ONBUILD), not in JSON form, and
  the body lines are taken verbatim (no comment stripping, no continuation).
* Flags are the leading ``--words``; quotes and backslashes inside them are removed by a byte-wise
  scanner (so non-ASCII bytes in flags come out as Latin-1 code points, exactly like BuildKit).
"""

from __future__ import annotations

import json
import re

import msgspec

from cacheinspect._lazyre import lazy
from cacheinspect.dockerfile._lex import Lexer, LexError, go_quote
from cacheinspect.dockerfile.model import Dockerfile, DockerfileError, Flag, Heredoc, Node, Warning_

__all__ = ["DIALECTS", "KNOWN_INSTRUCTIONS", "chomp_heredoc", "dump", "parse_heredoc_word", "parse_nodes"]

# Go's RE2 \s is [\t\n\f\r ]; unicode.IsSpace is wider (\v, U+0085, U+00A0 …).
_GO_S = "[\t\n\f\r ]"
_RE_WHITESPACE = lazy("[\t\v\f\r ]+")
# The directive expression of parser.go is ([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$; the key part is
# matched here and the value cut by _directive_value (the lazy value before \s*$ backtracks
# quadratically in Python's re on a value holding a long run of spaces).
_RE_DIRECTIVE_KEY = lazy(rf"([a-zA-Z][a-zA-Z0-9]*){_GO_S}*=")
_GO_S_CHARS = "\t\n\f\r "
_RE_HEREDOC = lazy(rf"([0-9]*)<<(-?){_GO_S}*([^<]*)\Z", re.DOTALL)
_RE_HEREDOC_V013 = lazy(r"([0-9]*)<<(-?)([^<]*)\Z", re.DOTALL)
_RE_LEADING_TABS = lazy(r"^\t+", re.MULTILINE)
_VALID_DIRECTIVES = ("syntax", "escape", "check")
#: the dialects this front end speaks: BuildKit master ("latest") and the v0.13 line that Docker 26
#: embeds (no ``# check=``, no ``<< EOF`` with a space, ``["a"] junk`` still counts as JSON …)
DIALECTS = ("latest", "v0.13")
_HEREDOC_KEYWORDS = ("add", "copy", "run")
_MAX_LINE_BYTES = 64 * 1024  # bufio.MaxScanTokenSize
KNOWN_INSTRUCTIONS = (
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
)


def go_is_space(ch: str) -> bool:
    """``unicode.IsSpace``."""
    return ch in "\t\n\v\f\r \x85\xa0" or (ord(ch) > 0xFF and ch.isspace())


#: ``unicode.IsSpace`` as a character class: Latin-1's spaces plus the White_Space code points above
#: U+00FF (Python's ``str.isspace`` also takes U+001C..U+001F, which Go does not).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_GO_SPACE_CHARS = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
_LEFT_SPACE = lazy(f"[{_GO_SPACE}]+")


def _trim_left_space(s: str) -> str:
    """``strings.TrimLeftFunc(s, unicode.IsSpace)`` (a regex: this runs for every physical line)."""
    m = _LEFT_SPACE.match(s)
    return s[m.end() :] if m else s


def _trim_space(s: str) -> str:
    """``strings.TrimSpace``."""
    # str.rstrip, not a search for "[spaces]+\\Z": that search retries at every space of a long run
    # that does not end the line (quadratic: a 60,000-space comment took over a minute)
    return _trim_left_space(s).rstrip(_GO_SPACE_CHARS)


def _trim_newline(s: str) -> str:
    return s.rstrip("\r\n")


def _is_comment(s: str) -> bool:
    return _trim_left_space(s).startswith("#")


def _is_empty_continuation(s: str) -> bool:
    return _trim_left_space(_trim_newline(s)) == ""


def _directive_value(rest: str) -> str | None:
    """What ``\\s*(.+?)\\s*$`` captures of the text after ``key=`` (None: no match), in linear time:
    the text without its leading and trailing white space, or, when it is all white space, its last
    character (the lazy group must take one)."""
    value = rest.strip(_GO_S_CHARS)
    if value:
        return value
    return rest[-1:] or None


class _Directives:
    """``parser.directives`` + ``DirectiveParser``: the escape token and the leading-comment block."""

    def __init__(self, filename: str, dialect: str = "latest") -> None:
        self.filename = filename
        self.dialect = dialect
        self.escape = "\\"
        self.cont_re = self._continuation_re("\\")
        self.done = False
        self.seen: dict[str, str] = {}

    @staticmethod
    def _continuation_re(tok: str) -> re.Pattern[str]:
        t = re.escape(tok)
        # ([^\\])\\[ \t]*$|^\\[ \t]*$ — "$" is end of text in Go.
        return re.compile(rf"([^{t}]){t}[ \t]*\Z|^{t}[ \t]*\Z", re.DOTALL)

    def possible_directive(self, line: str, lineno: int) -> bool:
        if self.done:
            return False
        if not line.startswith("#"):
            self.done = True
            return False
        body = _trim_left_space(line[1:])
        m = _RE_DIRECTIVE_KEY.match(body)
        value = _directive_value(body[m.end() :]) if m is not None else None
        if m is None or value is None:
            self.done = True
            return False
        key = m.group(1).lower()
        if key not in _VALID_DIRECTIVES or (key == "check" and self.dialect == "v0.13"):
            self.done = True
            return False
        if key in self.seen:
            raise DockerfileError(
                f"only one {key} parser directive can be used", file=self.filename, line=lineno
            )
        self.seen[key] = value
        if key == "escape":
            if value not in ("`", "\\"):
                raise DockerfileError(
                    f"invalid escape token '{value}' does not match ` or \\", file=self.filename, line=lineno
                )
            self.escape = value
            self.cont_re = self._continuation_re(value)
        return True

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        if self.cont_re.search(line):
            return self.cont_re.sub(lambda m: m.group(1) or "", line, count=1), False
        return line, True


class _Piece(msgspec.Struct):
    offset: int  # offset in the logical line
    line: int  # physical line (1-based)
    column: int  # 1-based column of the piece's first char


def _locate(pieces: list[_Piece], offset: int) -> tuple[int, int]:
    cur = pieces[0]
    for p in pieces:
        if p.offset <= offset:
            cur = p
        else:
            break
    return cur.line, cur.column + (offset - cur.offset)


def _shift(pieces: list[_Piece], off: int) -> list[_Piece]:
    """The pieces of the logical line that starts ``off`` characters into this one."""
    out: list[_Piece] = []
    for i, p in enumerate(pieces):
        nxt = pieces[i + 1].offset if i + 1 < len(pieces) else None
        if nxt is not None and nxt <= off:
            continue
        if p.offset <= off:
            out.append(_Piece(0, p.line, p.column + (off - p.offset)))
        else:
            out.append(_Piece(p.offset - off, p.line, p.column))
    return out


def _split_lines(text: str) -> list[str]:
    """``scanLines``: split after each ``\\n``, keeping it; a last line without one is kept too."""
    out: list[str] = []
    start = 0
    while True:
        i = text.find("\n", start)
        if i < 0:
            if start < len(text):
                out.append(text[start:])
            return out
        out.append(text[start : i + 1])
        start = i + 1


def _byte_len(s: str) -> int:
    return len(s.encode("utf-8", "surrogateescape"))


def parse_heredoc_word(word: str, dialect: str = "latest") -> Heredoc | None:
    """``parser.ParseHeredoc``: is this (already split) word a heredoc opener like ``<<-"EOF"``?"""
    m = (_RE_HEREDOC_V013 if dialect == "v0.13" else _RE_HEREDOC).match(word)
    if m is None:
        return None
    fd = int(m.group(1)) if m.group(1) else 0
    chomp = m.group(2) == "-"
    rest = m.group(3)
    if rest == "":
        return None
    lex = Lexer("\\", skip_unset_env=True, dialect=dialect)
    words = lex.process_words(rest, {})
    if len(words) != 1:
        return None
    raw = Lexer("\\", skip_unset_env=True, raw_quotes=True, dialect=dialect).process_words(rest, {})
    if len(raw) != len(words):
        raise LexError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = words[0]
    quotes = name.count("'") + name.count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(name=name, content="", expand=quotes == raw_quotes, chomp=chomp, file_descriptor=fd)


def _heredocs_from_line(line: str, dialect: str) -> list[Heredoc]:
    lex = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True, dialect=dialect)
    try:
        words = lex.process_words(line, {})
    except LexError:
        words = []  # BuildKit ignores this error: no heredocs then
    docs: list[Heredoc] = []
    for w in words:
        h = parse_heredoc_word(w, dialect)
        if h is not None:
            docs.append(h)
    return docs


def chomp_heredoc(content: str) -> str:
    """``parser.ChompHeredocContent``: strip leading tabs of every line (for ``<<-``)."""
    return _RE_LEADING_TABS.sub("", content)


# --------------------------------------------------------------------------------------------------
# split_command.go


_ASCII_SPACES = lazy(r"[\t\n\v\f\r ]*")
_ASCII_WORD = lazy(r"[^\t\n\v\f\r ]*")


def _ascii_flags(line: str, escape: str) -> tuple[str, list[tuple[str, int]]] | None:
    """:func:`_extract_builder_flags` for an ASCII line whose flags hold no quote and no escape
    token (nearly every real one): words are runs of non-spaces, no byte decoding. None: a flag
    needs the byte-exact loop."""
    words: list[tuple[str, int]] = []
    pos = _ASCII_SPACES.match(line).end()  # type: ignore[union-attr]  # * always matches
    while line.startswith("--", pos):
        end = _ASCII_WORD.match(line, pos).end()  # type: ignore[union-attr]
        word = line[pos:end]
        if "'" in word or '"' in word or escape in word:
            return None
        if word == "--":
            return line[end:], words
        words.append((word, pos))
        pos = _ASCII_SPACES.match(line, end).end()  # type: ignore[union-attr]
    return line[pos:], words


def _extract_builder_flags(line: str, escape: str) -> tuple[str, list[tuple[str, int]]]:
    """``extractBuilderFlags``: returns the rest of the line and ``(flag, char offset)`` pairs.

    Works on bytes exactly like BuildKit (``rune(line[pos])``), so every byte ≥ 0x80 becomes the code
    point of the same value, and bytes 0x85/0xA0 count as spaces.
    """
    rest = line.lstrip("\t\n\v\f\r ")
    if not rest.startswith("--") and rest[:1] not in ("\udc85", "\udca0"):
        # no flag: the byte loop below would skip the same ASCII spaces and stop (a raw 0x85/0xA0
        # byte, which it takes for a space, is the only non-ASCII case it would skip further)
        return rest, []
    if line.isascii():
        fast = _ascii_flags(line, escape)
        if fast is not None:
            return fast
    data = line.encode("utf-8", "surrogateescape")
    n = len(data)
    esc = ord(escape)
    words: list[tuple[str, int]] = []
    IN_SPACES, IN_WORD, IN_QUOTE = 0, 1, 2
    phase = IN_SPACES
    word: list[str] = []
    word_start = 0
    quote = 0
    blank_ok = False
    ch = 0

    def char_offset(bpos: int) -> int:
        return len(data[:bpos].decode("utf-8", "surrogateescape"))

    def rest_from(bpos: int) -> str:
        return data[bpos:].decode("utf-8", "surrogateescape")

    pos = 0
    while pos <= n:
        if pos != n:
            ch = data[pos]
        if phase == IN_SPACES:
            if pos == n:
                break
            if go_is_space(chr(ch)):
                pos += 1
                continue
            if ch != ord("-") or pos + 1 == n or data[pos + 1] != ord("-"):
                return rest_from(pos), words
            phase = IN_WORD
            word_start = pos
        if phase in (IN_WORD, IN_QUOTE) and pos == n:
            w = "".join(word)
            if w != "--" and (blank_ok or w):
                words.append((w, char_offset(word_start)))
            break
        if phase == IN_WORD:
            if go_is_space(chr(ch)):
                phase = IN_SPACES
                w = "".join(word)
                if w == "--":
                    return rest_from(pos), words
                if blank_ok or w:
                    words.append((w, char_offset(word_start)))
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in (ord("'"), ord('"')):
                quote = ch
                blank_ok = True
                phase = IN_QUOTE
                pos += 1
                continue
            if ch == esc:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = data[pos]
            word.append(chr(ch))
            pos += 1
            continue
        if phase == IN_QUOTE:
            if ch == quote:
                phase = IN_WORD
                pos += 1
                continue
            if ch == esc:
                if pos + 1 == n:
                    phase = IN_WORD
                    pos += 1
                    continue
                pos += 1
                ch = data[pos]
            word.append(chr(ch))
            pos += 1
    return "", words


# --------------------------------------------------------------------------------------------------
# line_parsers.go


class _NotJSON(Exception):
    pass


class _NotStringArray(Exception):
    pass


def _reject_constant(name: str) -> object:
    raise ValueError(name)


def _fix_surrogates(s: str) -> str:
    # Go's encoding/json replaces invalid UTF-8 and lone surrogate escapes with U+FFFD.
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in s)


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


#: encoding/json's scanner: maxNestingDepth
_JSON_MAX_DEPTH = 10000
_JSON_WS = lazy(r"[ \t\n\r]*")
_JSON_STRING = lazy(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_JSON_SCALAR = lazy(
    r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"'
    r"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null"
)


def _json_value_end(s: str) -> int | None:
    """Where the JSON value at the start of *s* (after white space) ends, or None when it is not valid
    JSON or nests deeper than encoding/json allows. Iterative (an explicit stack), linear in ``len(s)``:
    the fallback for input too deep for Python's recursive decoder."""
    stack: list[str] = []
    i = _JSON_WS.match(s).end()  # type: ignore[union-attr]  # * always matches
    want_value = True
    while True:
        if want_value:
            c = s[i : i + 1]
            if c in ("[", "{"):
                stack.append("]" if c == "[" else "}")
                if len(stack) > _JSON_MAX_DEPTH:
                    return None
                i = _JSON_WS.match(s, i + 1).end()  # type: ignore[union-attr]
                if s.startswith(stack[-1], i):
                    stack.pop()
                    i += 1
                    want_value = False
                elif c == "{":
                    i = _json_key(s, i)
                    if i is None:
                        return None
                continue
            m = _JSON_SCALAR.match(s, i)
            if m is None:
                return None
            i = m.end()
            want_value = False
            continue
        if not stack:
            return i
        i = _JSON_WS.match(s, i).end()  # type: ignore[union-attr]
        c = s[i : i + 1]
        if c == ",":
            i = _JSON_WS.match(s, i + 1).end()  # type: ignore[union-attr]
            if stack[-1] == "}":
                i = _json_key(s, i)
                if i is None:
                    return None
            want_value = True
        elif c == stack[-1]:
            stack.pop()
            i += 1
        else:
            return None


def _json_key(s: str, i: int) -> int | None:
    """After an object's ``"key" :`` (and white space), or None."""
    m = _JSON_STRING.match(s, i)
    if m is None:
        return None
    i = _JSON_WS.match(s, m.end()).end()  # type: ignore[union-attr]
    if not s.startswith(":", i):
        return None
    return _JSON_WS.match(s, i + 1).end()  # type: ignore[union-attr]


def _parse_json(rest: str, dialect: str) -> list[str]:
    rest = _trim_left_space(rest)
    if not rest.startswith("["):
        raise _NotJSON
    try:
        if dialect == "v0.13":
            # json.NewDecoder(...).Decode reads the first value and ignores what follows it
            value = _DECODER.raw_decode(rest)[0]
        else:
            value = _DECODER.decode(rest)
    except ValueError:
        raise _NotJSON from None
    except RecursionError:
        # Python's decoder recurses per level; Go's is iterative and refuses more than 10,000 levels
        # ("exceeded max depth"). Decide as Go would without recursing: invalid or too deep is not
        # JSON (the shell form), valid is an array with a non-string element (it is nested).
        end = _json_value_end(rest)
        if end is None or (dialect != "v0.13" and rest[end:].strip(" \t\n\r")):
            raise _NotJSON from None
        raise _NotStringArray from None
    if not isinstance(value, list):
        raise _NotJSON
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise _NotStringArray
        out.append(_fix_surrogates(item))
    return out


def _parse_words(rest: str, escape: str) -> list[str]:
    """``parseWords``: split on whitespace, keep quotes and escapes (they are processed later)."""
    words: list[str] = []
    IN_SPACES, IN_WORD, IN_QUOTE = 0, 1, 2
    phase = IN_SPACES
    quote = ""
    blank_ok = False
    buf: list[str] = []
    n = len(rest)
    pos = 0
    ch = ""
    while pos <= n:
        if pos != n:
            ch = rest[pos]
        if phase == IN_SPACES:
            if pos == n:
                break
            if go_is_space(ch):
                pos += 1
                continue
            phase = IN_WORD
        if phase in (IN_WORD, IN_QUOTE) and pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        if phase == IN_WORD:
            if go_is_space(ch):
                phase = IN_SPACES
                if blank_ok or buf:
                    words.append("".join(buf))
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = IN_QUOTE
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                buf.append(ch)
                pos += 1
                ch = rest[pos]
            buf.append(ch)
            pos += 1
            continue
        if phase == IN_QUOTE:
            if ch == quote:
                phase = IN_WORD
            if ch == escape and quote != "'":
                if pos + 1 == n:
                    phase = IN_WORD
                    pos += 1
                    continue
                pos += 1
                buf.append(ch)
                ch = rest[pos]
            buf.append(ch)
            pos += 1
    return words


def _split_ws(rest: str) -> list[str]:
    if rest == "":
        return []
    return _RE_WHITESPACE.split(rest)


class _Parsed(msgspec.Struct):
    args: list[str]
    json_form: bool = False
    sub: Node | None = None


class _LineError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _parse_name_val(rest: str, key: str, escape: str) -> list[str]:
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _RE_WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _LineError(f"{key} must have two arguments")
        return [parts[0], parts[1], ""]
    out: list[str] = []
    for w in words:
        if "=" not in w:
            raise _LineError(f"Syntax error - can't find = in {go_quote(w)}. Must be of the form: name=value")
        k, v = w.split("=", 1)
        out += [k, v, "="]
    return out


def _maybe_json(rest: str, dialect: str) -> _Parsed:
    if rest == "":
        return _Parsed([])
    try:
        return _Parsed(_parse_json(rest, dialect), True)
    except _NotStringArray:
        raise _LineError("when using JSON array syntax, arrays must be comprised of strings only") from None
    except _NotJSON:
        return _Parsed([rest])


def _maybe_json_list(rest: str, dialect: str) -> _Parsed:
    try:
        return _Parsed(_parse_json(rest, dialect), True)
    except _NotStringArray:
        raise _LineError("when using JSON array syntax, arrays must be comprised of strings only") from None
    except _NotJSON:
        return _Parsed(_split_ws(rest))


def _health(rest: str, dialect: str) -> _Parsed:
    sep = 0
    while sep < len(rest) and not go_is_space(rest[sep]):
        sep += 1
    nxt = sep
    while nxt < len(rest) and go_is_space(rest[nxt]):
        nxt += 1
    if sep == 0:
        return _Parsed([])
    cmd = _maybe_json(rest[nxt:], dialect)
    return _Parsed([rest[:sep], *cmd.args], cmd.json_form)


# --------------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, filename: str, escape_holder: _Directives) -> None:
        self.filename = filename
        self.d = escape_holder
        self.line_len = 0

    def node_from_line(self, line: str, pieces: list[_Piece], start: int, end: int) -> Node:
        """``newNodeFromLine``: keyword, flags and the keyword's line parser."""
        self.line_len = len(_trim_space(line)) + (len(line) - len(_trim_left_space(line)))
        lead = len(line) - len(_trim_left_space(line))
        trimmed = _trim_space(line)
        parts = _RE_WHITESPACE.split(trimmed, maxsplit=1)
        cmd = parts[0]
        flags: list[Flag] = []
        args = ""
        if len(parts) == 2:
            rest_offset = lead + len(cmd) + (len(trimmed) - len(cmd) - len(parts[1]))
            rest, raw_flags = _extract_builder_flags(parts[1], self.d.escape)
            for text, off in raw_flags:
                fl, fc = _locate(pieces, rest_offset + off)
                if text.startswith("--"):
                    name, eq, value = text[2:].partition("=")
                    flags.append(Flag(name, value if eq else None, fl, fc))
                else:  # cannot happen with BuildKit's scanner, kept for the checker's message
                    flags.append(Flag(text, None, fl, fc))
            args = _trim_space(rest)
        kw_line, kw_col = _locate(pieces, lead)
        try:
            parsed = self._dispatch(cmd.lower(), args, pieces, start, end)
        except _LineError as e:
            raise DockerfileError(e.message, file=self.filename, line=start) from None
        return Node(
            keyword=cmd.upper(),
            line=kw_line,
            end_line=end,
            column=kw_col,
            original=line,
            flags=flags,
            args=parsed.args,
            json_form=parsed.json_form,
            raw_keyword=cmd,
            sub=parsed.sub,
        )

    def _dispatch(self, kw: str, rest: str, pieces: list[_Piece], start: int, end: int) -> _Parsed:
        esc = self.d.escape
        dialect = self.d.dialect
        if kw in ("add", "copy", "volume"):
            return _maybe_json_list(rest, dialect)
        if kw in ("run", "cmd", "entrypoint", "shell"):
            return _maybe_json(rest, dialect)
        if kw == "arg":
            return _Parsed(_parse_words(rest, esc))
        if kw in ("env", "label"):
            return _Parsed(_parse_name_val(rest, "ENV" if kw == "env" else "LABEL", esc))
        if kw in ("expose", "from"):
            return _Parsed(_split_ws(rest))
        if kw == "healthcheck":
            return _health(rest, dialect)
        if kw in ("maintainer", "stopsignal", "user", "workdir"):
            return _Parsed([rest] if rest else [])
        if kw == "onbuild":
            if rest == "":
                return _Parsed([])
            # the trigger is the end of the logical line: locate its flags in the file
            sub = self.node_from_line(rest, _shift(pieces, self.line_len - len(rest)), start, end)
            return _Parsed([sub.raw_keyword, *sub.args], sub.json_form, sub)
        return _Parsed([""])  # parseIgnore; instructions.Parse rejects it


def _can_contain_heredoc(node: Node) -> bool:
    target = node.sub if node.keyword == "ONBUILD" and node.sub is not None else node
    return target.keyword.lower() in _HEREDOC_KEYWORDS and not target.json_form


def parse_nodes(text: str, filename: str, dialect: str = "latest") -> Dockerfile:
    """``parser.Parse``: the AST as a flat list of nodes, plus directives and warnings."""
    d = _Directives(filename, dialect)
    lines = _split_lines(text)
    nodes: list[Node] = []
    warnings: list[Warning_] = []
    comments: list[str] = []
    i = 0
    current = 0
    n = len(lines)

    def check_len(raw: str, lineno: int) -> None:
        if len(raw) * 4 >= _MAX_LINE_BYTES and _byte_len(_trim_newline(raw)) >= _MAX_LINE_BYTES:
            raise DockerfileError(
                f"dockerfile line greater than max allowed size of {_MAX_LINE_BYTES - 1}",
                file=filename,
                line=lineno,
            )

    while i < n:
        raw = lines[i]
        i += 1
        check_len(raw, current + 1)
        if current == 0 and raw.startswith("\ufeff"):
            raw = raw[1:]
        if _is_comment(raw):
            c = _trim_space(_trim_left_space(raw)[1:])
            comments = [] if c == "" else [*comments, c]
        token = _trim_left_space(_trim_newline(raw))
        is_directive = d.possible_directive(token, current + 1)
        if is_directive and comments:
            comments = comments[:-1]
        if _is_comment(token):
            token = ""
        current += 1
        start = current
        lead = len(_trim_newline(raw)) - len(token) if token else 0
        pieces = [_Piece(0, current, lead + 1)]
        line, eol = d.trim_continuation(token)
        if eol and line == "":
            continue
        buf = [line]
        offset = len(line)
        has_empty = False
        while not eol and i < n:
            raw2 = lines[i]
            i += 1
            check_len(raw2, current + 1)
            tok2 = _trim_newline(raw2)
            d.possible_directive(tok2, current + 1)
            if _is_comment(tok2):
                tok2 = ""
            current += 1
            if _is_comment(raw2):
                continue
            if _is_empty_continuation(tok2):
                has_empty = True
                continue
            tok2, eol = d.trim_continuation(tok2)
            pieces.append(_Piece(offset, current, 1))
            buf.append(tok2)
            offset += len(tok2)
        line = "".join(buf)
        if has_empty:
            warnings.append(Warning_("Empty continuation line found in: " + line, current))
        node = _Builder(filename, d).node_from_line(line, pieces, start, current)
        if _can_contain_heredoc(node) and "<<" in line:
            try:
                docs = _heredocs_from_line(line, dialect)
            except LexError as e:
                raise DockerfileError(str(e), file=filename, line=start) from None
            for doc in docs:
                content: list[str] = []
                terminated = False
                while i < n:
                    body = lines[i]
                    i += 1
                    check_len(body, current + 1)
                    current += 1
                    possible = _trim_newline(body)
                    if doc.chomp:
                        possible = possible.lstrip("\t")
                    if possible == doc.name:
                        terminated = True
                        break
                    content.append(body)
                if not terminated:
                    raise DockerfileError("unterminated heredoc", file=filename, line=start)
                doc.content = "".join(content)
                node.heredocs.append(doc)
                if node.sub is not None:
                    node.sub.heredocs.append(doc)
        node.end_line = current
        node.comments = comments
        nodes.append(node)
        comments = []
    if not nodes:
        raise DockerfileError("file with no instructions", file=filename, line=max(current, 1))
    return Dockerfile(
        filename=filename,
        directives=dict(d.seen),
        escape=d.escape,
        nodes=nodes,
        warnings=warnings,
        dialect=dialect,
    )


def _dump_node(node: Node) -> str:
    out = node.raw_keyword.lower()
    if node.flags:
        out += " [" + " ".join(go_quote(f.raw) for f in node.flags) + "]"
    if node.sub is not None:
        return out + " (" + _dump_node(node.sub) + ")"
    for a in node.args:
        out += " " + go_quote(a)
    return out


def dump(df: Dockerfile) -> str:
    """The AST in BuildKit's ``Node.Dump`` format (``(copy ["--from=a"] "x" "y")``, one per line), the
    format of BuildKit's own parser fixtures (``parser/testfiles/*/result``)."""
    return "\n".join("(" + _dump_node(n) + ")" for n in df.nodes)
