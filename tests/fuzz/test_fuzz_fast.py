"""The fast slice of the fuzz suite, run by ``make test`` (the long run is ``make fuzz``).

Same property, same oracle, fewer cases: every generated case goes through the library entry points
(decode, load, graph, report, render, diff, audit), one in 16 through the in-process CLI on an OCI
layout on disk (plus one layout filesystem fault), and a few through a real subprocess.
"""

from __future__ import annotations

from tests.fuzz.run import fuzz

#: About 15 s of CPU (under a minute on a loaded 2-core machine); the long run is 100,000 cases.
FAST_CASES = 400


def test_fuzz_fast_slice() -> None:
    stats = fuzz(FAST_CASES, cli_every=16, sub_every=200, quiet=True)
    assert stats.cases == FAST_CASES
    assert not stats.crashes, stats.crashes[:3]
    assert not stats.hangs, stats.hangs[:3]
    assert not stats.false_pass, stats.false_pass[:3]
    assert not stats.false_fail, stats.false_fail[:3]
    # the generator reaches both sides of the oracle, and every entry point
    assert stats.verdicts["use"] and stats.verdicts["reject"]
    for name in ("decode_config", "load_cache", "build_graph", "diff_report", "audit_source", "cli:audit"):
        assert stats.calls[name], name
