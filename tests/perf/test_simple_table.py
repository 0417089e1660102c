"""context/report.py renders its tables without importing tabulate when the cells allow it (issue 17:
tabulate's import asks importlib.metadata for its version, ~1 interpreter start of CPU): the text must
be tabulate's own, byte for byte, for every table either way."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tabulate import tabulate

from cacheinspect.context.report import _simple

CELL = st.one_of(
    st.text(alphabet=st.characters(codec="ascii"), max_size=12),
    st.text(max_size=6),  # anything: wide characters, newlines, controls (tabulate's own path)
    st.integers(min_value=-5, max_value=10**6),
    st.sampled_from(["", " a ", "True", "None", "1.5", "sha256:abc", "-", "a|b", "1e3"]),
)


@settings(max_examples=400, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda n: st.tuples(
            st.lists(st.lists(CELL, min_size=n, max_size=n), max_size=6),
            st.lists(
                st.sampled_from(["stage", "line", "x", "in the cache", "verdict"]), min_size=n, max_size=n
            ),
        )
    )
)
def test_the_table_is_tabulates(table: tuple[list[list[Any]], list[str]]) -> None:
    rows, headers = table
    assert _simple(rows, headers) == tabulate(rows, headers=headers, disable_numparse=True)


def test_a_plain_table_does_not_import_tabulate() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom cacheinspect.context.report import _simple\n"
        "_simple([['build', 3, 'COPY a /a', 'miss', 'a changed']], ['stage', 'line', 'instruction', 'verdict', 'cause'])\n"
        "print('tabulate' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        == "False\n"
    )
