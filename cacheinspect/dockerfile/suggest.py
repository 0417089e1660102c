"""BuildKit's "did you mean X?" (``util/suggest``): shared by the instruction parser and the
``--mount`` parser, which both name the nearest flag, key or value; kept apart so neither imports the
other for it."""

from __future__ import annotations

__all__ = ["suggest"]


def suggest(value: str, options: list[str], case_sensitive: bool = True) -> str:
    """``util/suggest.WrapError``: `` (did you mean X?)`` for the first option at Levenshtein
    distance < 3 (closer ones win), nothing on an exact match. BuildKit iterates a Go map, so its
    pick among equally close options is random; this takes them in the order given."""
    val = value if case_sensitive else value.lower()
    match = ""
    mindist = 3
    for opt in options:
        o = opt if case_sensitive else opt.lower()
        if val == o:
            return ""
        d = _levenshtein(val, o)
        if d < mindist:
            if case_sensitive:
                match = o
            elif value == value.lower():
                match = o.lower()
            elif value == value.upper():
                match = o.upper()
            else:
                match = o
            mindist = d
    return f" (did you mean {match}?)" if match else ""


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
