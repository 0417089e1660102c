"""Prune filter regexps are Go's (containerd ``filters`` calls ``regexp.Compile``): RE2 syntax, linear matching."""

from __future__ import annotations

import pytest

from cacheinspect.errors import UsageError
from cacheinspect.gc.filters import matches, parse_filters
from cacheinspect.gc.records import CacheRecord


@pytest.mark.parametrize("pattern", ["(?=a)", "(?<=a)b", r"a\Z", r"(a)\1"])
def test_perl_only_syntax_is_refused_as_go_refuses_it(pattern: str) -> None:
    """Lookaround, ``\\Z`` and backreferences: Python's ``re`` accepts them, Go's regexp does not."""
    with pytest.raises(UsageError, match="bad regexp"):
        parse_filters([f"id~={pattern}"])


def test_go_only_syntax_is_accepted_and_matches() -> None:
    r"""``\pL`` (a Unicode class) is Go syntax that Python's ``re`` refuses."""
    items = parse_filters([r"description~=^\pL+ \d"])
    rec = CacheRecord(id="x1", type="regular", description="mount 7")
    assert matches(items, rec)
    assert not matches(items, CacheRecord(id="x2", type="regular", description="7 mount"))


def test_nested_quantifier_against_long_description_is_matched_linearly() -> None:
    """``(a*)*b`` backtracks exponentially in Python's ``re`` on ``a`` * 40; RE2 answers at once (no
    timing asserted: the test would not finish before the fix)."""
    items = parse_filters(["description~=(a*)*b"])
    assert not matches(items, CacheRecord(id="x", type="regular", description="a" * 40))
