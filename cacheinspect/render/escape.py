"""The one escape for text that came from outside (registries, layouts, configs, image history).

A registry error message, a tag in ``index.json``, a step label from image history or a digest string
in a config can hold a newline (forging a second ``error:`` line or table row), a carriage return
(overwriting what the terminal shows), or an ANSI/OSC escape sequence (recolouring, retitling or
hiding output). Every renderer and the CLI's error printer pass such text through :func:`esc`, which
keeps printable text as it is and shows every control character as a visible escape:

* ``\\n`` ``\\r`` ``\\t`` for the usual three, ``\\xNN`` for the other C0 controls and DEL;
* ``\\u0080``..``\\u009f`` (C1 controls: U+009B is a one-character CSI on some terminals), the bidi
  overrides and isolates (U+202A..U+202E, U+2066..U+2069, "Trojan Source") and the line/paragraph
  separators U+2028/U+2029 as ``\\uNNNN``; so are lone surrogates (a non-UTF-8 file-name byte kept as a
  ``surrogateescape`` code point), which no UTF-8 stream could write;
* a backslash is left alone: it is printable, and doubling it would make every Windows path noisy.

JSON output needs no help for C0 (the encoder escapes it); :func:`esc_json` adds the rest.
"""

from __future__ import annotations

import re

from cacheinspect._lazyre import lazy

__all__ = ["esc", "esc_json", "esc_lines"]

_UNSAFE = lazy("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _one(m: re.Match[str]) -> str:
    c = m.group()
    named = _NAMED.get(c)
    if named is not None:
        return named
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x80 else f"\\u{o:04x}"


def esc(text: object) -> str:
    """*text* (any value; ``None`` gives ``""``) as one line of printable characters."""
    if text is None:
        return ""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable():  # the common case, and fast: no control, separator or format character
        return s
    return _UNSAFE.sub(_one, s)


_UNSAFE_LINES = lazy("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def esc_lines(text: str) -> str:
    """A whole rendered text (many lines, tab-separated or laid out) with every character :func:`esc`
    would escape escaped, except the newlines and tabs that make its layout: the last line of defence
    for a renderer that put a value from outside into a table without :func:`esc`."""
    if text.isascii() and text.isprintable():
        return text
    return _UNSAFE_LINES.sub(_one, text)


# In UTF-8 JSON output: DEL, the C1 controls and the characters above, which the encoder leaves raw.
_UNSAFE_JSON = lazy("\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]".encode("latin-1"))


def _one_json(m: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(m.group().decode())


def esc_json(data: bytes) -> bytes:
    """Encoded JSON with DEL, C1 controls, bidi controls and U+2028/9 written as ``\\uNNNN`` escapes.

    The JSON value is unchanged (a JSON string may always escape a character); only what a terminal
    would act on is hidden. A byte-level scan: these byte sequences occur only as those characters in
    valid UTF-8.
    """
    if data.isascii() and b"\x7f" not in data:
        return data
    return _UNSAFE_JSON.sub(_one_json, data)
