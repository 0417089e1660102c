"""diff semantics: BuildKit's OR-alternatives matching, and what a second host had to run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cacheinspect.cache.diff import diff_report
from cacheinspect.cache.graph import CacheGraph, build_graph
from cacheinspect.cache.load import load_config_file

FIX = Path(__file__).resolve().parent.parent / "fixtures"


def _d(c: str) -> str:
    return "sha256:" + c * 64


def graph(tmp: Path, name: str, cfg: dict[str, Any]) -> CacheGraph:
    p = tmp / f"{name}.json"
    p.write_text(json.dumps(cfg))
    return build_graph(load_config_file(p))


def base_cfg(manifest_key: str) -> dict[str, Any]:
    # records: 0 = base image manifest key, 1 = ChainID key, 2 = COPY on that base, 3 = next step
    return {
        "layers": [{"blob": _d("a"), "parent": -1}, {"blob": _d("b"), "parent": 0}],
        "records": [
            {"digest": manifest_key},
            {"digest": _d("c")},
            {"digest": _d("2"), "layers": [{"layer": 0}], "inputs": [[{"link": 0}, {"link": 1}]]},
            {"digest": _d("3"), "layers": [{"layer": 1}], "inputs": [[{"link": 2}]]},
        ],
    }


def test_alternatives_are_or_one_shared_base_key_is_a_hit(tmp_path: Path) -> None:
    # Only the manifest key of the base image differs; the ChainID key is shared, so BuildKit hits.
    a = graph(tmp_path, "a", base_cfg(_d("1")))
    b = graph(tmp_path, "b", base_cfg(_d("9")))
    d = diff_report(a, b)
    assert d["divergences"] == []
    assert d["records"]["only_in_b"] == 1  # just the new root
    # with both base keys different it is a base-image change at the first step
    cfg = base_cfg(_d("9"))
    cfg["records"][1]["digest"] = _d("8")
    (div,) = diff_report(a, graph(tmp_path, "b2", cfg))["divergences"]
    assert div["cause"] == "base-image-changed"
    assert [x["record"] for x in div["downstream"]] == [_d("3")]


@pytest.mark.parametrize(
    ("a", "b"), [("threestage-min", "threestage-edit-min"), ("threestage-max", "threestage-edit-max")]
)
def test_reported_runs_equal_the_build_log(a: str, b: str) -> None:
    """B = the rebuild after an edit, from A's cache: every step the log shows as RAN is reported, once."""
    import asyncio

    from cacheinspect.cache.load import load_cache
    from cacheinspect.sources.layout import LayoutSource

    ga = build_graph(asyncio.run(load_cache(LayoutSource(FIX / a))))
    gb = build_graph(asyncio.run(load_cache(LayoutSource(FIX / b))))
    d = diff_report(ga, gb)
    reported = [
        x["record"] for div in d["divergences"] for x in [{"record": div["record"]}, *div["downstream"]]
    ]
    ran = [s for s in json.loads((FIX / b / "case.json").read_text())["steps"] if s["status"] == "RAN"]
    assert len(reported) == len(set(reported)) == len(ran)
    causes = [div["cause"] for div in d["divergences"]]
    assert "context-changed" in causes  # the edited file
    if a.endswith("-min"):  # builder stages had to run: A holds only their keys
        assert causes[0] == "results-missing"


def test_a_cache_against_itself_has_no_difference(tmp_path: Path) -> None:
    import asyncio

    from cacheinspect.cache.load import load_cache
    from cacheinspect.sources.layout import LayoutSource

    g = build_graph(asyncio.run(load_cache(LayoutSource(FIX / "threestage-max"))))
    d = diff_report(g, g)
    assert not d["different"]
    assert d["divergences"] == []
    assert d["records"]["only_in_a"] == d["records"]["only_in_b"] == 0


def test_repeated_records_match_through_one_representative(tmp_path: Path) -> None:
    """A config repeating the same records (the 1M-empty-records case) must not give every record of B
    a set of every twin in A: that was n^2 memory (23 GB at 1M). Twins of one identity hit together."""
    from cacheinspect.cache.diff import match_records

    n = 2000
    recs: list[dict[str, Any]] = [{"digest": _d("1")} for _ in range(n)]
    recs += [{"digest": _d("2"), "inputs": [[{"link": i}]]} for i in range(n)]
    a = graph(tmp_path, "a", {"records": recs})
    b = graph(tmp_path, "b", {"records": recs})
    m = match_records(a, b)
    assert all(len(s) == 1 for s in m)  # one representative of each identity
    assert len({next(iter(s)) for s in m}) == 2  # two identities: the root and the step on it
    report = diff_report(a, b)
    assert report["records"]["only_in_b"] == 0
    assert report["divergences"] == []
    assert report["different"] is False
