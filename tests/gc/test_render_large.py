"""-f json of a large simulation (msgspec path, deletions written from their dataclasses) is byte for byte
the document json.dumps writes from to_json()."""

from __future__ import annotations

import json

from benchmarks.bench_gc import NOW, records
from cacheinspect.gc.policy import Policy, PruneRule
from cacheinspect.gc.render import render_simulation
from cacheinspect.gc.simulate import simulate
from cacheinspect.gc.versions import Semantics


def test_large_json_same_bytes_as_json_dumps() -> None:
    recs = records(5000)
    keep = sum(r.size for r in recs if not r.shared) // 4
    res = simulate(
        recs,
        Policy((PruneRule(reserved_space=keep),), "prune", "t"),
        now_ns=NOW,
        semantics=Semantics((0, 13, 0)),
    )
    assert len(res.rules[0].deleted) > 2000  # past the json.dumps path of render._json
    out = render_simulation(res, "json")
    assert out == json.dumps(res.to_json(), indent=2, ensure_ascii=False) + "\n"
