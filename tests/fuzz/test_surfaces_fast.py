"""The fast slice of the surfaces fuzz (issue 17), run by ``make test``; the long run is ``make fuzz``.

Every surface in ``tests/fuzz/surfaces`` gets its share of 240 cases, each run through the CLI in a
forked child under the runner's limits: no exit 70, no hang, no run over 1 GiB, no raw control
character in the output.
"""

from __future__ import annotations

from tests.fuzz.surfaces import control_chars, discover, run_cases

CASES = 240


def test_surfaces_fast_slice() -> None:
    stats = run_cases(CASES, workers=2, seed=17)
    assert set(stats) == set(discover())
    assert sum(st.cases for st in stats.values()) == CASES
    for name, st in stats.items():
        examples = [(r.argv, r.exit_code, r.controls, r.stderr_tail) for r in st.examples]
        assert st.bad == 0, (name, examples)
        assert st.exits, name


def test_control_character_oracle() -> None:
    """The oracle flags exactly the terminal-driving characters the contract names."""
    assert control_chars(b"plain text\twith tab\nand newline") == []
    assert control_chars(b"\x1b[31mred") == ["U+001B"]
    assert control_chars("a\u202eb\u2066c\u009bd\re".encode()) == ["U+000D", "U+009B", "U+202E", "U+2066"]
    assert control_chars(b"\x7f") == ["U+007F"]
    assert control_chars(b"\\u202e escaped is fine") == []
