"""Issue 17: a table column is as wide as its widest cell, so one huge value padded every row to it
(an inspect cell of 100,000 characters: 6 MB of table). Cells are elided to MAX_CELL; JSON keeps all."""

from __future__ import annotations

from cacheinspect.render.common import MAX_CELL, elide, table


def test_one_huge_cell_does_not_widen_every_row() -> None:
    huge = "RUN " + "x" * 100_000 + " END"
    rows = [[f"step{i}", "sha256:" + "a" * 64] for i in range(1000)] + [[huge, "b"]]
    for fmt in ("table", "markdown"):
        out = table(rows, ["label", "digest"], fmt)  # type: ignore[arg-type]
        lines = out.splitlines()
        assert len(lines) == 1003  # header, rule, 1001 rows
        assert max(len(line) for line in lines) < MAX_CELL + 100
        big = next(line for line in lines if "RUN x" in line)
        assert "more)…" in big and "x END" in big


def test_elide_keeps_start_end_and_counts_the_rest() -> None:
    s = "a" * 50 + "b" * 1000 + "c" * 50
    e = elide(s)
    assert len(e) <= MAX_CELL
    assert e.startswith("a" * 50) and e.endswith("c" * 40)
    kept = len(e) - len(e[e.index("…") : e.rindex("…") + 1])
    assert f"…({len(s) - kept} more)…" in e
    assert elide("short") == "short"


def test_layout_is_tabulates_simple_and_github_byte_for_byte() -> None:
    """The table layout replaces tabulate on the small-run path (its import scans site-packages): it
    must print exactly what tabulate(..., disable_numparse=True) prints for string cells."""
    import random

    from tabulate import tabulate

    from cacheinspect.render.common import layout

    rng = random.Random(17)
    alphabet = ["a", "bb", " ", "é", "1", "1e5", "-", "|", "sha256:" + "0" * 8, "", "  x  ", "0.50"]
    for _ in range(400):
        ncols = rng.randint(1, 5)
        nh = rng.choice([ncols, ncols, ncols - 1 if ncols > 1 else ncols])
        headers = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3))) for _ in range(nh)]
        if rng.random() < 0.2:
            headers = [""] * nh
        rows = [
            ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4))) for _ in range(ncols)]
            for _ in range(rng.randint(1, 6))
        ]
        for fmt, github in (("simple", False), ("github", True)):
            want = tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)
            assert layout(rows, headers, github=github) == want, (fmt, rows, headers)
